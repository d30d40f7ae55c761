import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../functions/core/manifest';
import { loadManifest, loadModel, MANIFEST_FILE, type ModelScorer } from '../functions/inference/model';
import { type LabelledExample, loadTaskDefinition } from '../functions/tasks/definition';

/** The project's models: `models/<task>/manifest.json`. */
export const MODELS_DIR = join(import.meta.dirname, '..', 'models');

/** A task the benchmarks measure: its manifest and its held-out (test) examples. */
export interface BenchTask {
  readonly id: string;
  readonly manifest: Manifest;
  readonly test: readonly LabelledExample[];
}

/**
 * Every task with a manifest under models/, in id order, with its test split from its definition
 * (functions/tasks/<id>/). `BENCH_TASKS=spam,sensor` narrows the list. A task with models but no
 * definition is an error: its numbers would have nothing to be measured on.
 */
export async function loadBenchTasks(): Promise<BenchTask[]> {
  const wanted = process.env.BENCH_TASKS?.split(',').filter(Boolean);
  const ids = readdirSync(MODELS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(MODELS_DIR, d.name, MANIFEST_FILE)))
    .map((d) => d.name)
    .filter((id) => !wanted || wanted.includes(id))
    .sort();
  if (ids.length === 0)
    throw new Error(
      `no task to benchmark: no models/<task>/${MANIFEST_FILE}${wanted ? ` among BENCH_TASKS=${wanted.join(',')}` : ''}`,
    );
  return Promise.all(
    ids.map(async (id) => {
      const manifest = await loadManifest(MODELS_DIR, id);
      const test = (await (await loadTaskDefinition(id)).loadSplits()).test;
      if (test.length === 0) throw new Error(`task ${id}: its test split is empty; nothing to benchmark`);
      return { id, manifest, test };
    }),
  );
}

/** Loads one model of a task for benchmarking (one intra-op thread, as a handler runs it). */
export const loadBenchModel = (task: BenchTask, name: string): Promise<ModelScorer> =>
  loadModel({ modelsDir: MODELS_DIR, task: task.id, name, manifest: task.manifest, intraOpNumThreads: 1 });

/** The float model an INT8 model quantizes: `<name>-int8` of `<name>`, when the manifest has both. */
export function int8Pairs(manifest: Manifest): { float: string; int8: string }[] {
  return manifest.models
    .filter((m) => m.precision === 'int8' && m.name.endsWith('-int8'))
    .map((m) => ({ float: m.name.slice(0, -'-int8'.length), int8: m.name }))
    .filter((p) => manifest.models.some((m) => m.name === p.float));
}

/** What the benchmarks read of a stage config's tier: read loosely, so they do not pin its exact shape. */
export interface StageTierView {
  readonly model?: string;
  readonly threshold?: number;
  readonly batchSize?: number;
}

/** Tier `index` (0-based) of `task` in a stage config (`tasks: [{ id, tiers: [...] }]`), if it has one. */
export function stageTier(stage: unknown, task: string, index: number): StageTierView {
  const tasks = (stage as { tasks?: { id?: string; tiers?: Record<string, unknown>[] }[] }).tasks ?? [];
  const tier = tasks.find((t) => t.id === task)?.tiers?.[index] ?? {};
  return {
    ...(typeof tier.model === 'string' ? { model: tier.model } : {}),
    ...(typeof tier.threshold === 'number' ? { threshold: tier.threshold } : {}),
    ...(typeof tier.batchSize === 'number' ? { batchSize: tier.batchSize } : {}),
  };
}
