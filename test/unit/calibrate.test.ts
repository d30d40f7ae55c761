import { describe, expect, it } from 'vitest';
import {
  CalibrationError,
  type CascadeScores,
  calibrateCascade,
  parseObjective,
  runCascade,
} from '../../functions/core/task/calibrate';
import { classificationMetrics, prAuc } from '../../functions/core/task/metrics';

const BINARY = ['ham', 'spam'];

/** Binary rows from P(spam) per row. */
const binary = (pSpam: number[]): Float32Array => Float32Array.from(pSpam.flatMap((p) => [1 - p, p]));

/**
 * Tier 1 is right on its confident rows and wrong on two unsure ones (0.6, 0.7); tier 2 is right on
 * everything but the very confident row 0 (where tier 1 is right).
 */
function scenario(): CascadeScores {
  //           row: 0     1     2     3     4     5
  const truth = [1, 0, 1, 0, 1, 0];
  const tier1 = binary([0.99, 0.05, 0.4, 0.7, 0.8, 0.1]); // wrong on rows 2 (0.6 conf) and 3 (0.7 conf)
  const tier2 = binary([0.2, 0.1, 0.9, 0.2, 0.9, 0.1]); // wrong on row 0 only
  return { labels: BINARY, positiveLabel: 'spam', truth, tiers: [tier1, tier2], costs: [1, 4] };
}

describe('calibrateCascade', () => {
  it('defaults to the cheapest threshold whose accuracy reaches the last tier alone, not the escalate-nothing 0.5', () => {
    const calibration = calibrateCascade(scenario());
    // Tier 2 alone: 5 of 6, tier 1 alone 4 of 6. Escalating the row at confidence 0.6 gives 5 of 6.
    expect(calibration.lastTierAlone.correct).toBe(5);
    const [point] = calibration.chosen;
    expect(point?.escalated).toBe(1);
    expect(point?.correct).toBe(5);
    expect(calibration.thresholds[0]).toBeGreaterThan(0.6);
    expect(calibration.thresholds[0]).toBeLessThanOrEqual(0.7);
    expect(calibration.met).toBe(true);
    // The threshold it reports escalates exactly what the curve says through decide().
    const outcome = runCascade(scenario(), calibration.thresholds);
    expect(outcome.escalationRate).toBeCloseTo(1 / 6);
    expect(outcome.metrics.accuracy).toBeCloseTo(5 / 6, 5);
    expect(outcome.computeShare).toBeCloseTo((1 + 4 / 6) / 4);
  });

  it('max-accuracy escalates both unsure rows; max-escalation caps the rate; f1 scores the positive label', () => {
    const best = calibrateCascade(scenario(), parseObjective('max-accuracy'));
    expect(best.chosen[0]?.escalated).toBe(2);
    expect(best.chosen[0]?.accuracy).toBe(1);
    expect(best.thresholds[0]).toBeGreaterThan(0.7);
    expect(best.thresholds[0]).toBeLessThanOrEqual(0.8);

    const capped = calibrateCascade(scenario(), parseObjective('max-escalation=0.2'));
    expect(capped.chosen[0]?.escalated).toBe(1);
    const nothing = calibrateCascade(scenario(), parseObjective('max-escalation=0'));
    expect(nothing.thresholds).toEqual([0.5]);
    expect(nothing.chosen[0]?.escalated).toBe(0);

    const f1 = calibrateCascade(scenario(), parseObjective('f1'));
    expect(f1.f1Of).toBe('spam');
    expect(f1.chosen[0]?.f1).toBe(1);
  });

  it('lists 1/K first (escalates nothing) and 1 last (escalates all but certainties)', () => {
    const curve = calibrateCascade(scenario()).curves[0] ?? [];
    expect(curve[0]).toMatchObject({ threshold: 0.5, escalated: 0 });
    expect(curve.at(-1)).toMatchObject({ threshold: 1, escalated: 6 });
    const escalations = curve.map((p) => p.escalated);
    expect(escalations).toEqual([...escalations].sort((a, b) => a - b));
  });

  it('cannot split tied confidences, and a tie in the objective goes to the cheaper threshold', () => {
    // Rows 0 and 1 tie at confidence 0.7: one wrong, one right; escalating them gains nothing net.
    const truth = [1, 0, 1, 1];
    const tier1 = binary([0.7, 0.7, 0.95, 0.99]); // row 1 wrong
    const tier2 = binary([0.2, 0.1, 0.9, 0.9]); // row 0 wrong, row 1 right
    const calibration = calibrateCascade(
      { labels: BINARY, truth, tiers: [tier1, tier2] },
      { kind: 'max-accuracy' },
    );
    const curve = calibration.curves[0] ?? [];
    expect(curve.map((p) => p.escalated)).toEqual([0, 2, 3, 4]);
    // 3 of 4 at escalation 0 and at escalation 2: the cheaper one wins.
    expect(calibration.chosen[0]).toMatchObject({ escalated: 0, correct: 3, threshold: 0.5 });
  });

  it('reports an unmet default when no threshold reaches the last tier alone, and picks the most accurate point', () => {
    // Tier 1 is certain (1.0) and wrong where tier 2 is right: no threshold can escalate that row.
    const truth = [0, 1];
    const tier1 = binary([1, 1]);
    const tier2 = binary([0, 1]);
    const calibration = calibrateCascade({ labels: BINARY, truth, tiers: [tier1, tier2] });
    expect(calibration.met).toBe(false);
    expect(calibration.chosen[0]?.correct).toBe(1);
  });

  it('works over K = 3 labels: thresholds start at 1/3 and decide() picks the most probable label', () => {
    const labels = ['a', 'b', 'c'];
    const truth = [0, 1, 2, 2];
    const tier1 = Float32Array.from([0.9, 0.05, 0.05, 0.1, 0.8, 0.1, 0.4, 0.35, 0.25, 0.2, 0.2, 0.6]); // row 2 wrong (0.4)
    const tier2 = Float32Array.from([0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.8]); // all right
    const calibration = calibrateCascade({ labels, truth, tiers: [tier1, tier2] });
    expect(calibration.curves[0]?.[0]?.threshold).toBeCloseTo(1 / 3);
    expect(calibration.chosen[0]).toMatchObject({ escalated: 1, correct: 4 });
    expect(calibration.thresholds[0]).toBeGreaterThan(0.4);
    expect(calibration.thresholds[0]).toBeLessThanOrEqual(0.6);
    expect(calibration.f1Of).toBeUndefined();
    expect(
      runCascade({ labels, truth, tiers: [tier1, tier2] }, calibration.thresholds).metrics.accuracy,
    ).toBe(1);
  });

  it('calibrates three tiers from the back', () => {
    const truth = [1, 0, 1, 0];
    const tier1 = binary([0.55, 0.05, 0.95, 0.1]); // row 0 unsure, right
    const tier2 = binary([0.3, 0.4, 0.9, 0.1]); // row 0 wrong, row 1 unsure
    const tier3 = binary([0.9, 0.1, 0.9, 0.1]);
    const calibration = calibrateCascade({ labels: BINARY, truth, tiers: [tier1, tier2, tier3] });
    expect(calibration.thresholds).toHaveLength(2);
    expect(
      runCascade({ labels: BINARY, truth, tiers: [tier1, tier2, tier3] }, calibration.thresholds).metrics
        .accuracy,
    ).toBe(1);
  });

  it('refuses scores that do not fit the labels, with what is wrong', () => {
    expect(() => calibrateCascade({ labels: BINARY, truth: [0], tiers: [binary([0.1])] })).toThrow(
      /at least two tiers/,
    );
    expect(() =>
      calibrateCascade({ labels: BINARY, truth: [0, 1], tiers: [binary([0.1]), binary([0.1, 0.2])] }),
    ).toThrow(/tier 1 has 2 probabilities, 2 rows of 2 labels need 4/);
    expect(() =>
      calibrateCascade({ labels: BINARY, truth: [2], tiers: [binary([0.1]), binary([0.1])] }),
    ).toThrow(/label index 2/);
    expect(() =>
      calibrateCascade({
        labels: BINARY,
        positiveLabel: 'eggs',
        truth: [0],
        tiers: [binary([0.1]), binary([0.1])],
      }),
    ).toThrow(/positive label "eggs"/);
  });
});

describe('parseObjective', () => {
  it('reads every objective and refuses the rest naming the choices', () => {
    expect(parseObjective('match-last-tier')).toEqual({ kind: 'match-last-tier' });
    expect(parseObjective('max-escalation=0.25')).toEqual({ kind: 'max-escalation', rate: 0.25 });
    expect(() => parseObjective('max-escalation=2')).toThrow(CalibrationError);
    expect(() => parseObjective('max-escalation=')).toThrow(/rate in \[0, 1\]/);
    expect(() => parseObjective('cheapest')).toThrow(/use one of: match-last-tier/);
  });
});

describe('metrics', () => {
  it('reports positive-label precision, recall and F1 and macro-F1 over K labels', () => {
    const m = classificationMetrics([1, 1, 0, 0, 2], [1, 0, 0, 1, 2], 3, 1);
    expect(m).toMatchObject({
      n: 5,
      accuracy: 0.6,
      precision: 0.5,
      recall: 0.5,
      f1: 0.5,
      tp: 1,
      fp: 1,
      fn: 1,
      tn: 2,
    });
    expect(m.macroF1).toBeCloseTo((0.5 + 0.5 + 1) / 3, 5);
  });

  it('PR-AUC is 1 for a perfect ranking, the prevalence-like mean precision otherwise, and takes ties together', () => {
    expect(prAuc([0.9, 0.8, 0.1], [1, 1, 0])).toBe(1);
    expect(prAuc([0.9, 0.8, 0.1], [0, 1, 0])).toBe(0.5);
    // Tied scores: the two enter together, precision 1/2 at that rank.
    expect(prAuc([0.5, 0.5], [1, 0])).toBe(0.5);
    expect(prAuc([0.5, 0.5], [0, 0])).toBe(0);
  });
});
