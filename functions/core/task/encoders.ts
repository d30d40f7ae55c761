import * as z from 'zod/mini';
import { FEATURE_ALGORITHM, type FeatureSpec, featureFingerprint, makeExtractor } from '../features';
import { numbers, type TaskInput } from './inputs';

/**
 * Encoders turn a batch of task inputs into the tensors a model declares. Each kind fixes which
 * tensors it fills, in the order of the manifest's `inputs`:
 * - `hashed-bag` (text): [ids int32|int64 [N, L], weights float32 [N, L]], the hashed bag of
 *   words of `features.ts`, checked by its fingerprint;
 * - `numeric-vector` (features): [x float32 [N, D]], the input vector's `select`ed positions
 *   (all when absent), standardised as (v - center) / scale.
 * Pure: tensors are plain typed arrays, so this file never loads onnxruntime.
 */

const positiveInt = () => z.int().check(z.positive());

export const hashedBagEncoderSchema = z.object({
  kind: z.literal('hashed-bag'),
  algorithm: z.literal(FEATURE_ALGORITHM),
  vocabSize: z.int().check(z.minimum(2)),
  maxLength: positiveInt(),
  hashSeed: z.int().check(z.nonnegative()),
  wordBigrams: z.boolean(),
  charNgram: z.int().check(z.minimum(0), z.maximum(8)),
  headers: z.array(z.string()),
  maxTokenLength: positiveInt(),
  maxBodyChars: positiveInt(),
  maxHeaderChars: z.int().check(z.nonnegative()),
  /** featureFingerprint(spec) when trained; serving refuses a build whose fingerprint differs. */
  fingerprint: z.string().check(z.regex(/^[0-9a-f]{8}$/)),
});

export const numericVectorEncoderSchema = z
  .object({
    kind: z.literal('numeric-vector'),
    /** The input vector's length (the task's `input.length`). */
    length: positiveInt(),
    /** Positions of the input the model sees, in order; absent: all of them. */
    select: z.optional(z.array(z.int().check(z.nonnegative()))),
    /** Per model feature: subtracted, then divided by `scale` (from the training split). */
    center: z.array(z.number()),
    scale: z.array(z.number().check(z.positive())),
  })
  .check(
    z.refine(
      (e) => {
        const width = e.select?.length ?? e.length;
        return (
          e.center.length === width && e.scale.length === width && (e.select ?? []).every((i) => i < e.length)
        );
      },
      {
        message:
          'numeric-vector: center and scale need one value per selected position, and select must stay inside length',
      },
    ),
  );

export const encoderSchema = z.discriminatedUnion('kind', [
  hashedBagEncoderSchema,
  numericVectorEncoderSchema,
]);
export type EncoderSpec = z.infer<typeof encoderSchema>;
export type HashedBagEncoder = z.infer<typeof hashedBagEncoderSchema>;
export type NumericVectorEncoder = z.infer<typeof numericVectorEncoderSchema>;

export interface TensorDecl {
  readonly name: string;
  readonly dtype: 'float32' | 'int32' | 'int64';
  readonly shape: readonly (string | number)[];
}

export interface TensorFeed {
  readonly name: string;
  readonly dtype: 'float32' | 'int32' | 'int64';
  readonly data: Float32Array | Int32Array | BigInt64Array;
  readonly dims: readonly number[];
}

export interface EncodedBatch {
  /** One feed per declared input, over the accepted rows only. */
  readonly feeds: readonly TensorFeed[];
  /** For each row of the feeds, the index of its input in the batch given. */
  readonly accepted: readonly number[];
  /** Inputs that encode to nothing the model can score, with the reason. */
  readonly rejected: readonly { readonly index: number; readonly reason: string }[];
}

export class EncoderMismatchError extends Error {
  override name = 'EncoderMismatchError';
}

/** The spec `features.ts` takes, from a hashed-bag encoder entry. */
export function featureSpecOf(encoder: HashedBagEncoder): FeatureSpec {
  const { kind: _kind, fingerprint: _fingerprint, ...spec } = encoder;
  return spec;
}

/**
 * Checks that this build computes what the model was trained on and that the declared tensors fit
 * the encoder; the message says what disagrees. Run once when a model loads.
 */
export function checkEncoder(modelName: string, encoder: EncoderSpec, inputs: readonly TensorDecl[]): void {
  const fail = (why: string) => {
    throw new EncoderMismatchError(`model ${modelName}: ${why}`);
  };
  if (encoder.kind === 'hashed-bag') {
    const actual = featureFingerprint(featureSpecOf(encoder));
    if (actual !== encoder.fingerprint) {
      fail(
        `this build's feature extractor computes fingerprint ${actual}, the manifest expects ${encoder.fingerprint}; retrain or deploy the matching code`,
      );
    }
    const [ids, weights, ...rest] = inputs;
    if (!ids || !weights || rest.length > 0)
      fail(`a hashed-bag encoder feeds 2 inputs (ids, weights), the manifest declares ${inputs.length}`);
    if (ids?.dtype === 'float32') fail(`input ${ids.name} (ids) must be int32 or int64, it is float32`);
    if (weights?.dtype !== 'float32') fail(`input ${weights?.name} (weights) must be float32`);
    for (const input of [ids, weights]) {
      if (input && input.shape[1] !== encoder.maxLength) {
        fail(
          `input ${input.name} has shape ${JSON.stringify(input.shape)}, the encoder's rows have L=${encoder.maxLength}`,
        );
      }
    }
    return;
  }
  const [x, ...rest] = inputs;
  const width = encoder.select?.length ?? encoder.length;
  if (!x || rest.length > 0)
    fail(`a numeric-vector encoder feeds 1 input, the manifest declares ${inputs.length}`);
  if (x?.dtype !== 'float32') fail(`input ${x?.name} must be float32`);
  if (x && x.shape.length !== 2)
    fail(`input ${x.name} must be [N, ${width}], it is ${JSON.stringify(x.shape)}`);
  if (x && typeof x.shape[1] === 'number' && x.shape[1] !== width) {
    fail(
      `input ${x.name} has shape ${JSON.stringify(x.shape)}, the encoder produces ${width} values per row`,
    );
  }
}

export interface Encoder {
  encode(inputs: readonly TaskInput[], tensors: readonly TensorDecl[]): EncodedBatch;
  /** An input this encoder accepts, for warming a session up. */
  readonly warmUpInput: TaskInput;
}

export function makeEncoder(spec: EncoderSpec): Encoder {
  return spec.kind === 'hashed-bag' ? hashedBag(spec) : numericVector(spec);
}

function hashedBag(spec: HashedBagEncoder): Encoder {
  const extractor = makeExtractor(featureSpecOf(spec));
  const L = spec.maxLength;
  return {
    warmUpInput: { text: 'warm-up' },
    encode(inputs, tensors) {
      const [idsDecl, weightsDecl] = tensors as [TensorDecl, TensorDecl];
      const ids = new Int32Array(inputs.length * L);
      const weights = new Float32Array(inputs.length * L);
      const accepted: number[] = [];
      const rejected: { index: number; reason: string }[] = [];
      inputs.forEach((input, index) => {
        if (!('text' in input)) {
          rejected.push({ index, reason: 'the hashed-bag encoder takes text, the request carries features' });
          return;
        }
        const row = accepted.length;
        const count = extractor.extractInto(input.text, ids, weights, row * L);
        if (count === 0) {
          // The row stays in the buffers (zeros) and is overwritten by the next accepted input.
          ids.fill(0, row * L, (row + 1) * L);
          weights.fill(0, row * L, (row + 1) * L);
          rejected.push({ index, reason: 'the text encodes to no features (no words the model can read)' });
          return;
        }
        accepted.push(index);
      });
      const n = accepted.length;
      const dims = [n, L];
      const idsData = ids.subarray(0, n * L);
      return {
        accepted,
        rejected,
        feeds: [
          idsDecl.dtype === 'int64'
            ? {
                name: idsDecl.name,
                dtype: 'int64',
                data: BigInt64Array.from(idsData, (v) => BigInt(v)),
                dims,
              }
            : { name: idsDecl.name, dtype: 'int32', data: idsData, dims },
          { name: weightsDecl.name, dtype: 'float32', data: weights.subarray(0, n * L), dims },
        ],
      };
    },
  };
}

function numericVector(spec: NumericVectorEncoder): Encoder {
  const select = spec.select ?? Array.from({ length: spec.length }, (_, i) => i);
  const width = select.length;
  return {
    warmUpInput: { features: Array.from({ length: spec.length }, () => 0) },
    encode(inputs, tensors) {
      const [xDecl] = tensors as [TensorDecl];
      const x = new Float32Array(inputs.length * width);
      const accepted: number[] = [];
      const rejected: { index: number; reason: string }[] = [];
      inputs.forEach((input, index) => {
        if (!('features' in input)) {
          rejected.push({
            index,
            reason: 'the numeric-vector encoder takes "features", the request carries text',
          });
          return;
        }
        const { features } = input;
        if (features.length !== spec.length) {
          rejected.push({
            index,
            reason: `"features" holds ${numbers(features.length)}, the model takes ${spec.length}`,
          });
          return;
        }
        const at = accepted.length * width;
        for (let j = 0; j < width; j++) {
          const v = features[select[j] as number];
          if (typeof v !== 'number' || !Number.isFinite(v)) {
            rejected.push({ index, reason: `"features"[${select[j]}] is ${String(v)}, not a finite number` });
            return;
          }
          x[at + j] = (v - (spec.center[j] as number)) / (spec.scale[j] as number);
        }
        accepted.push(index);
      });
      const n = accepted.length;
      return {
        accepted,
        rejected,
        feeds: [{ name: xDecl.name, dtype: 'float32', data: x.subarray(0, n * width), dims: [n, width] }],
      };
    },
  };
}
