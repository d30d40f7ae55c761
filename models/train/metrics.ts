import { type Metrics, tier1Confident } from '../../functions/core/manifest';

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** Spam is the positive class; a score >= 0.5 predicts spam. */
export function binaryMetrics(predicted: ArrayLike<0 | 1>, labels: ArrayLike<0 | 1>): Metrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = predicted[i];
    if (labels[i] === 1) p === 1 ? tp++ : fn++;
    else p === 1 ? fp++ : tn++;
  }
  const n = labels.length;
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return {
    n,
    accuracy: round6(n > 0 ? (tp + tn) / n : 0),
    precision: round6(precision),
    recall: round6(recall),
    f1: round6(f1),
    tp,
    fp,
    tn,
    fn,
  };
}

export const decide = (scores: ArrayLike<number>): (0 | 1)[] => Array.from(scores, (p) => (p >= 0.5 ? 1 : 0));

export interface CascadeOutcome {
  predicted: (0 | 1)[];
  escalated: number;
  escalationRate: number;
}

/** Tier 1 answers when confident, tier 2 answers the rest. */
export function runCascade(
  tier1: ArrayLike<number>,
  tier2: ArrayLike<number>,
  threshold: number,
): CascadeOutcome {
  const predicted: (0 | 1)[] = [];
  let escalated = 0;
  for (let i = 0; i < tier1.length; i++) {
    const p1 = tier1[i] ?? 0;
    if (tier1Confident(p1, threshold)) {
      predicted.push(p1 >= 0.5 ? 1 : 0);
    } else {
      escalated++;
      predicted.push((tier2[i] ?? 0) >= 0.5 ? 1 : 0);
    }
  }
  return { predicted, escalated, escalationRate: round6(tier1.length > 0 ? escalated / tier1.length : 0) };
}

/**
 * The smallest escalation rate whose cascade accuracy is within maxLoss of tier 2 alone. Tier 1's
 * confidences are sorted; escalating the k least confident puts the threshold halfway between the
 * k-th and (k+1)-th, away from any validation point. k = n (escalate all) always qualifies.
 */
export function calibrateThreshold(
  tier1: ArrayLike<number>,
  tier2: ArrayLike<number>,
  labels: ArrayLike<0 | 1>,
  maxLoss: number,
): number {
  const n = labels.length;
  const tier2Correct = Array.from(labels, (y, i) => ((tier2[i] ?? 0) >= 0.5 ? 1 : 0) === y);
  const tier1Correct = Array.from(labels, (y, i) => ((tier1[i] ?? 0) >= 0.5 ? 1 : 0) === y);
  const target = tier2Correct.filter(Boolean).length / n - maxLoss;
  const confidence = Array.from(tier1, (p) => Math.max(p, 1 - p));
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (confidence[a] ?? 0) - (confidence[b] ?? 0) || a - b,
  );
  // correct(k) = tier 2 right on the k escalated + tier 1 right on the rest.
  let correct = tier1Correct.filter(Boolean).length;
  for (let k = 0; k <= n; k++) {
    const lower = k === 0 ? 0.5 : (confidence[order[k - 1] ?? 0] ?? 0.5);
    const upper = k === n ? 1 : (confidence[order[k] ?? 0] ?? 1);
    // Ties cannot be split by a threshold: only accept k where the next confidence is strictly higher.
    if (correct / n >= target - 1e-12 && (k === n || upper > lower || k === 0)) {
      return k === 0 ? 0.5 : k === n ? 1 : (lower + upper) / 2;
    }
    const i = order[k];
    if (i !== undefined) correct += (tier2Correct[i] ? 1 : 0) - (tier1Correct[i] ? 1 : 0);
  }
  return 1;
}
