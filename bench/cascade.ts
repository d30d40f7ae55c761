/**
 * The cascade on the test split: accuracy, escalation rate and mean compute per event against the
 * escalation threshold (tier 1 answers when max(p, 1 - p) >= threshold, otherwise tier 2 does).
 * Compute per event = tier-1 cost + escalation rate x tier-2 cost, with both costs measured here
 * (features + one `session.run` per batch of 32, the handlers' batch size, over the whole test split).
 *
 * Run: npx tsx bench/cascade.ts [--quick]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tier1Confident } from '../functions/core/manifest';
import { loadManifest, loadModel } from '../functions/inference/model';
import { stages } from '../lib/config/stages';
import { loadSplits } from '../models/train/data';
import { round, roundSummary, type Summary, summarize } from './stats';

export interface CascadePoint {
  threshold: number;
  escalationRate: number;
  accuracy: number;
  /** Mean milliseconds per event (tier 1 for all + tier 2 for escalated). */
  computeMs: number;
  /** computeMs / tier 2 alone. */
  computeShare: number;
}

export interface CascadeCurve {
  tier2: string;
  tier2Accuracy: number;
  tier1Accuracy: number;
  points: CascadePoint[];
  /** The threshold the manifest calibrated on the validation split, evaluated on test. */
  calibrated: CascadePoint;
  /** The dev stage's configured threshold (lib/config/stages.ts). */
  dev: CascadePoint;
}

export interface CascadeBenchResult {
  name: 'cascade';
  testMessages: number;
  batch: number;
  /** Per-event ms, end to end at batch 32, over passes of the whole test split. */
  perEventMs: Record<string, Summary>;
  calibratedThreshold: number;
  devThreshold: number;
  curves: CascadeCurve[];
}

const THRESHOLDS = [
  ...Array.from({ length: 50 }, (_, i) => round(0.5 + i * 0.01, 2)),
  0.995,
  0.998,
  0.999,
  0.9995,
  0.9999,
  1,
];

export async function runCascadeBench({ quick = false } = {}): Promise<CascadeBenchResult> {
  const modelsDir = join(import.meta.dirname, '..', 'models');
  const manifest = await loadManifest(modelsDir);
  const test = loadSplits().test;
  const texts = test.map((m) => m.text);
  const batch = 32;
  const passes = quick ? 1 : 9;
  const scores: Record<string, Float32Array> = {};
  const perEventMs: Record<string, Summary> = {};
  const names = ['tier1', 'tier2', 'tier2-int8'];
  const scorers = await Promise.all(
    names.map((name) => loadModel({ modelsDir, name, manifest, intraOpNumThreads: 1 })),
  );
  const samples: number[][] = names.map(() => []);
  // Passes alternate between the models so background load on a shared machine hits them alike.
  for (let p = 0; p < passes + 1; p++) {
    for (const [k, name] of names.entries()) {
      const scorer = scorers[k] as (typeof scorers)[number];
      const out = new Float32Array(texts.length);
      const started = performance.now();
      for (let i = 0; i < texts.length; i += batch)
        out.set(await scorer.scoreBatch(texts.slice(i, i + batch)), i);
      if (p > 0) samples[k]?.push((performance.now() - started) / texts.length); // pass 0 warms
      scores[name] = out;
    }
  }
  for (const [k, name] of names.entries()) {
    perEventMs[name] = roundSummary(summarize(samples[k] ?? []), 4);
    await scorers[k]?.release();
  }
  const t1 = scores.tier1 as Float32Array;
  const labelOf = (p: number) => (p >= 0.5 ? 1 : 0);
  const accuracyOf = (s: Float32Array) =>
    test.filter((m, i) => labelOf(s[i] ?? 0) === m.label).length / test.length;
  const curve = (tier2: string, calibratedThreshold: number, devThreshold: number): CascadeCurve => {
    const t2 = scores[tier2] as Float32Array;
    const c1 = perEventMs.tier1?.median ?? Number.NaN;
    const c2 = perEventMs[tier2]?.median ?? Number.NaN;
    const at = (threshold: number): CascadePoint => {
      let escalated = 0;
      let correct = 0;
      test.forEach((m, i) => {
        const p1 = t1[i] ?? 0;
        const confident = tier1Confident(p1, threshold);
        if (!confident) escalated++;
        if (labelOf(confident ? p1 : (t2[i] ?? 0)) === m.label) correct++;
      });
      const escalationRate = escalated / test.length;
      const computeMs = c1 + escalationRate * c2;
      return {
        threshold,
        escalationRate: round(escalationRate, 5),
        accuracy: round(correct / test.length, 6),
        computeMs: round(computeMs, 4),
        computeShare: round(computeMs / c2, 4),
      };
    };
    return {
      tier2,
      tier2Accuracy: round(accuracyOf(t2), 6),
      tier1Accuracy: round(accuracyOf(t1), 6),
      points: THRESHOLDS.map(at),
      calibrated: at(calibratedThreshold),
      dev: at(devThreshold),
    };
  };
  const devThreshold = stages.dev.tasks[0]?.tiers[0]?.threshold ?? Number.NaN;
  const curves = manifest.cascades.map((c) => curve(c.tier2, c.threshold, devThreshold));
  return {
    name: 'cascade',
    testMessages: test.length,
    batch,
    perEventMs,
    calibratedThreshold: manifest.cascades[0]?.threshold ?? Number.NaN,
    devThreshold,
    curves,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runCascadeBench({ quick: process.argv.includes('--quick') });
  console.log(result.perEventMs);
  for (const c of result.curves) {
    console.log(c.tier2, { t1: c.tier1Accuracy, t2: c.tier2Accuracy, calibrated: c.calibrated, dev: c.dev });
    console.table(c.points.filter((_, i) => i % 5 === 0 || i >= 50));
  }
}
