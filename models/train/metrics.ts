import type { MetricSet } from '../../functions/core/manifest';
import { decide } from '../../functions/core/task/decide';
import { classificationMetrics, prAuc } from '../../functions/core/task/metrics';

/**
 * A model's metrics on one split, for any task: accuracy and macro-F1 over the K labels, and for a
 * task with a positive label its precision, recall, F1, confusion counts and PR-AUC (the measures
 * that mean something for a rare class). Predictions follow `decide`: the most probable label.
 */
export function modelMetrics(
  probabilities: ArrayLike<number>,
  truth: ArrayLike<number>,
  labels: readonly string[],
  positiveLabel?: string,
): MetricSet {
  const k = labels.length;
  const predicted = Int32Array.from(
    { length: truth.length },
    (_, row) => decide(probabilities, row, labels, 1, true).labelIndex,
  );
  const positive = positiveLabel === undefined ? undefined : labels.indexOf(positiveLabel);
  if (positive !== undefined && positive < 0)
    throw new Error(`positive label ${positiveLabel} is not one of ${labels.join(', ')}`);
  const metrics: MetricSet = { ...classificationMetrics(predicted, truth, k, positive) };
  if (positive !== undefined) {
    const scores = Float32Array.from(
      { length: truth.length },
      (_, row) => probabilities[row * k + positive] as number,
    );
    metrics.prAuc = prAuc(
      scores,
      Uint8Array.from(truth, (y) => (y === positive ? 1 : 0)) as ArrayLike<0 | 1>,
    );
  }
  return metrics;
}
