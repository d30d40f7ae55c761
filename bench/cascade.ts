/**
 * Each task's cascades on its test split: accuracy (and, for a task with a positive label,
 * precision, recall and F1 of that label), escalation rate and mean compute per event against the
 * escalation threshold, by the one cascade rule (`decide`: a tier answers when its most probable
 * label's probability reaches the threshold, otherwise the next tier does). Compute per event =
 * the sum over tiers of (share of events reaching the tier) x (its cost), every cost measured here
 * (encoding + one `session.run` per batch of 32, the handlers' batch size, over the whole test split).
 *
 * Run: npx tsx bench/cascade.ts [--quick]
 */
import { pathToFileURL } from 'node:url';
import type { CascadeEntry } from '../functions/core/manifest';
import { decide, minThreshold } from '../functions/core/task/decide';
import { stages } from '../lib/config/stages';
import { round, roundSummary, type Summary, summarize } from './stats';
import { type BenchTask, loadBenchModel, loadBenchTasks, stageTier } from './tasks';

export interface CascadePoint {
  /** Applied at every tier but the last. */
  threshold: number;
  /** Share of events tier 1 escalates. */
  escalationRate: number;
  accuracy: number;
  /** Of the task's positive label, when it has one. */
  precision?: number;
  recall?: number;
  f1?: number;
  /** Mean milliseconds per event (every tier's cost times the share of events reaching it). */
  computeMs: number;
  /** computeMs / the last tier alone. */
  computeShare: number;
}

export interface CascadeCurve {
  /** Model names, tier 1 first. */
  tiers: string[];
  /** The last tier's model (the one the cascade is compared with). */
  tier2: string;
  tier2Accuracy: number;
  tier1Accuracy: number;
  tier2F1?: number;
  tier1F1?: number;
  points: CascadePoint[];
  /** The thresholds the manifest calibrated on the validation split, evaluated on test. */
  calibrated: CascadePoint;
  /** At the dev stage's threshold for this task (lib/config/stages.ts), when it sets a number. */
  dev?: CascadePoint;
  /** At each stage's threshold for this task, for the stages that set a number (the cost model's escalation). */
  stages: Record<string, CascadePoint>;
}

export interface CascadeTaskResult {
  task: string;
  labels: string[];
  positiveLabel?: string;
  testExamples: number;
  /** Per-event ms, end to end at batch 32, over passes of the whole test split. */
  perEventMs: Record<string, Summary>;
  calibratedThreshold: number;
  /** The dev stage's threshold for the task; absent when it serves the manifest's. */
  devThreshold?: number;
  curves: CascadeCurve[];
}

export interface CascadeBenchResult {
  name: 'cascade';
  batch: number;
  tasks: CascadeTaskResult[];
}

const TAIL = [0.995, 0.998, 0.999, 0.9995, 0.9999, 1];

/** 50 steps from 1/K up (0.50, 0.51, ... for two labels), then the tail close to 1. */
export function thresholdGrid(labelCount: number): number[] {
  const low = minThreshold(labelCount);
  const step = (0.99 - low) / 49;
  const grid = Array.from({ length: 50 }, (_, i) => round(low + i * step, labelCount === 2 ? 2 : 4));
  return [...grid, ...TAIL];
}

export async function runCascadeBench({ quick = false } = {}): Promise<CascadeBenchResult> {
  const batch = 32;
  const tasks: CascadeTaskResult[] = [];
  for (const task of await loadBenchTasks()) tasks.push(await benchTask(task, batch, quick));
  return { name: 'cascade', batch, tasks };
}

async function benchTask(task: BenchTask, batch: number, quick: boolean): Promise<CascadeTaskResult> {
  const { manifest, test } = task;
  const { labels, positiveLabel } = manifest.task;
  const k = labels.length;
  const inputs = test.map((e) => e.input);
  const passes = quick ? 1 : 9;
  const names = [...new Set(manifest.cascades.flatMap((c) => c.tiers))];
  const probabilities: Record<string, Float32Array> = {};
  const perEventMs: Record<string, Summary> = {};
  const scorers = await Promise.all(names.map((name) => loadBenchModel(task, name)));
  const samples: number[][] = names.map(() => []);
  // Passes alternate between the models so background load on a shared machine hits them alike.
  for (let p = 0; p < passes + 1; p++) {
    for (const [m, name] of names.entries()) {
      const scorer = scorers[m] as (typeof scorers)[number];
      const out = new Float32Array(inputs.length * k);
      const started = performance.now();
      for (let i = 0; i < inputs.length; i += batch)
        out.set((await scorer.score(inputs.slice(i, i + batch))).probabilities, i * k);
      if (p > 0) samples[m]?.push((performance.now() - started) / inputs.length); // pass 0 warms
      probabilities[name] = out;
    }
  }
  for (const [m, name] of names.entries()) {
    perEventMs[name] = roundSummary(summarize(samples[m] ?? []), 4);
    await scorers[m]?.release();
  }

  /** Accuracy and positive-label precision/recall/F1 of one label per example. */
  const quality = (answers: readonly (string | undefined)[]) => {
    let correct = 0;
    let tp = 0;
    let fp = 0;
    let fn = 0;
    test.forEach((e, i) => {
      const answer = answers[i];
      if (answer === e.label) correct++;
      if (positiveLabel === undefined) return;
      if (answer === positiveLabel && e.label === positiveLabel) tp++;
      else if (answer === positiveLabel) fp++;
      else if (e.label === positiveLabel) fn++;
    });
    const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    return {
      accuracy: round(correct / test.length, 6),
      ...(positiveLabel === undefined
        ? {}
        : {
            precision: round(precision, 6),
            recall: round(recall, 6),
            f1: round(precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0, 6),
          }),
    };
  };
  const alone = (name: string) => {
    const p = probabilities[name] as Float32Array;
    return quality(
      test.map((_, i) => (Number.isFinite(p[i * k]) ? decide(p, i, labels, 1, true).label : undefined)),
    );
  };

  const stageThresholds = Object.entries(stages).flatMap(([name, config]) => {
    const threshold = stageTier(config, task.id, 0).threshold;
    return threshold === undefined ? [] : [[name, threshold] as const];
  });
  const curve = (cascade: CascadeEntry, devThreshold: number | undefined): CascadeCurve => {
    const costs = cascade.tiers.map((t) => perEventMs[t]?.median ?? Number.NaN);
    const last = costs.at(-1) as number;
    const at = (thresholds: readonly number[]): CascadePoint => {
      const reached = cascade.tiers.map(() => 0);
      const answers = test.map((_, i) => {
        for (const [t, name] of cascade.tiers.entries()) {
          reached[t] = (reached[t] as number) + 1;
          const p = probabilities[name] as Float32Array;
          if (!Number.isFinite(p[i * k])) return undefined; // rejected by the encoder
          const d = decide(p, i, labels, thresholds[t] ?? 1, t === cascade.tiers.length - 1);
          if (!d.escalate) return d.label;
        }
        return undefined;
      });
      const computeMs = costs.reduce((sum, c, t) => sum + c * ((reached[t] as number) / test.length), 0);
      return {
        threshold: thresholds[0] ?? 1,
        escalationRate: round((reached[1] ?? 0) / test.length, 5),
        ...quality(answers),
        computeMs: round(computeMs, 4),
        computeShare: round(computeMs / last, 4),
      };
    };
    const uniform = (t: number) => at(cascade.tiers.slice(1).map(() => t));
    const first = cascade.tiers[0] as string;
    const final = cascade.tiers.at(-1) as string;
    const tier1 = alone(first);
    const tier2 = alone(final);
    return {
      tiers: cascade.tiers,
      tier2: final,
      tier2Accuracy: tier2.accuracy,
      tier1Accuracy: tier1.accuracy,
      ...(tier2.f1 !== undefined ? { tier2F1: tier2.f1, tier1F1: tier1.f1 } : {}),
      points: thresholdGrid(k).map(uniform),
      calibrated: at(cascade.thresholds),
      ...(devThreshold !== undefined ? { dev: uniform(devThreshold) } : {}),
      stages: Object.fromEntries(stageThresholds.map(([name, threshold]) => [name, uniform(threshold)])),
    };
  };
  const calibratedThreshold = manifest.cascades[0]?.thresholds[0] ?? Number.NaN;
  const devThreshold = stageTier(stages.dev, task.id, 0).threshold;
  return {
    task: task.id,
    labels,
    ...(positiveLabel !== undefined ? { positiveLabel } : {}),
    testExamples: test.length,
    perEventMs,
    calibratedThreshold,
    ...(devThreshold !== undefined ? { devThreshold } : {}),
    curves: manifest.cascades.map((c) => curve(c, devThreshold)),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runCascadeBench({ quick: process.argv.includes('--quick') });
  for (const t of result.tasks) {
    console.log(`task ${t.task}`, t.perEventMs);
    for (const c of t.curves) {
      console.log(c.tiers.join(' -> '), {
        t1: c.tier1Accuracy,
        t2: c.tier2Accuracy,
        calibrated: c.calibrated,
        dev: c.dev,
      });
      console.table(c.points.filter((_, i) => i % 5 === 0 || i >= 50));
    }
  }
}
