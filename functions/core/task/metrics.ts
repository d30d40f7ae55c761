/**
 * Classification metrics over a task's K labels, shared by training, calibration and the benchmarks:
 * accuracy and macro-F1 for any K, and precision, recall, F1 and confusion counts on the task's
 * positive label when it has one (the rare class that accuracy hides).
 */
export interface ClassificationMetrics {
  readonly n: number;
  readonly accuracy: number;
  readonly macroF1: number;
  /** Present when the task names a positive label. */
  readonly precision?: number;
  readonly recall?: number;
  readonly f1?: number;
  readonly tp?: number;
  readonly fp?: number;
  readonly tn?: number;
  readonly fn?: number;
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** F1 from counts; 0 when the label is never predicted nor present. */
export function f1Score(tp: number, fp: number, fn: number): number {
  const denominator = 2 * tp + fp + fn;
  return denominator > 0 ? (2 * tp) / denominator : 0;
}

/** Per-label true positives, false positives and false negatives, the sufficient statistics of F1. */
export interface LabelCounts {
  readonly tp: Int32Array;
  readonly fp: Int32Array;
  readonly fn: Int32Array;
}

export function labelCounts(predicted: ArrayLike<number>, truth: ArrayLike<number>, k: number): LabelCounts {
  const counts = { tp: new Int32Array(k), fp: new Int32Array(k), fn: new Int32Array(k) };
  for (let i = 0; i < truth.length; i++) addRow(counts, predicted[i] as number, truth[i] as number, 1);
  return counts;
}

/** Adds (sign 1) or removes (sign -1) one row's prediction from the counts. */
export function addRow(counts: LabelCounts, predicted: number, truth: number, sign: 1 | -1): void {
  if (predicted === truth) {
    counts.tp[truth] = (counts.tp[truth] as number) + sign;
    return;
  }
  counts.fp[predicted] = (counts.fp[predicted] as number) + sign;
  counts.fn[truth] = (counts.fn[truth] as number) + sign;
}

export function macroF1(counts: LabelCounts): number {
  const k = counts.tp.length;
  let sum = 0;
  for (let i = 0; i < k; i++)
    sum += f1Score(counts.tp[i] as number, counts.fp[i] as number, counts.fn[i] as number);
  return k > 0 ? sum / k : 0;
}

/**
 * Metrics of label-index predictions against label-index truth. `positive` is the positive label's
 * index (omit for tasks without one).
 */
export function classificationMetrics(
  predicted: ArrayLike<number>,
  truth: ArrayLike<number>,
  labelCount: number,
  positive?: number,
): ClassificationMetrics {
  const n = truth.length;
  const counts = labelCounts(predicted, truth, labelCount);
  let correct = 0;
  for (let i = 0; i < labelCount; i++) correct += counts.tp[i] as number;
  const base = { n, accuracy: round6(n > 0 ? correct / n : 0), macroF1: round6(macroF1(counts)) };
  if (positive === undefined) return base;
  const tp = counts.tp[positive] as number;
  const fp = counts.fp[positive] as number;
  const fn = counts.fn[positive] as number;
  return {
    ...base,
    precision: round6(tp + fp > 0 ? tp / (tp + fp) : 0),
    recall: round6(tp + fn > 0 ? tp / (tp + fn) : 0),
    f1: round6(f1Score(tp, fp, fn)),
    tp,
    fp,
    tn: n - tp - fp - fn,
    fn,
  };
}

/**
 * Area under the precision-recall curve of `scores` (the positive label's probability) against
 * `positives` (1 = positive), as average precision: the mean of the precision at each positive's
 * rank, tied scores taken together. 0 when there are no positives.
 */
export function prAuc(scores: ArrayLike<number>, positives: ArrayLike<0 | 1 | boolean>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (scores[b] as number) - (scores[a] as number) || a - b,
  );
  let totalPositives = 0;
  for (let i = 0; i < n; i++) if (positives[i]) totalPositives++;
  if (totalPositives === 0) return 0;
  let tp = 0;
  let seen = 0;
  let area = 0;
  for (let at = 0; at < n; ) {
    // All rows tied at this score enter together: a threshold cannot split them.
    const score = scores[order[at] as number] as number;
    let groupPositives = 0;
    while (at < n && scores[order[at] as number] === score) {
      if (positives[order[at] as number]) groupPositives++;
      seen++;
      at++;
    }
    tp += groupPositives;
    area += (groupPositives / totalPositives) * (tp / seen);
  }
  return round6(area);
}
