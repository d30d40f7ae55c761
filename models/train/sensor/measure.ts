import type { MetricSet } from '../../../functions/core/manifest';
import type { Calibration, CurvePoint } from '../../../functions/core/task/calibrate';
import { decide } from '../../../functions/core/task/decide';
import { classificationMetrics, prAuc } from '../../../functions/core/task/metrics';

/**
 * The sensor task's metrics of [N, 2] probabilities (normal, anomaly) against the true label
 * indexes: confusion counts, precision, recall and F1 on "anomaly", PR-AUC of P(anomaly), and
 * accuracy (which means little at 0.8% anomalies). Training writes them; the tests recompute them.
 */
export function sensorMetrics(
  probabilities: ArrayLike<number>,
  truth: ArrayLike<number>,
  labels: readonly string[],
  positive: number,
): MetricSet {
  const n = truth.length;
  const k = labels.length;
  const predicted = Int32Array.from(
    { length: n },
    (_, row) => decide(probabilities, row, labels, 1, true).labelIndex,
  );
  const scores = Float64Array.from({ length: n }, (_, row) => probabilities[row * k + positive] as number);
  const positives = Array.from({ length: n }, (_, row) => truth[row] === positive);
  const { macroF1: _macroF1, ...metrics } = classificationMetrics(predicted, truth, k, positive);
  return { ...metrics, prAuc: prAuc(scores, positives) } as MetricSet;
}

/**
 * The probabilities a two-tier cascade answers with, per row: tier 1's where `answeredBy` is 0,
 * else tier 2's (for the cascade's PR-AUC).
 */
export function cascadeProbabilities(
  tiers: readonly [ArrayLike<number>, ArrayLike<number>],
  answeredBy: ArrayLike<number>,
  k: number,
): Float32Array {
  const out = new Float32Array(answeredBy.length * k);
  for (let row = 0; row < answeredBy.length; row++) {
    const source = tiers[answeredBy[row] === 0 ? 0 : 1];
    for (let i = 0; i < k; i++) out[row * k + i] = source[row * k + i] as number;
  }
  return out;
}

export const F1_OBJECTIVE =
  'cheapest threshold (lowest escalation) whose cascade F1 on "anomaly" is at least tier 2 alone, on validation';

/**
 * The default objective with F1 on the positive label in place of accuracy (at 0.8%
 * positives accuracy hardly moves): the first point of the tier-1 curve (curves are in increasing
 * escalation) whose F1 is at least the last tier's alone. `met` is false, and the best-F1 point
 * is returned, when no threshold reaches it.
 */
export function cheapestMatchingF1(calibration: Calibration): { point: CurvePoint; met: boolean } {
  const curve = calibration.curves[0];
  if (!curve || curve.length === 0 || calibration.curves.length !== 1) {
    throw new Error('cheapestMatchingF1 takes the calibration of a two-tier cascade');
  }
  const target = calibration.lastTierAlone.f1;
  const point = curve.find((p) => p.f1 >= target - 1e-12);
  if (point) return { point, met: true };
  return { point: curve.reduce((a, b) => (b.f1 > a.f1 + 1e-12 ? b : a)), met: false };
}
