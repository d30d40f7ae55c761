import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Manifest, ModelEntry } from '../../functions/core/manifest';
import type { TaskInput } from '../../functions/core/task/inputs';
import {
  MANIFEST_FILE,
  ModelIntegrityError,
  ModelScorer,
  parseManifest,
  sha256Hex,
} from '../../functions/inference/model';
import {
  type LabelledExample,
  loadTaskDefinition,
  readExamples,
  TASKS_DIR,
  TaskDefinitionError,
} from '../../functions/tasks/definition';
import { CliError, ExitCode } from '../errors';
import { PACKAGE_ROOT } from '../stage-template';

/** What every `inferbus models` subcommand reads: where the manifests and the task folders are. */
export interface ModelsLocation {
  /** `<modelsDir>/<task>/manifest.json` (default: the package's `models/`). */
  readonly modelsDir?: string;
  /** `<tasksDir>/<task>/` holds a task's datasets (default: the package's `functions/tasks/`). */
  readonly tasksDir?: string;
}

export const defaultModelsDir = (): string => join(PACKAGE_ROOT, 'models');

export interface LoadedManifest {
  readonly manifest: Manifest;
  /** The manifest's file. */
  readonly path: string;
  /** Its folder, where the model files are. */
  readonly dir: string;
  /** The JSON as read, for rewriting it with only the calibrated fields changed. */
  readonly raw: Record<string, unknown>;
}

/** `target` is a task id (`<modelsDir>/<id>/manifest.json`) or a manifest file's path. */
export function manifestPathOf(target: string, location: ModelsLocation): string {
  const looksLikePath = target.endsWith('.json') || target.includes('/') || target.includes('\\');
  if (looksLikePath) return resolve(target);
  const path = join(resolve(location.modelsDir ?? defaultModelsDir()), target, MANIFEST_FILE);
  if (!existsSync(path)) {
    throw new CliError(
      `no manifest for task "${target}" at ${path}; name a task under ${location.modelsDir ?? defaultModelsDir()} (inferbus models list) or give a manifest file's path`,
      ExitCode.Usage,
    );
  }
  return path;
}

export async function readManifest(target: string, location: ModelsLocation): Promise<LoadedManifest> {
  const path = manifestPathOf(target, location);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read ${path} as JSON: ${(error as Error).message}`, ExitCode.Usage);
  }
  try {
    return {
      manifest: parseManifest(raw, path),
      path,
      dir: dirname(path),
      raw: raw as Record<string, unknown>,
    };
  } catch (error) {
    throw new CliError((error as Error).message, ExitCode.Usage);
  }
}

/** Labelled rows for calibration: `--data` (NDJSON lines) or the task's validation and test splits. */
export interface LabelledData {
  readonly source: string;
  readonly validation: readonly LabelledExample[];
  /** Absent with --data: then nothing is measured on a held-out split. */
  readonly test?: readonly LabelledExample[];
}

export async function loadLabelled(
  taskId: string,
  options: { data?: string } & ModelsLocation,
): Promise<LabelledData> {
  if (options.data !== undefined) {
    const file = resolve(options.data);
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new CliError(`--data ${options.data}: no such file`, ExitCode.Usage);
    }
    try {
      return { source: options.data, validation: await readExamples(file) };
    } catch (error) {
      throw new CliError((error as Error).message, ExitCode.Usage);
    }
  }
  try {
    const definition = await loadTaskDefinition(taskId, options.tasksDir ?? TASKS_DIR);
    const splits = await definition.loadSplits();
    return { source: `task ${taskId}'s validation split`, validation: splits.validation, test: splits.test };
  } catch (error) {
    if (error instanceof TaskDefinitionError) {
      throw new CliError(
        `${error.message}; or pass --data <file.ndjson> with one {"id", "label", "text"|"features"} object per line`,
        ExitCode.Usage,
      );
    }
    throw error;
  }
}

/** Each example's label as an index into `labels`; an unknown label names the example and the labels. */
export function truthOf(
  examples: readonly LabelledExample[],
  labels: readonly string[],
  source: string,
): Int32Array {
  return Int32Array.from(examples, (example) => {
    const index = labels.indexOf(example.label);
    if (index < 0) {
      throw new CliError(
        `${source}: example ${example.id} has label "${example.label}", the task's labels are ${labels.join(', ')}`,
        ExitCode.Usage,
      );
    }
    return index;
  });
}

/** Scores inputs in batches: [N, K] probabilities (NaN rows were refused by the encoder) and the time it took. */
export async function scoreAll(
  scorer: ModelScorer,
  inputs: readonly TaskInput[],
  batchSize: number,
): Promise<{ probabilities: Float32Array; rejected: Map<number, string>; ms: number }> {
  const k = scorer.labels.length;
  const probabilities = new Float32Array(inputs.length * k);
  const rejected = new Map<number, string>();
  const started = performance.now();
  for (let from = 0; from < inputs.length; from += batchSize) {
    const batch = await scorer.score(inputs.slice(from, from + batchSize));
    probabilities.set(batch.probabilities, from * k);
    for (const [index, reason] of batch.rejected) rejected.set(from + index, reason);
  }
  return { probabilities, rejected, ms: performance.now() - started };
}

export const percent = (x: number, digits = 2): string => `${(x * 100).toFixed(digits)}%`;

/** Opens one model of a manifest for scoring: its file must have the manifest's sha256. */
export async function openModel(dir: string, entry: ModelEntry, manifest: Manifest): Promise<ModelScorer> {
  const path = join(dir, entry.file);
  const hint = `run inferbus models validate ${manifest.task.id}`;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CliError(`cannot read model ${entry.name} at ${path} (${(error as Error).message}); ${hint}`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256)
    throw new CliError(`${new ModelIntegrityError(path, entry.sha256, actual).message}; ${hint}`);
  try {
    return await ModelScorer.create(bytes, entry, manifest.task);
  } catch (error) {
    throw new CliError(`model ${entry.name}: ${(error as Error).message}; ${hint}`);
  }
}
