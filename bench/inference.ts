/**
 * Inference cost per event for tier 1, tier 2 and INT8 tier 2 at several batch sizes, measured
 * side by side in one process on real held-out messages (features + one session.run per batch,
 * which is what a handler pays), and cold init of each model (manifest, sha256, session, warm-up).
 *
 * Run: npx tsx bench/inference.ts [--quick]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadManifest, loadModel } from '../functions/inference/model';
import { loadSplits } from '../models/train/data';
import { round, summarize } from './stats';

const MODELS = ['tier1', 'tier2', 'tier2-int8'] as const;

export interface InferenceBenchRow {
  model: string;
  batch: number;
  perEventMedianMs: number;
  perEventP99Ms: number;
  eventsPerSecond: number;
  runs: number;
}

export interface InferenceBenchResult {
  name: 'inference';
  rows: InferenceBenchRow[];
  initMs: Record<string, number>;
  /** batch-32 per-event cost / batch-1 per-event cost (target <= 1/8). */
  batchRatio: Record<string, number>;
  /** float tier-2 per-event time / INT8 tier-2 per-event time at batch 32 (target >= 2). */
  int8Speedup: number;
  int8SizeRatio: number;
  accuracy: Record<string, number>;
}

export async function runInferenceBench({ quick = false } = {}): Promise<InferenceBenchResult> {
  const modelsDir = join(import.meta.dirname, '..', 'models');
  const manifest = await loadManifest(modelsDir);
  const texts = loadSplits().test.map((m) => m.text);
  const batches = quick ? [1, 32] : [1, 8, 32, 128];
  const budgetMs = quick ? 300 : 2_000;
  const rows: InferenceBenchRow[] = [];
  const initMs: Record<string, number> = {};
  const scorers = new Map<string, Awaited<ReturnType<typeof loadModel>>>();
  for (const name of MODELS) {
    const started = performance.now();
    scorers.set(name, await loadModel({ modelsDir, name, manifest, intraOpNumThreads: 1 }));
    initMs[name] = round(performance.now() - started, 1);
  }
  // Interleave models per batch size so background noise hits all of them alike.
  for (const batch of batches) {
    for (const name of MODELS) {
      const scorer = scorers.get(name);
      if (!scorer) continue;
      const samples: number[] = [];
      let offset = 0;
      const deadline = performance.now() + budgetMs;
      while (performance.now() < deadline || samples.length < 5) {
        const slice = texts.slice(offset, offset + batch);
        offset = (offset + batch) % Math.max(1, texts.length - batch);
        const started = performance.now();
        await scorer.scoreBatch(slice);
        samples.push((performance.now() - started) / slice.length);
      }
      const stats = summarize(samples);
      rows.push({
        model: name,
        batch,
        perEventMedianMs: round(stats.median, 4),
        perEventP99Ms: round(stats.p99, 4),
        eventsPerSecond: Math.round(1000 / stats.median),
        runs: stats.n,
      });
    }
  }
  const perEvent = (model: string, batch: number) =>
    rows.find((r) => r.model === model && r.batch === batch)?.perEventMedianMs ?? Number.NaN;
  const batchRatio = Object.fromEntries(MODELS.map((m) => [m, round(perEvent(m, 32) / perEvent(m, 1), 3)]));
  const bytes = (name: string) => manifest.models.find((m) => m.name === name)?.bytes ?? Number.NaN;
  const accuracy = Object.fromEntries(
    manifest.models.map((m) => [m.name, m.metrics.test.accuracy]),
  );
  for (const scorer of scorers.values()) await scorer.release();
  return {
    name: 'inference',
    rows,
    initMs,
    batchRatio,
    int8Speedup: round(perEvent('tier2', 32) / perEvent('tier2-int8', 32), 3),
    int8SizeRatio: round(bytes('tier2') / bytes('tier2-int8'), 3),
    accuracy,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runInferenceBench({ quick: process.argv.includes('--quick') });
  console.table(result.rows);
  console.log({ initMs: result.initMs, batchRatio: result.batchRatio, int8Speedup: result.int8Speedup, int8SizeRatio: result.int8SizeRatio });
}
