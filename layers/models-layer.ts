import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Builds the models Lambda layer: `models/manifest.json` and every file it lists, placed under
 * `models/` in the layer so Lambda mounts them at /opt/models (the handlers' default MODELS_DIR).
 */
export const MODELS_LAYER_SUBDIR = 'models';
export const MANIFEST_FILE = 'manifest.json';

export class ModelsLayerError extends Error {
  override readonly name = 'ModelsLayerError';
}

export function modelFilesOf(modelsDir: string): string[] {
  const manifestPath = join(modelsDir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) {
    throw new ModelsLayerError(
      `${manifestPath} is missing. Run \`npm run models:train\` to create the models.`,
    );
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { models?: { file?: unknown }[] };
  const files = (manifest.models ?? []).map((model) => model.file);
  if (files.length === 0 || files.some((file) => typeof file !== 'string')) {
    throw new ModelsLayerError(`${manifestPath} lists no models (each needs a "file").`);
  }
  return [MANIFEST_FILE, ...(files as string[])];
}

/** Copies the manifest and its model files into `outputDir/models`. */
export function buildModelsLayer(modelsDir: string, outputDir: string): void {
  const target = join(outputDir, MODELS_LAYER_SUBDIR);
  mkdirSync(target, { recursive: true });
  for (const file of modelFilesOf(modelsDir)) {
    const from = join(modelsDir, file);
    if (!existsSync(from)) {
      throw new ModelsLayerError(
        `${from} is listed in the manifest but missing. Run \`npm run models:train\`.`,
      );
    }
    copyFileSync(from, join(target, file));
  }
}
