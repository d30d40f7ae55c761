import * as z from 'zod/mini';
import { FEATURE_ALGORITHM } from './features';

/**
 * `models/manifest.json`: what serving needs to load, verify and feed each ONNX model, and the
 * measured metrics behind the cascade threshold. Written by `npm run models:train`.
 */
export const MANIFEST_SCHEMA_VERSION = 1;

// zod/mini keeps the handler bundles small; the checks are the same as the classic API's.
const str = (min = 0) => z.string().check(z.minLength(min));
const int = () => z.int();
const nonNegativeInt = () => z.int().check(z.nonnegative());
const positiveInt = () => z.int().check(z.positive());
const unit = () => z.number().check(z.minimum(0), z.maximum(1));

const sha256Schema = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256'));

const dimSchema = z.union([str(1), positiveInt()]);

export const tensorInfoSchema = z.object({
  name: str(1),
  dtype: z.enum(['float32', 'int32', 'int64']),
  /** Named dimensions (e.g. "N") are dynamic. */
  shape: z.array(dimSchema),
});

export const featureSpecSchema = z.object({
  algorithm: z.literal(FEATURE_ALGORITHM),
  vocabSize: z.int().check(z.minimum(2)),
  maxLength: positiveInt(),
  hashSeed: nonNegativeInt(),
  wordBigrams: z.boolean(),
  charNgram: z.int().check(z.minimum(0), z.maximum(8)),
  headers: z.array(z.string()),
  maxTokenLength: positiveInt(),
  maxBodyChars: positiveInt(),
  maxHeaderChars: nonNegativeInt(),
});

export const metricsSchema = z.object({
  n: nonNegativeInt(),
  accuracy: unit(),
  precision: unit(),
  recall: unit(),
  f1: unit(),
  tp: nonNegativeInt(),
  fp: nonNegativeInt(),
  tn: nonNegativeInt(),
  fn: nonNegativeInt(),
});

export const modelEntrySchema = z.object({
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9-]*$/)),
  tier: positiveInt(),
  /** Relative to the models directory. */
  file: z.string().check(z.regex(/^[\w.-]+\.onnx$/)),
  sha256: sha256Schema,
  bytes: positiveInt(),
  opset: z.int().check(z.minimum(13)),
  precision: z.enum(['float32', 'int8']),
  inputs: z.tuple([tensorInfoSchema, tensorInfoSchema]),
  /**
   * `spam-probability`: output [N] of P(spam). `class-probabilities`: output [N, 2] in `labels` order.
   */
  output: z.extend(tensorInfoSchema, { kind: z.enum(['spam-probability', 'class-probabilities']) }),
  labels: z.tuple([z.literal('ham'), z.literal('spam')]),
  features: z.extend(featureSpecSchema, {
    /** featureFingerprint(spec) when trained; serving refuses a build whose fingerprint differs. */
    fingerprint: z.string().check(z.regex(/^[0-9a-f]{8}$/)),
  }),
  metrics: z.object({ validation: metricsSchema, test: metricsSchema }),
});

export const cascadeSchema = z.object({
  tier1: z.string(),
  tier2: z.string(),
  /** Tier 1 decides when max(p, 1 - p) >= threshold; otherwise the event escalates to tier 2. */
  threshold: z.number().check(z.minimum(0.5), z.maximum(1)),
  /** The largest validation accuracy loss against tier 2 alone the calibration accepted. */
  maxAccuracyLoss: z.number().check(z.minimum(0)),
  escalationRate: z.object({ validation: unit(), test: unit() }),
  metrics: z.object({ validation: metricsSchema, test: metricsSchema }),
});

export const manifestSchema = z
  .object({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    task: z.string(),
    dataset: z.object({
      name: z.string(),
      split: z.object({
        method: z.string(),
        counts: z.object({ train: int(), validation: int(), test: int() }),
      }),
    }),
    training: z.object({ framework: z.string(), backend: z.string(), seed: int() }),
    models: z.array(modelEntrySchema).check(z.minLength(1)),
    cascades: z.array(cascadeSchema),
  })
  .check(
    z.superRefine((manifest, ctx) => {
      const names = new Set(manifest.models.map((m) => m.name));
      if (names.size !== manifest.models.length) {
        ctx.addIssue({ code: 'custom', message: 'duplicate model names', input: manifest.models });
      }
      manifest.cascades.forEach((cascade, i) => {
        for (const ref of [cascade.tier1, cascade.tier2]) {
          if (!names.has(ref)) {
            ctx.addIssue({
              code: 'custom',
              path: ['cascades', i],
              message: `unknown model ${ref}`,
              input: ref,
            });
          }
        }
      });
    }),
  );

export type TensorInfo = z.infer<typeof tensorInfoSchema>;
export type Metrics = z.infer<typeof metricsSchema>;
export type ModelEntry = z.infer<typeof modelEntrySchema>;
export type CascadeEntry = z.infer<typeof cascadeSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

/** The cascade rule, in one place: tier 1's answer stands when it is confident enough. */
export function tier1Confident(spamProbability: number, threshold: number): boolean {
  return Math.max(spamProbability, 1 - spamProbability) >= threshold;
}
