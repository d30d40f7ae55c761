import * as z from 'zod/mini';

/**
 * What a task takes as one request's input, declared by the task in its manifest:
 * - `text`: a string, inline (`payload.text`) or claim-checked in S3 (`payload.claim`);
 * - `features`: a vector of `length` finite numbers (`payload.features`), e.g. sensor readings.
 */
/** The most numbers one request's `features` may hold (a 64 KB event holds far fewer as JSON anyway). */
export const MAX_FEATURE_COUNT = 8192;

export const taskInputSpecSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('text') }),
  z.object({
    kind: z.literal('features'),
    length: z.int().check(z.minimum(1), z.maximum(MAX_FEATURE_COUNT)),
    /** What each position means, for people and the model card (optional). */
    names: z.optional(z.array(z.string())),
  }),
]);
export type TaskInputSpec = z.infer<typeof taskInputSpecSchema>;

/** One request's input once its claim (if any) is resolved. */
export type TaskInput = { readonly text: string } | { readonly features: readonly number[] };

/**
 * Why an input cannot go to this task's models, in words for a DLQ reason; undefined when it can.
 * Checked before encoding so a request of the wrong shape fails alone, with its reason.
 */
export function inputProblem(input: TaskInput, spec: TaskInputSpec): string | undefined {
  if (spec.kind === 'text') {
    return 'text' in input
      ? undefined
      : 'this task takes text ("text" or "claim"), the request carries "features"';
  }
  if (!('features' in input)) {
    return `this task takes "features" (${spec.length} numbers), the request carries text`;
  }
  if (input.features.length !== spec.length) {
    return `"features" holds ${numbers(input.features.length)}, this task takes exactly ${spec.length}`;
  }
  const bad = input.features.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) return `"features"[${bad}] is ${String(input.features[bad])}, not a finite number`;
  return undefined;
}

/** A stable string of an input, for result-cache keys (the same text or vector is the same input). */
export const inputKey = (input: TaskInput): string =>
  'text' in input ? `t:${input.text}` : `f:${input.features.join(',')}`;

/** "1 number", "3 numbers". */
export const numbers = (n: number): string => `${n} number${n === 1 ? '' : 's'}`;
