import type { CascadeEntry } from '../manifest';
import { decide, minThreshold } from './decide';
import {
  addRow,
  type ClassificationMetrics,
  classificationMetrics,
  f1Score,
  labelCounts,
  macroF1,
} from './metrics';

/**
 * Cascade calibration for any task: given every tier's probabilities on labelled rows, the curve of
 * each threshold (escalation, accuracy, F1, compute share) and the threshold an objective picks.
 * Escalation follows `decide` (a tier escalates when its confidence is below the threshold), so a
 * threshold can only separate distinct confidences; each candidate sits between two of them, as a
 * short decimal away from both, and a tie in the objective goes to the cheaper threshold.
 *
 * A cascade of more than two tiers is calibrated from the back: the last pair's threshold first,
 * then each earlier tier's over the cascade that follows it, every one by the same objective.
 */

export class CalibrationError extends Error {
  override name = 'CalibrationError';
}

export type CalibrationObjective =
  /** The default: the lowest escalation whose accuracy is at least the last tier's alone. */
  | { readonly kind: 'match-last-tier' }
  /** The highest accuracy, the cheaper threshold on ties. */
  | { readonly kind: 'max-accuracy' }
  /** The highest accuracy escalating at most `rate` of the rows. */
  | { readonly kind: 'max-escalation'; readonly rate: number }
  /** The highest F1 on the positive label (macro-F1 without one), the cheaper threshold on ties. */
  | { readonly kind: 'f1' };

export const DEFAULT_OBJECTIVE: CalibrationObjective = { kind: 'match-last-tier' };

export const OBJECTIVE_SYNTAX = 'match-last-tier (default), max-accuracy, max-escalation=<rate in [0,1]>, f1';

/** Parses `--objective` text: one of OBJECTIVE_SYNTAX. */
export function parseObjective(text: string): CalibrationObjective {
  const [name, value, ...rest] = text.trim().split('=');
  if (rest.length === 0) {
    if (name === 'match-last-tier' && value === undefined) return { kind: 'match-last-tier' };
    if (name === 'max-accuracy' && value === undefined) return { kind: 'max-accuracy' };
    if (name === 'f1' && value === undefined) return { kind: 'f1' };
    if (name === 'max-escalation' && value !== undefined) {
      const rate = Number(value);
      if (value.trim() !== '' && Number.isFinite(rate) && rate >= 0 && rate <= 1) {
        return { kind: 'max-escalation', rate };
      }
      throw new CalibrationError(
        `max-escalation needs a rate in [0, 1] (e.g. max-escalation=0.1), got "${value}"`,
      );
    }
  }
  throw new CalibrationError(`unknown objective "${text}"; use one of: ${OBJECTIVE_SYNTAX}`);
}

/** The objective in words, for the manifest's cascade entry and the CLI. */
export function describeObjective(objective: CalibrationObjective, f1Of?: string): string {
  switch (objective.kind) {
    case 'match-last-tier':
      return 'cheapest threshold (lowest escalation) whose accuracy is at least the last tier alone';
    case 'max-accuracy':
      return 'highest accuracy, the lowest escalation on ties';
    case 'max-escalation':
      return `highest accuracy escalating at most ${objective.rate} of the rows`;
    case 'f1':
      return `highest F1 on ${f1Of === undefined ? 'all labels (macro)' : `"${f1Of}"`}, the lowest escalation on ties`;
  }
}

/** Labelled rows scored by every tier of a cascade. */
export interface CascadeScores {
  /** The task's labels, in the order of each row's probabilities. */
  readonly labels: readonly string[];
  /** The label F1, precision and recall are about (rare classes); macro-F1 without one. */
  readonly positiveLabel?: string;
  /** The true label's index, per row. */
  readonly truth: ArrayLike<number>;
  /** Per tier, cheapest first: row-major [N, K] probabilities (as `decodeProbabilities` returns). */
  readonly tiers: readonly ArrayLike<number>[];
  /** Per tier, the cost of scoring one row (e.g. ms at a batch size); gives each point's compute share. */
  readonly costs?: readonly number[];
}

export interface CurvePoint {
  readonly threshold: number;
  /** Rows this tier escalates to the tiers after it. */
  readonly escalated: number;
  readonly escalationRate: number;
  /** Rows the cascade from this tier on answers correctly. */
  readonly correct: number;
  readonly accuracy: number;
  /** F1 on the positive label, or macro-F1 when the task has none. */
  readonly f1: number;
  /** Cost per row of the cascade from this tier on, as a share of the last tier's alone (with costs). */
  readonly computeShare?: number;
}

export interface Calibration {
  /** One per tier but the last, ready for the manifest. */
  readonly thresholds: number[];
  readonly objective: CalibrationObjective;
  /** Per threshold, the curve of its tier over the cascade after it, in increasing escalation. */
  readonly curves: CurvePoint[][];
  /** Per threshold, the point the objective picked. */
  readonly chosen: CurvePoint[];
  /** False when a constraint could not be met (match-last-tier, max-escalation): then the best point is picked. */
  readonly met: boolean;
  /** The last tier answering every row: the baseline match-last-tier compares with. */
  readonly lastTierAlone: { readonly correct: number; readonly accuracy: number; readonly f1: number };
  /** The label `f1` is about; undefined for macro-F1. */
  readonly f1Of: string | undefined;
}

export interface CascadeOutcome {
  /** The answer's label index, per row. */
  readonly predicted: Int32Array;
  /** The 0-based tier that answered, per row. */
  readonly answeredBy: Uint8Array;
  /** The share of rows the first tier escalated. */
  readonly escalationRate: number;
  readonly metrics: ClassificationMetrics;
  /** Cost per row as a share of the last tier's alone (with costs). */
  readonly computeShare?: number;
}

/** Runs the cascade with `thresholds` over every row, by `decide`, and measures it. */
export function runCascade(scores: CascadeScores, thresholds: readonly number[]): CascadeOutcome {
  const { labels, tiers, truth } = checkScores(scores);
  if (thresholds.length !== tiers.length - 1) {
    throw new CalibrationError(
      `${tiers.length} tiers need ${tiers.length - 1} thresholds, got ${thresholds.length}`,
    );
  }
  const n = truth.length;
  const predicted = new Int32Array(n);
  const answeredBy = new Uint8Array(n);
  const reached = new Array<number>(tiers.length).fill(0);
  for (let row = 0; row < n; row++) {
    for (let t = 0; t < tiers.length; t++) {
      reached[t] = (reached[t] as number) + 1;
      const last = t === tiers.length - 1;
      const decision = decide(
        tiers[t] as ArrayLike<number>,
        row,
        labels,
        last ? 1 : (thresholds[t] as number),
        last,
      );
      if (!decision.escalate) {
        predicted[row] = decision.labelIndex;
        answeredBy[row] = t;
        break;
      }
    }
  }
  const costs = scores.costs;
  const computeShare =
    costs === undefined || n === 0
      ? undefined
      : reached.reduce((sum, count, t) => sum + count * (costs[t] as number), 0) /
        n /
        (costs.at(-1) as number);
  return {
    predicted,
    answeredBy,
    escalationRate: n > 0 ? (reached[1] ?? 0) / n : 0,
    metrics: classificationMetrics(predicted, truth, labels.length, positiveIndex(scores)),
    ...(computeShare === undefined ? {} : { computeShare }),
  };
}

/** The curve of every tier's threshold and the thresholds `objective` picks. */
export function calibrateCascade(
  scores: CascadeScores,
  objective: CalibrationObjective = DEFAULT_OBJECTIVE,
): Calibration {
  const { labels, tiers, truth } = checkScores(scores);
  if (tiers.length < 2) throw new CalibrationError('a cascade to calibrate needs at least two tiers');
  const n = truth.length;
  if (n === 0) throw new CalibrationError('no labelled rows to calibrate on');
  const k = labels.length;
  const positive = positiveIndex(scores);
  const lastTier = tiers.at(-1) as ArrayLike<number>;
  const lastPredicted = Int32Array.from(
    { length: n },
    (_, row) => decide(lastTier, row, labels, 1, true).labelIndex,
  );
  const lastCounts = labelCounts(lastPredicted, truth, k);
  const lastCorrect = correctOf(lastCounts);
  const f1Of = (counts: ReturnType<typeof labelCounts>) =>
    positive === undefined
      ? macroF1(counts)
      : f1Score(counts.tp[positive] as number, counts.fp[positive] as number, counts.fn[positive] as number);

  // From the back: `rest` is what the cascade after tier t answers, and what it costs per row.
  let rest: Int32Array = lastPredicted;
  let restCost = scores.costs?.at(-1);
  const thresholds: number[] = [];
  const curves: CurvePoint[][] = [];
  const chosen: CurvePoint[] = [];
  let met = true;
  for (let t = tiers.length - 2; t >= 0; t--) {
    const tierCost = scores.costs?.[t];
    const cost =
      tierCost === undefined || restCost === undefined
        ? undefined
        : { tier: tierCost, rest: restCost, last: scores.costs?.at(-1) as number };
    const curve = sweep(tiers[t] as ArrayLike<number>, rest, truth, labels, cost, f1Of);
    const pick = choose(curve, objective, lastCorrect, n);
    met &&= pick.met;
    thresholds.unshift(pick.point.threshold);
    curves.unshift(curve);
    chosen.unshift(pick.point);
    const cascade = runCascade({ ...scores, tiers: tiers.slice(t) }, thresholds);
    rest = cascade.predicted;
    if (cost !== undefined) restCost = cost.tier + pick.point.escalationRate * cost.rest;
  }
  return {
    thresholds,
    objective,
    curves,
    chosen,
    met,
    lastTierAlone: { correct: lastCorrect, accuracy: lastCorrect / n, f1: f1Of(lastCounts) },
    f1Of: positive === undefined ? undefined : labels[positive],
  };
}

/**
 * Every distinct threshold of one tier in front of fixed `rest` answers: escalating the rows whose
 * confidence is below each candidate, lowest first (1/K escalates nothing, 1 all but certainties).
 */
function sweep(
  probabilities: ArrayLike<number>,
  rest: Int32Array,
  truth: ArrayLike<number>,
  labels: readonly string[],
  cost: { tier: number; rest: number; last: number } | undefined,
  f1Of: (counts: ReturnType<typeof labelCounts>) => number,
): CurvePoint[] {
  const n = truth.length;
  const own = Array.from({ length: n }, (_, row) => decide(probabilities, row, labels, 1, true));
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (own[a]?.score as number) - (own[b]?.score as number) || a - b,
  );
  const counts = labelCounts(
    own.map((d) => d.labelIndex),
    truth,
    labels.length,
  );
  const candidates = candidateThresholds(
    order.map((row) => own[row]?.score as number),
    labels.length,
  );
  const curve: CurvePoint[] = [];
  let escalated = 0;
  for (const threshold of candidates) {
    while (escalated < n && (own[order[escalated] as number]?.score as number) < threshold) {
      const row = order[escalated] as number;
      const y = truth[row] as number;
      addRow(counts, own[row]?.labelIndex as number, y, -1);
      addRow(counts, rest[row] as number, y, 1);
      escalated++;
    }
    const correct = correctOf(counts);
    const escalationRate = escalated / n;
    curve.push({
      threshold,
      escalated,
      escalationRate,
      correct,
      accuracy: correct / n,
      f1: f1Of(counts),
      ...(cost === undefined ? {} : { computeShare: (cost.tier + escalationRate * cost.rest) / cost.last }),
    });
  }
  return curve;
}

/**
 * 1/K, then one threshold above each distinct confidence (ascending `sorted`): a short decimal
 * strictly between it and the next one, or 1 above the highest.
 */
function candidateThresholds(sorted: readonly number[], k: number): number[] {
  const low = minThreshold(k);
  const out = [low];
  for (let i = 0; i < sorted.length; i++) {
    const lower = sorted[i] as number;
    if (lower < low || lower >= 1 || sorted[i + 1] === lower) continue;
    const upper = sorted[i + 1];
    out.push(upper === undefined || upper >= 1 ? 1 : between(lower, upper));
  }
  return out;
}

/** The shortest decimal strictly between `lower` and `upper`, near their middle. */
function between(lower: number, upper: number): number {
  const middle = (lower + upper) / 2;
  for (let digits = 1; digits <= 15; digits++) {
    const scale = 10 ** digits;
    const candidate = Math.round(middle * scale) / scale;
    if (candidate > lower && candidate < upper) return candidate;
  }
  return middle > lower && middle < upper ? middle : upper;
}

function choose(
  curve: readonly CurvePoint[],
  objective: CalibrationObjective,
  lastCorrect: number,
  n: number,
): { point: CurvePoint; met: boolean } {
  const best = (points: readonly CurvePoint[], value: (p: CurvePoint) => number): CurvePoint =>
    // Strictly better only: the first (cheapest) point wins ties.
    points.reduce((a, b) => (value(b) > value(a) + 1e-12 ? b : a));
  const mostCorrect = () => best(curve, (p) => p.correct);
  switch (objective.kind) {
    case 'match-last-tier': {
      const point = curve.find((p) => p.correct >= lastCorrect);
      return point ? { point, met: true } : { point: mostCorrect(), met: false };
    }
    case 'max-accuracy':
      return { point: mostCorrect(), met: true };
    case 'f1':
      return { point: best(curve, (p) => p.f1), met: true };
    case 'max-escalation': {
      const allowed = curve.filter((p) => p.escalated <= objective.rate * n + 1e-9);
      return allowed.length > 0
        ? { point: best(allowed, (p) => p.correct), met: true }
        : { point: curve[0] as CurvePoint, met: false };
    }
  }
}

function correctOf(counts: ReturnType<typeof labelCounts>): number {
  let correct = 0;
  for (const tp of counts.tp) correct += tp;
  return correct;
}

function positiveIndex(scores: CascadeScores): number | undefined {
  if (scores.positiveLabel === undefined) return undefined;
  const index = scores.labels.indexOf(scores.positiveLabel);
  if (index < 0)
    throw new CalibrationError(`positive label "${scores.positiveLabel}" is not one of the labels`);
  return index;
}

function checkScores(scores: CascadeScores): CascadeScores {
  const k = scores.labels.length;
  const n = scores.truth.length;
  if (k < 2) throw new CalibrationError('a task needs at least two labels');
  scores.tiers.forEach((tier, t) => {
    if (tier.length !== n * k) {
      throw new CalibrationError(
        `tier ${t + 1} has ${tier.length} probabilities, ${n} rows of ${k} labels need ${n * k}`,
      );
    }
  });
  for (let i = 0; i < n; i++) {
    const y = scores.truth[i] as number;
    if (!(Number.isInteger(y) && y >= 0 && y < k)) {
      throw new CalibrationError(`row ${i}: label index ${y} is not one of the ${k} labels`);
    }
  }
  if (scores.costs !== undefined && scores.costs.length !== scores.tiers.length) {
    throw new CalibrationError(
      `${scores.tiers.length} tiers need ${scores.tiers.length} costs, got ${scores.costs.length}`,
    );
  }
  return scores;
}

/**
 * A manifest cascade entry from a calibration: the thresholds and the objective in words, and when
 * the cascade was measured on the task's held-out split too, its escalation and metrics on both.
 */
export function calibratedCascadeEntry(
  tiers: readonly string[],
  calibration: Calibration,
  measured: { source: string } | { validation: CascadeOutcome; test: CascadeOutcome },
): CascadeEntry {
  const words = describeObjective(calibration.objective, calibration.f1Of);
  if ('source' in measured) {
    return {
      tiers: [...tiers],
      thresholds: [...calibration.thresholds],
      objective: `${words}, on ${measured.source}`,
    };
  }
  const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
  return {
    tiers: [...tiers],
    thresholds: [...calibration.thresholds],
    objective: `${words}, on the validation split`,
    escalationRate: {
      validation: round6(measured.validation.escalationRate),
      test: round6(measured.test.escalationRate),
    },
    metrics: { validation: { ...measured.validation.metrics }, test: { ...measured.test.metrics } },
  };
}
