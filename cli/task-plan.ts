import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cascadeFor, type Manifest, modelNamed } from '../functions/core/manifest';
import { isValidThreshold, minThreshold } from '../functions/core/task/decide';
import {
  MANIFEST_FILE,
  ModelIntegrityError,
  ModelScorer,
  parseManifest,
  sha256Hex,
} from '../functions/inference/model';
import { CliError, ExitCode } from './errors';
import { type DeployedTier, PACKAGE_ROOT, type StageDeployment } from './stage-template';

/**
 * Which tasks a command works on and how each task's cascade is set up (models, thresholds), from
 * the flags, the stage's synthesized template and the task's manifest, in that order. Shared by
 * replay and cost so both run the cascade the stage serves.
 */

/** The project's models: `models/<task>/manifest.json`. */
export const MODELS_DIR = join(PACKAGE_ROOT, 'models');

export const manifestPathOf = (task: string, modelsDir = MODELS_DIR): string =>
  join(modelsDir, task, MANIFEST_FILE);

/** Tasks with a manifest under `modelsDir`, sorted. */
export function modelTasks(modelsDir = MODELS_DIR): string[] {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(modelsDir, d.name, MANIFEST_FILE)))
    .map((d) => d.name)
    .sort();
}

/**
 * The tasks to act on: `requested` (each must be one of `available`), else all of `available`
 * (the stage's tasks in its order, or the project's models).
 */
export function chooseTasks(
  requested: readonly string[],
  available: readonly string[],
  from: string,
): string[] {
  if (available.length === 0) {
    throw new CliError(
      `no task found (${from}); run \`npx cdk synth\` or add models/<task>/manifest.json`,
      ExitCode.Environment,
    );
  }
  const unknown = requested.filter((t) => !available.includes(t));
  if (unknown.length > 0) {
    throw new CliError(
      `--task ${unknown.join(', ')}: not a task of ${from} (it has ${available.join(', ')})`,
      ExitCode.Usage,
    );
  }
  return requested.length > 0 ? [...new Set(requested)] : [...available];
}

/** The tasks a deployment serves (template order), else the project's models. */
export function availableTasks(deployment: StageDeployment | undefined): { tasks: string[]; from: string } {
  if (deployment && deployment.tasks.size > 0) {
    return { tasks: [...deployment.tasks.keys()], from: `the stage template ${deployment.templatePath}` };
  }
  return { tasks: modelTasks(), from: `the project's models (${MODELS_DIR}); no synthesized stage template` };
}

/** A task's deployed tiers in order, or undefined when the stage does not serve it. */
export function deployedTiers(
  deployment: StageDeployment | undefined,
  task: string,
): DeployedTier[] | undefined {
  const tiers = deployment?.tasks.get(task);
  if (!tiers || tiers.size === 0) return undefined;
  return [...tiers.values()].sort((a, b) => a.tier - b.tier);
}

/** Reads and validates a v2 manifest; any problem is a usage error naming the file. */
export async function readManifestFile(path: string): Promise<Manifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new CliError(
      code === 'ENOENT'
        ? `manifest ${path} does not exist (a manifest.json; its model files are read from its folder)`
        : `cannot read manifest ${path}: ${(error as Error).message}`,
      ExitCode.Usage,
    );
  }
  try {
    return parseManifest(raw, path);
  } catch (error) {
    throw new CliError((error as Error).message, ExitCode.Usage);
  }
}

export interface CascadePlan {
  readonly task: string;
  readonly manifestPath: string;
  readonly manifest: Manifest;
  /** Model names, tier 1 first. */
  readonly models: readonly string[];
  /** One per tier but the last. */
  readonly thresholds: readonly number[];
  readonly thresholdFrom: string;
}

/**
 * The cascade of `manifest` to run: the models the stage serves for its task (MODEL_NAME per
 * tier) when this manifest has them all, else the manifest's first cascade. Thresholds: `override`
 * (every tier but the last), else the stage's CASCADE_THRESHOLD numbers when `useStageThresholds`,
 * else the manifest's cascade over these models.
 */
export function planCascade(
  manifestPath: string,
  manifest: Manifest,
  deployment: StageDeployment | undefined,
  { override, useStageThresholds }: { override?: number; useStageThresholds: boolean },
): CascadePlan {
  const task = manifest.task.id;
  const k = manifest.task.labels.length;
  const served = deployedTiers(deployment, task);
  const servedModels = served?.map((t) => t.modelName);
  const has = (name: string | undefined) =>
    name !== undefined && manifest.models.some((m) => m.name === name);
  const models =
    servedModels?.every(has) === true
      ? (servedModels as string[])
      : (manifest.cascades[0]?.tiers ??
        (servedModels?.every((n) => n !== undefined) ? (servedModels as string[]) : undefined));
  if (!models) {
    throw new CliError(
      `${manifestPath} has no cascade and the stage serves no models of task ${task}: add a cascade to the manifest (inferbus models calibrate) or synthesize the stage`,
      ExitCode.Usage,
    );
  }
  for (const name of models) {
    try {
      modelNamed(manifest, name);
    } catch (error) {
      throw new CliError(`${manifestPath}: ${(error as Error).message}`, ExitCode.Usage);
    }
  }
  const count = models.length - 1;
  const calibrated = cascadeFor(manifest, models)?.thresholds;
  let thresholds: number[];
  let from: string;
  if (override !== undefined) {
    if (!isValidThreshold(override, k)) {
      throw new CliError(
        `--threshold ${override} is outside [1/${k}, 1] = [${minThreshold(k).toFixed(4)}, 1] for task ${task} (${k} labels)`,
        ExitCode.Usage,
      );
    }
    thresholds = Array.from({ length: count }, () => override);
    from = '--threshold';
  } else {
    const stage = useStageThresholds && served ? served.slice(0, count).map((t) => t.threshold) : [];
    thresholds = Array.from({ length: count }, (_, i) => stage[i] ?? calibrated?.[i] ?? Number.NaN);
    const missing = thresholds.findIndex((t) => !Number.isFinite(t));
    if (missing >= 0) {
      throw new CliError(
        `${manifestPath} calibrated no cascade over ${models.join(' -> ')} and the stage sets no threshold for tier ${missing + 1}: pass --threshold`,
        ExitCode.Usage,
      );
    }
    const fromStage = stage.some((t) => t !== undefined);
    from = fromStage
      ? `stage CASCADE_THRESHOLD${stage.every((t) => t !== undefined) ? '' : ' and manifest cascade'}`
      : 'manifest cascade';
  }
  return { task, manifestPath, manifest, models, thresholds, thresholdFrom: from };
}

/**
 * Loads (and sha256-verifies) a plan's models from its manifest's folder, tier 1 first; a bad file
 * is a usage error. The folder need not be named after the task (a candidate can live anywhere).
 */
export async function loadPlanScorers(plan: CascadePlan): Promise<ModelScorer[]> {
  const scorers: ModelScorer[] = [];
  try {
    for (const name of plan.models) {
      const entry = modelNamed(plan.manifest, name);
      const path = join(dirname(plan.manifestPath), entry.file);
      const bytes = await readFile(path).catch((cause) => {
        throw new Error(`cannot read model file ${path}`, { cause });
      });
      const actual = sha256Hex(bytes);
      if (actual !== entry.sha256) throw new ModelIntegrityError(path, entry.sha256, actual);
      scorers.push(await ModelScorer.create(bytes, entry, plan.manifest.task, { intraOpNumThreads: 1 }));
    }
  } catch (error) {
    await Promise.all(scorers.map((s) => s.release()));
    throw new CliError(
      `cannot load the models of ${plan.manifestPath}: ${(error as Error).message}`,
      ExitCode.Usage,
    );
  }
  return scorers;
}
