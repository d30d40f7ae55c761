import { describe, expect, it } from 'vitest';
import { type CascadeScores, calibrateCascade } from '../../functions/core/task/calibrate';
import { cascadeProbabilities, cheapestMatchingF1, sensorMetrics } from '../../models/train/sensor/measure';

const LABELS = ['normal', 'anomaly'];

/** [N, 2] probabilities from P(anomaly) per row. */
const probs = (anomaly: number[]) => Float32Array.from(anomaly.flatMap((p) => [1 - p, p]));

/**
 * 10 rows, 2 anomalies (rows 0 and 1). Tier 2 is right everywhere. Tier 1 misses anomaly 0 at
 * confidence 0.6 and anomaly 1 at 0.9, and calls normal row 9 an anomaly at confidence 0.7.
 */
const scores = (): CascadeScores => ({
  labels: LABELS,
  positiveLabel: 'anomaly',
  truth: [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
  tiers: [
    probs([0.4, 0.1, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02, 0.45, 0.7]),
    probs([0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
  ],
});

describe('cheapestMatchingF1 (the sensor cascade objective)', () => {
  it("picks the lowest escalation whose F1 on anomaly reaches tier 2's alone", () => {
    const calibration = calibrateCascade(scores());
    expect(calibration.lastTierAlone.f1).toBe(1);
    const { point, met } = cheapestMatchingF1(calibration);
    expect(met).toBe(true);
    // Escalating tier 1's confidences below 0.9 (rows 8: 0.55, 0: 0.6, 9: 0.7) still leaves row 1
    // (a missed anomaly at 0.9): F1 reaches 1 only once row 1 escalates too.
    expect(point.f1).toBe(1);
    expect(point.escalated).toBe(4);
    // Above row 1's float32 confidence, at or below the next one (row 2's 0.95).
    expect(point.threshold).toBeGreaterThan(Math.fround(0.9));
    expect(point.threshold).toBeLessThanOrEqual(Math.fround(0.95));
  });

  it('differs from matching accuracy only in the metric: the cheapest point of the same curve', () => {
    const calibration = calibrateCascade(scores());
    const curve = calibration.curves[0] ?? [];
    const { point } = cheapestMatchingF1(calibration);
    expect(curve.filter((p) => p.escalated < point.escalated).every((p) => p.f1 < 1)).toBe(true);
  });

  it('falls back to the best-F1 point, saying so, when no threshold reaches tier 2', () => {
    const s = scores();
    // Tier 2 perfect, tier 1 misses anomaly 1 with certainty 1: escalation cannot fix it.
    const tiers = [probs([0.9, 0, 0, 0, 0, 0, 0, 0, 0, 0]), s.tiers[1] as Float32Array];
    const { point, met } = cheapestMatchingF1(calibrateCascade({ ...s, tiers }));
    expect(met).toBe(false);
    expect(point.f1).toBeCloseTo(2 / 3, 6);
  });

  it('refuses a cascade of more than two tiers', () => {
    const s = scores();
    const three = calibrateCascade({ ...s, tiers: [s.tiers[0], s.tiers[0], s.tiers[1]] as Float32Array[] });
    expect(() => cheapestMatchingF1(three)).toThrow(/two-tier cascade/);
  });
});

describe('sensorMetrics', () => {
  it('reports precision, recall, F1 and PR-AUC on anomaly with the confusion counts', () => {
    const m = sensorMetrics(probs([0.9, 0.4, 0.6, 0.1]), [1, 1, 0, 0], LABELS, 1);
    expect(m).toEqual({
      n: 4,
      accuracy: 0.5,
      precision: 0.5,
      recall: 0.5,
      f1: 0.5,
      tp: 1,
      fp: 1,
      tn: 1,
      fn: 1,
      // Ranked 0.9 (+), 0.6 (-), 0.4 (+): (1/1 + 2/3) / 2.
      prAuc: 0.833333,
    });
  });

  it('scores a cascade by the tier that answered each row', () => {
    const out = cascadeProbabilities([probs([0.1, 0.2]), probs([0.8, 0.9])], [0, 1], 2);
    expect(Array.from(out, (v) => Math.round(v * 10) / 10)).toEqual([0.9, 0.1, 0.1, 0.9]);
  });
});
