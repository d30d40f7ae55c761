/**
 * Inference cost per event for tier 1, tier 2 and INT8 tier 2 at batch 1, 8, 32 and 128, measured
 * side by side in one process on real held-out messages, three ways:
 * - `end-to-end`: feature extraction + one `session.run` per batch (what a handler pays);
 * - `model`: the `session.run` alone on pre-extracted feature batches;
 * - `features`: feature extraction (`encodeBatch`) alone.
 * Plus cold model init (manifest, sha256, session, warm-up) and test-split accuracy of every model
 * measured in this run (the INT8 accuracy-loss target compares these).
 *
 * Run: npx tsx bench/inference.ts [--quick]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { encodeBatch, type FeatureBatch } from '../functions/core/features';
import { loadManifest, loadModel, type ModelScorer } from '../functions/inference/model';
import { loadSplits } from '../models/train/data';
import { breathe, round, roundSummary, type Summary, summarize } from './stats';

/** Deterministic Fisher-Yates shuffle (mulberry32). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export const MODELS = ['tier1', 'tier2', 'tier2-int8'] as const;
export type InferenceMode = 'end-to-end' | 'model' | 'features';

export interface InferenceBenchRow {
  model: string;
  batch: number;
  mode: InferenceMode;
  /** Per-event milliseconds of one pass over the same messages: median, p10/p90, p99 over `runs` passes. */
  perEventMs: Summary;
  perEventMedianMs: number;
  perEventP99Ms: number;
  eventsPerSecond: number;
  runs: number;
}

export interface InferenceBenchResult {
  name: 'inference';
  batches: number[];
  rows: InferenceBenchRow[];
  initMs: Record<string, number>;
  /** batch-32 per-event cost / batch-1 per-event cost, end to end (target <= 1/8). */
  batchRatio: Record<string, number>;
  /** The same ratio for the model alone. */
  batchRatioModel: Record<string, number>;
  /** float tier-2 per-event time / INT8 tier-2 per-event time at batch 32, end to end (target >= 2). */
  int8Speedup: number;
  /** The same ratio for the model alone (`session.run` on pre-extracted features). */
  int8SpeedupModel: number;
  /** Share of end-to-end time spent in feature extraction at batch 32, per model. */
  featureShare: Record<string, number>;
  /** float file bytes / INT8 file bytes (memory-bound alternative target >= 3.5). */
  int8SizeRatio: number;
  bytes: Record<string, number>;
  /** Test-split accuracy at the 0.5 cut, measured in this run. */
  accuracy: Record<string, number>;
  /** Test-split accuracy the manifest records. */
  manifestAccuracy: Record<string, number>;
  testMessages: number;
  /** Messages per timed pass. */
  passMessages: number;
}

export async function runInferenceBench({ quick = false } = {}): Promise<InferenceBenchResult> {
  const modelsDir = join(import.meta.dirname, '..', 'models');
  const manifest = await loadManifest(modelsDir);
  const test = loadSplits().test;
  const texts = test.map((m) => m.text);
  const batches = quick ? [1, 32] : [1, 8, 32, 128];
  const rows: InferenceBenchRow[] = [];
  const initMs: Record<string, number> = {};
  const scorers = new Map<string, ModelScorer>();
  for (const name of MODELS) {
    const started = performance.now();
    scorers.set(name, await loadModel({ modelsDir, name, manifest, intraOpNumThreads: 1 }));
    initMs[name] = round(performance.now() - started, 1);
  }

  // Accuracy of each model on the whole test split, measured here (batches of 128).
  const accuracy: Record<string, number> = {};
  for (const [name, scorer] of scorers) {
    let correct = 0;
    for (let i = 0; i < test.length; i += 128) {
      const slice = test.slice(i, i + 128);
      const scores = await scorer.scoreBatch(slice.map((m) => m.text));
      slice.forEach((m, j) => {
        if (((scores[j] ?? 0) >= 0.5 ? 1 : 0) === m.label) correct++;
      });
    }
    accuracy[name] = round(correct / test.length, 6);
  }

  // Every configuration processes the same pass of PASS messages (a fixed, shuffled sample of the
  // test split: ham, hard ham and spam mixed), in batches of `batch`; per-event cost = pass time /
  // PASS. Comparing means over the same messages keeps long and short messages out of the ratios.
  // The machine is shared: configurations are measured round-robin (one pass of each per round, in
  // a rotating order) so a burst of background load lands on all of them alike, not on one.
  const pass = shuffled(texts, 20260101).slice(0, quick ? 128 : 256);
  interface Config {
    model: string;
    batch: number;
    mode: InferenceMode;
    work: (offset: number) => Promise<unknown> | unknown;
    samples: number[];
  }
  const configs: Config[] = [];
  for (const batch of batches) {
    for (const name of MODELS) {
      const scorer = scorers.get(name);
      if (!scorer) continue;
      const spec = scorer.entry.features;
      const slice = (offset: number) => pass.slice(offset, offset + batch);
      // The same pass, features extracted beforehand: the `session.run` calls alone.
      const encoded = new Map<number, FeatureBatch>();
      for (let o = 0; o < pass.length; o += batch) encoded.set(o, encodeBatch(slice(o), spec));
      configs.push(
        { model: name, batch, mode: 'end-to-end', work: (o) => scorer.scoreBatch(slice(o)), samples: [] },
        {
          model: name,
          batch,
          mode: 'model',
          work: (o) => scorer.scoreFeatures(encoded.get(o) as FeatureBatch),
          samples: [],
        },
        { model: name, batch, mode: 'features', work: (o) => encodeBatch(slice(o), spec), samples: [] },
      );
    }
  }
  const onePass = async (config: Config) => {
    const started = performance.now();
    for (let offset = 0; offset < pass.length; offset += config.batch) await config.work(offset);
    return (performance.now() - started) / pass.length;
  };
  for (const config of configs) await onePass(config); // warm every shape
  const rounds = quick ? 3 : 25;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < configs.length; k++) {
      const config = configs[(k + round * 7) % configs.length] as Config;
      config.samples.push(await onePass(config));
    }
    await breathe();
  }
  for (const config of configs) {
    const stats = summarize(config.samples);
    rows.push({
      model: config.model,
      batch: config.batch,
      mode: config.mode,
      perEventMs: roundSummary(stats, 4),
      perEventMedianMs: round(stats.median, 4),
      perEventP99Ms: round(stats.p99, 4),
      eventsPerSecond: Math.round(1000 / stats.median),
      runs: stats.n,
    });
  }
  const perEvent = (model: string, batch: number, mode: InferenceMode = 'end-to-end') =>
    rows.find((r) => r.model === model && r.batch === batch && r.mode === mode)?.perEventMedianMs ??
    Number.NaN;
  const ratio = (mode: InferenceMode) =>
    Object.fromEntries(MODELS.map((m) => [m, round(perEvent(m, 32, mode) / perEvent(m, 1, mode), 3)]));
  const bytes = Object.fromEntries(manifest.models.map((m) => [m.name, m.bytes]));
  const manifestAccuracy = Object.fromEntries(manifest.models.map((m) => [m.name, m.metrics.test.accuracy]));
  for (const scorer of scorers.values()) await scorer.release();
  return {
    name: 'inference',
    batches,
    rows,
    initMs,
    batchRatio: ratio('end-to-end'),
    batchRatioModel: ratio('model'),
    int8Speedup: round(perEvent('tier2', 32) / perEvent('tier2-int8', 32), 3),
    int8SpeedupModel: round(perEvent('tier2', 32, 'model') / perEvent('tier2-int8', 32, 'model'), 3),
    featureShare: Object.fromEntries(
      MODELS.map((m) => [m, round(perEvent(m, 32, 'features') / perEvent(m, 32), 3)]),
    ),
    int8SizeRatio: round((bytes.tier2 ?? Number.NaN) / (bytes['tier2-int8'] ?? Number.NaN), 3),
    bytes,
    accuracy,
    manifestAccuracy,
    testMessages: test.length,
    passMessages: quick ? 128 : 256,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runInferenceBench({ quick: process.argv.includes('--quick') });
  console.table(result.rows.map(({ perEventMs: _, ...row }) => row));
  const { initMs, batchRatio, batchRatioModel, int8Speedup, int8SpeedupModel, int8SizeRatio, accuracy } =
    result;
  console.log({
    initMs,
    batchRatio,
    batchRatioModel,
    int8Speedup,
    int8SpeedupModel,
    int8SizeRatio,
    accuracy,
  });
}
