/**
 * The cascade rule, in one place for every caller (serving, replay, cost, calibration, training):
 * a tier's answer is the most probable label; its confidence is that label's probability; a tier
 * that is not the last escalates when its confidence is below the threshold. With K labels the
 * confidence is at least 1/K, so thresholds live in [1/K, 1]; 1/K escalates nothing, 1 everything
 * but certainties.
 */
export interface Decision {
  readonly label: string;
  readonly labelIndex: number;
  /** The probability of `label`: the tier's confidence in its answer. */
  readonly score: number;
  readonly escalate: boolean;
}

export class DecisionError extends Error {
  override name = 'DecisionError';
}

/** The smallest meaningful threshold for K labels. */
export const minThreshold = (labelCount: number): number => 1 / labelCount;

/** Whether `threshold` is a valid cascade threshold for K labels: a number in [1/K, 1]. */
export function isValidThreshold(threshold: number, labelCount: number): boolean {
  // A hair of slack below 1/K so 1/3 written as 0.3333 stays valid.
  return Number.isFinite(threshold) && threshold >= minThreshold(labelCount) - 1e-4 && threshold <= 1;
}

/**
 * Decides one row of [N, K] probabilities (`row` indexes N). Ties go to the earlier label. Throws
 * on a row that is not a distribution (NaN from the decoder): the caller fails that request.
 */
export function decide(
  probabilities: ArrayLike<number>,
  row: number,
  labels: readonly string[],
  threshold: number,
  lastTier: boolean,
): Decision {
  const k = labels.length;
  let best = 0;
  let score = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < k; i++) {
    const p = probabilities[row * k + i] as number;
    if (!Number.isFinite(p)) {
      throw new DecisionError(`row ${row}: the model's output is not a probability distribution (${p})`);
    }
    if (p > score) {
      score = p;
      best = i;
    }
  }
  return { label: labels[best] as string, labelIndex: best, score, escalate: !lastTier && score < threshold };
}

/** One row's probabilities as `{label: p}`, rounded for events and the archive. */
export function probabilitiesByLabel(
  probabilities: ArrayLike<number>,
  row: number,
  labels: readonly string[],
  digits = 6,
): Record<string, number> {
  const scale = 10 ** digits;
  const out: Record<string, number> = {};
  labels.forEach((label, i) => {
    out[label] = Math.round((probabilities[row * labels.length + i] as number) * scale) / scale;
  });
  return out;
}
