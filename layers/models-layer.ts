import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Builds one task's models Lambda layer: `models/<task>/manifest.json` and every file it lists,
 * placed under `models/<task>/` in the layer, so Lambda mounts them at /opt/models/<task> (the
 * handlers read `<MODELS_DIR>/<task>/`, MODELS_DIR defaulting to /opt/models). One layer per task:
 * a function carries only its own task's models.
 */
export const MODELS_LAYER_SUBDIR = 'models';
export const MANIFEST_FILE = 'manifest.json';

export class ModelsLayerError extends Error {
  override readonly name = 'ModelsLayerError';
}

/** The manifest and the model files it lists, relative to the task's models folder. */
export function modelFilesOf(taskDir: string): string[] {
  const manifestPath = join(taskDir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) {
    throw new ModelsLayerError(
      `${manifestPath} is missing. Train the task's models (\`npm run models:train\` for the shipped tasks).`,
    );
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { models?: { file?: unknown }[] };
  const files = (manifest.models ?? []).map((model) => model.file);
  if (files.length === 0 || files.some((file) => typeof file !== 'string')) {
    throw new ModelsLayerError(`${manifestPath} lists no models (each needs a "file").`);
  }
  return [MANIFEST_FILE, ...new Set(files as string[])];
}

/** Copies the task's manifest and its model files from `taskDir` into `outputDir/models/<task>`. */
export function buildModelsLayer(taskDir: string, task: string, outputDir: string): void {
  const target = join(outputDir, MODELS_LAYER_SUBDIR, task);
  mkdirSync(target, { recursive: true });
  for (const file of modelFilesOf(taskDir)) {
    const from = join(taskDir, file);
    if (!existsSync(from)) {
      throw new ModelsLayerError(
        `${from} is listed in ${join(taskDir, MANIFEST_FILE)} but missing. Train the task's models again or fix the manifest.`,
      );
    }
    copyFileSync(from, join(target, file));
  }
}
