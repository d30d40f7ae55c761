import * as z from 'zod/mini';

/**
 * What a model's output tensor means, so one decoder turns every model's output into the
 * probability of each of the task's K labels (row-major [N, K], in the task's label order):
 * - `sigmoid-binary`: [N] or [N, 1], the probability of the second label (K = 2 only);
 * - `probabilities`: [N, K], already a distribution over the labels (a softmax inside the graph);
 * - `logits`: [N, K], unnormalised; a softmax is applied here.
 */
export const OUTPUT_KINDS = ['sigmoid-binary', 'probabilities', 'logits'] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];
export const outputKindSchema = z.enum(OUTPUT_KINDS);

export class OutputDecodeError extends Error {
  override name = 'OutputDecodeError';
}

/** Probabilities further than this from summing to 1 mean the output is not what the manifest says. */
const DISTRIBUTION_TOLERANCE = 1e-3;

/**
 * Decodes a batch's raw output into [N, K] probabilities. Throws when the output's length does not
 * fit the kind (the model and its manifest disagree, which no row can be scored through). A row
 * whose values are not finite, or whose `probabilities` do not sum to 1, decodes to NaN: the caller
 * turns it into a failed outcome for that request alone.
 */
export function decodeProbabilities(
  raw: ArrayLike<number>,
  kind: OutputKind,
  batchSize: number,
  labelCount: number,
): Float32Array {
  if (kind === 'sigmoid-binary' && labelCount !== 2) {
    throw new OutputDecodeError(
      `output kind sigmoid-binary needs exactly 2 labels, the task has ${labelCount}`,
    );
  }
  const perRow = kind === 'sigmoid-binary' ? 1 : labelCount;
  if (raw.length !== batchSize * perRow) {
    throw new OutputDecodeError(
      `output kind ${kind} over ${labelCount} labels needs ${batchSize * perRow} values for a batch of ${batchSize}, the model returned ${raw.length}`,
    );
  }
  const out = new Float32Array(batchSize * labelCount);
  for (let row = 0; row < batchSize; row++) {
    const at = row * labelCount;
    if (kind === 'sigmoid-binary') {
      const p = raw[row] as number;
      const valid = Number.isFinite(p) && p >= 0 && p <= 1;
      out[at] = valid ? 1 - p : Number.NaN;
      out[at + 1] = valid ? p : Number.NaN;
      continue;
    }
    if (kind === 'logits') {
      softmaxInto(raw, row * labelCount, labelCount, out, at);
      continue;
    }
    let sum = 0;
    let valid = true;
    for (let k = 0; k < labelCount; k++) {
      const p = raw[at + k] as number;
      if (!(Number.isFinite(p) && p >= 0 && p <= 1)) valid = false;
      sum += p;
    }
    valid &&= Math.abs(sum - 1) <= DISTRIBUTION_TOLERANCE;
    for (let k = 0; k < labelCount; k++) out[at + k] = valid ? (raw[at + k] as number) : Number.NaN;
  }
  return out;
}

function softmaxInto(raw: ArrayLike<number>, from: number, k: number, out: Float32Array, at: number): void {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < k; i++) max = Math.max(max, raw[from + i] as number);
  if (!Number.isFinite(max)) {
    out.fill(Number.NaN, at, at + k);
    return;
  }
  let sum = 0;
  for (let i = 0; i < k; i++) sum += Math.exp((raw[from + i] as number) - max);
  for (let i = 0; i < k; i++) out[at + i] = Math.exp((raw[from + i] as number) - max) / sum;
  if (!Number.isFinite(sum)) out.fill(Number.NaN, at, at + k);
}
