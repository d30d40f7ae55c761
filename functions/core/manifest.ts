import { z } from 'zod';
import { FEATURE_ALGORITHM } from './features';

/**
 * `models/manifest.json`: what serving needs to load, verify and feed each ONNX model, and the
 * measured metrics behind the cascade threshold. Written by `npm run models:train`.
 */
export const MANIFEST_SCHEMA_VERSION = 1;

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256');

const dimSchema = z.union([z.string().min(1), z.number().int().positive()]);

export const tensorInfoSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(['float32', 'int32', 'int64']),
  /** Named dimensions (e.g. "N") are dynamic. */
  shape: z.array(dimSchema),
});

export const featureSpecSchema = z.object({
  algorithm: z.literal(FEATURE_ALGORITHM),
  vocabSize: z.number().int().min(2),
  maxLength: z.number().int().positive(),
  hashSeed: z.number().int().nonnegative(),
  wordBigrams: z.boolean(),
  charNgram: z.number().int().min(0).max(8),
  headers: z.array(z.string()),
  maxTokenLength: z.number().int().positive(),
  maxBodyChars: z.number().int().positive(),
  maxHeaderChars: z.number().int().nonnegative(),
});

export const metricsSchema = z.object({
  n: z.number().int().nonnegative(),
  accuracy: z.number().min(0).max(1),
  precision: z.number().min(0).max(1),
  recall: z.number().min(0).max(1),
  f1: z.number().min(0).max(1),
  tp: z.number().int().nonnegative(),
  fp: z.number().int().nonnegative(),
  tn: z.number().int().nonnegative(),
  fn: z.number().int().nonnegative(),
});

export const modelEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  tier: z.number().int().positive(),
  /** Relative to the models directory. */
  file: z.string().regex(/^[\w.-]+\.onnx$/),
  sha256: sha256Schema,
  bytes: z.number().int().positive(),
  opset: z.number().int().min(13),
  precision: z.enum(['float32', 'int8']),
  inputs: z.tuple([tensorInfoSchema, tensorInfoSchema]),
  /**
   * `spam-probability`: output [N] of P(spam). `class-probabilities`: output [N, 2] in `labels` order.
   */
  output: tensorInfoSchema.extend({ kind: z.enum(['spam-probability', 'class-probabilities']) }),
  labels: z.tuple([z.literal('ham'), z.literal('spam')]),
  features: featureSpecSchema.extend({
    /** featureFingerprint(spec) when trained; serving refuses a build whose fingerprint differs. */
    fingerprint: z.string().regex(/^[0-9a-f]{8}$/),
  }),
  metrics: z.object({ validation: metricsSchema, test: metricsSchema }),
});

export const cascadeSchema = z.object({
  tier1: z.string(),
  tier2: z.string(),
  /** Tier 1 decides when max(p, 1 - p) >= threshold; otherwise the event escalates to tier 2. */
  threshold: z.number().min(0.5).max(1),
  /** The largest validation accuracy loss against tier 2 alone the calibration accepted. */
  maxAccuracyLoss: z.number().min(0),
  escalationRate: z.object({ validation: z.number().min(0).max(1), test: z.number().min(0).max(1) }),
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
        counts: z.object({ train: z.number().int(), validation: z.number().int(), test: z.number().int() }),
      }),
    }),
    training: z.object({ framework: z.string(), backend: z.string(), seed: z.number().int() }),
    models: z.array(modelEntrySchema).min(1),
    cascades: z.array(cascadeSchema),
  })
  .superRefine((manifest, ctx) => {
    const names = new Set(manifest.models.map((m) => m.name));
    if (names.size !== manifest.models.length)
      ctx.addIssue({ code: 'custom', message: 'duplicate model names' });
    manifest.cascades.forEach((cascade, i) => {
      for (const ref of [cascade.tier1, cascade.tier2]) {
        if (!names.has(ref)) {
          ctx.addIssue({ code: 'custom', path: ['cascades', i], message: `unknown model ${ref}` });
        }
      }
    });
  });

export type TensorInfo = z.infer<typeof tensorInfoSchema>;
export type Metrics = z.infer<typeof metricsSchema>;
export type ModelEntry = z.infer<typeof modelEntrySchema>;
export type CascadeEntry = z.infer<typeof cascadeSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

/** The cascade rule, in one place: tier 1's answer stands when it is confident enough. */
export function tier1Confident(spamProbability: number, threshold: number): boolean {
  return Math.max(spamProbability, 1 - spamProbability) >= threshold;
}
