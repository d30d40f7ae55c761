/**
 * Inference cost per event of every model of every task (its manifest's models: tier 1, tier 2,
 * INT8 variants) at batch 1, 8, 32 and 128, measured side by side in one process on the task's
 * held-out examples, three ways:
 * - `end-to-end`: encoding + one `session.run` per batch (`ModelScorer.score`, what a handler pays);
 * - `model`: the `session.run` and output decoding alone on pre-encoded batches (`scoreEncoded`);
 * - `features`: the encoder alone (`ModelScorer.encode`).
 * Plus cold model init (manifest, sha256, session, warm-up) and test-split accuracy of every model
 * measured in this run (the INT8 accuracy-loss target compares these).
 *
 * Run: npx tsx bench/inference.ts [--quick]
 */
import { pathToFileURL } from 'node:url';
import { decide } from '../functions/core/task/decide';
import type { EncodedBatch } from '../functions/core/task/encoders';
import type { ModelScorer } from '../functions/inference/model';
import { breathe, round, roundSummary, type Summary, summarize } from './stats';
import { type BenchTask, int8Pairs, loadBenchModel, loadBenchTasks } from './tasks';

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

export type InferenceMode = 'end-to-end' | 'model' | 'features';

export interface InferenceBenchRow {
  model: string;
  batch: number;
  mode: InferenceMode;
  /** Per-event milliseconds of one pass over the same inputs: median, p10/p90, p99 over `runs` passes. */
  perEventMs: Summary;
  perEventMedianMs: number;
  perEventP99Ms: number;
  eventsPerSecond: number;
  runs: number;
}

/** One task's inference figures: every model of its manifest. */
export interface InferenceTaskResult {
  task: string;
  /** The task's input kind (text, features): what `features` (the encoding) measures. */
  input: string;
  models: string[];
  rows: InferenceBenchRow[];
  initMs: Record<string, number>;
  /** batch-32 per-event cost / batch-1 per-event cost, end to end (target <= 1/8). */
  batchRatio: Record<string, number>;
  /** The same ratio for the model alone. */
  batchRatioModel: Record<string, number>;
  /** Per INT8 model: its float model's per-event time / its own at batch 32, end to end (target >= 2). */
  int8Speedup: Record<string, number>;
  /** The same ratio for the model alone (`session.run` on pre-encoded batches). */
  int8SpeedupModel: Record<string, number>;
  /** Per INT8 model: float file bytes / INT8 file bytes (memory-bound alternative target >= 3.5). */
  int8SizeRatio: Record<string, number>;
  /** Share of end-to-end time spent encoding at batch 32, per model. */
  featureShare: Record<string, number>;
  bytes: Record<string, number>;
  /** Test-split accuracy (most probable label), measured in this run. */
  accuracy: Record<string, number>;
  /** Test-split accuracy the manifest records, where it records one. */
  manifestAccuracy: Record<string, number>;
  testExamples: number;
  /** Inputs per timed pass. */
  passExamples: number;
}

export interface InferenceBenchResult {
  name: 'inference';
  batches: number[];
  tasks: InferenceTaskResult[];
}

export async function runInferenceBench({ quick = false } = {}): Promise<InferenceBenchResult> {
  const batches = quick ? [1, 32] : [1, 8, 32, 128];
  const tasks: InferenceTaskResult[] = [];
  for (const task of await loadBenchTasks()) tasks.push(await benchTask(task, batches, quick));
  return { name: 'inference', batches, tasks };
}

async function benchTask(task: BenchTask, batches: number[], quick: boolean): Promise<InferenceTaskResult> {
  const { manifest, test } = task;
  const names = manifest.models.map((m) => m.name);
  const labels = manifest.task.labels;
  const rows: InferenceBenchRow[] = [];
  const initMs: Record<string, number> = {};
  const scorers = new Map<string, ModelScorer>();
  for (const name of names) {
    const started = performance.now();
    scorers.set(name, await loadBenchModel(task, name));
    initMs[name] = round(performance.now() - started, 1);
  }

  // Accuracy of each model on the whole test split, measured here (batches of 128).
  const accuracy: Record<string, number> = {};
  for (const [name, scorer] of scorers) {
    let correct = 0;
    for (let i = 0; i < test.length; i += 128) {
      const slice = test.slice(i, i + 128);
      const { probabilities, rejected } = await scorer.score(slice.map((e) => e.input));
      slice.forEach((e, j) => {
        if (!rejected.has(j) && decide(probabilities, j, labels, 1, true).label === e.label) correct++;
      });
    }
    accuracy[name] = round(correct / test.length, 6);
  }

  // Every configuration processes the same pass of PASS inputs (a fixed, shuffled sample of the
  // test split), in batches of `batch`; per-event cost = pass time / PASS. Comparing means over
  // the same inputs keeps long and short ones out of the ratios. The machine is shared:
  // configurations are measured round-robin (one pass of each per round, in a rotating order) so
  // a burst of background load lands on all of them alike, not on one.
  const pass = shuffled(
    test.map((e) => e.input),
    20260101,
  ).slice(0, quick ? 128 : 256);
  interface Config {
    model: string;
    batch: number;
    mode: InferenceMode;
    work: (offset: number) => Promise<unknown> | unknown;
    samples: number[];
  }
  const configs: Config[] = [];
  for (const batch of batches) {
    for (const name of names) {
      const scorer = scorers.get(name) as ModelScorer;
      const slice = (offset: number) => pass.slice(offset, offset + batch);
      // The same pass, encoded beforehand: the `session.run` calls (and decoding) alone.
      const encoded = new Map<number, EncodedBatch>();
      for (let o = 0; o < pass.length; o += batch) encoded.set(o, scorer.encode(slice(o)));
      configs.push(
        { model: name, batch, mode: 'end-to-end', work: (o) => scorer.score(slice(o)), samples: [] },
        {
          model: name,
          batch,
          mode: 'model',
          work: (o) => scorer.scoreEncoded(encoded.get(o) as EncodedBatch),
          samples: [],
        },
        { model: name, batch, mode: 'features', work: (o) => scorer.encode(slice(o)), samples: [] },
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
    Object.fromEntries(names.map((m) => [m, round(perEvent(m, 32, mode) / perEvent(m, 1, mode), 3)]));
  const bytes = Object.fromEntries(manifest.models.map((m) => [m.name, m.bytes]));
  const manifestAccuracy = Object.fromEntries(
    manifest.models.flatMap((m) => {
      const value = m.metrics?.test.accuracy;
      return value === undefined ? [] : [[m.name, value]];
    }),
  );
  const pairs = int8Pairs(manifest);
  const perPair = (f: (p: { float: string; int8: string }) => number) =>
    Object.fromEntries(pairs.map((p) => [p.int8, round(f(p), 3)]));
  for (const scorer of scorers.values()) await scorer.release();
  return {
    task: task.id,
    input: manifest.task.input.kind,
    models: names,
    rows,
    initMs,
    batchRatio: ratio('end-to-end'),
    batchRatioModel: ratio('model'),
    int8Speedup: perPair((p) => perEvent(p.float, 32) / perEvent(p.int8, 32)),
    int8SpeedupModel: perPair((p) => perEvent(p.float, 32, 'model') / perEvent(p.int8, 32, 'model')),
    int8SizeRatio: perPair((p) => (bytes[p.float] ?? Number.NaN) / (bytes[p.int8] ?? Number.NaN)),
    featureShare: Object.fromEntries(
      names.map((m) => [m, round(perEvent(m, 32, 'features') / perEvent(m, 32), 3)]),
    ),
    bytes,
    accuracy,
    manifestAccuracy,
    testExamples: test.length,
    passExamples: pass.length,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runInferenceBench({ quick: process.argv.includes('--quick') });
  for (const t of result.tasks) {
    console.log(`task ${t.task}`);
    console.table(t.rows.map(({ perEventMs: _, ...row }) => row));
    const { initMs, batchRatio, batchRatioModel, int8Speedup, int8SpeedupModel, int8SizeRatio, accuracy } = t;
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
}
