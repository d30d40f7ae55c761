import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  checkManifestVersion,
  type Manifest,
  type ModelEntry,
  manifestSchema,
} from '../../functions/core/manifest';

/** The manifest of a task: `<modelsDir>/<task>/manifest.json` (functions/inference/model.ts reads the same). */
export const TASK_MANIFEST_FILE = 'manifest.json';

/** A model a tier cannot run: the message names the file, the task or the model, and what to do. */
export class TierModelError extends Error {
  override readonly name = 'TierModelError';
}

/**
 * Which model an inference tier runs, taken from its task's manifest: the task (id, labels), the
 * model's name, file and sha256. `InferenceTier` takes one, so a tier cannot name a model its
 * task's manifest does not have, and the models layer ships exactly the task's folder.
 */
export class TierModel {
  /**
   * The model `modelName` of `task`, read from `<modelsDir>/<task>/manifest.json` (schema v2).
   * Throws a TierModelError naming the file for a missing or invalid manifest, a manifest of
   * another task, or a model the manifest does not list.
   */
  static fromManifest(modelsDir: string, task: string, modelName: string): TierModel {
    return TierModel.fromTaskManifest(modelsDir, readTaskManifest(modelsDir, task), modelName);
  }

  /** The model `modelName` of a manifest already read from `<modelsDir>/<its task>/`. */
  static fromTaskManifest(modelsDir: string, manifest: Manifest, modelName: string): TierModel {
    const task = manifest.task.id;
    const entry = manifest.models.find((m) => m.name === modelName);
    if (!entry) {
      throw new TierModelError(
        `task ${task} has no model "${modelName}" in ${manifestPathOf(modelsDir, task)} ` +
          `(it has ${manifest.models.map((m) => m.name).join(', ')}); pick one of those or add the model to the manifest`,
      );
    }
    return new TierModel(resolve(modelsDir, task), manifest, entry);
  }

  /** The task's id (its folder under the models directory). */
  readonly taskId: string;
  /** The manifest's model name (the handler's MODEL_NAME). */
  readonly modelName: string;
  /** The ONNX file, relative to `taskDir`. */
  readonly file: string;
  readonly sha256: string;
  /** The task's labels, in the order the model's output follows. */
  readonly labels: readonly string[];

  private constructor(
    /** Absolute path of the task's models folder: its manifest and model files. */
    readonly taskDir: string,
    /** The whole manifest (cascades, other models), for checks across tiers. */
    readonly manifest: Manifest,
    entry: ModelEntry,
  ) {
    this.taskId = manifest.task.id;
    this.modelName = entry.name;
    this.file = entry.file;
    this.sha256 = entry.sha256;
    this.labels = manifest.task.labels;
  }
}

export const manifestPathOf = (modelsDir: string, task: string): string =>
  join(modelsDir, task, TASK_MANIFEST_FILE);

/** Reads and validates a task's manifest; every problem names the file and what to do about it. */
export function readTaskManifest(modelsDir: string, task: string): Manifest {
  const path = manifestPathOf(modelsDir, task);
  if (!existsSync(path)) {
    throw new TierModelError(
      `${path} is missing: task ${task} has no models. Train them (see models/README or \`inferbus models\`), ` +
        'or remove the task from the stage configuration.',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new TierModelError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  try {
    checkManifestVersion(raw, path);
  } catch (error) {
    throw new TierModelError((error as Error).message);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join('.')}: ${issue.message}`,
    );
    throw new TierModelError(`${path} is not a valid manifest: ${problems.join('; ')}`);
  }
  if (parsed.data.task.id !== task) {
    throw new TierModelError(
      `${path} declares task ${parsed.data.task.id}, but it lies in the folder of task ${task}; a task's folder must carry its own id`,
    );
  }
  return parsed.data;
}
