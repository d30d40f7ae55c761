import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../../functions/core/manifest';
import { stableJson } from '../../functions/core/stable-json';
import { MANIFEST_FILE, parseManifest, sha256Hex } from '../../functions/inference/model';

/**
 * Writes a task's trained models to `<modelsDir>/<task>/`: the ONNX files, the manifest (schema v2,
 * validated as serving will read it, every sha256 and size checked against the bytes written) and
 * any extra JSON files (e.g. reference outputs), in the repository's JSON layout.
 */
export async function writeTaskModels(options: {
  modelsDir: string;
  manifest: Manifest;
  files: Readonly<Record<string, Uint8Array>>;
  extraJson?: Readonly<Record<string, unknown>>;
}): Promise<string> {
  const { manifest } = options;
  const dir = join(options.modelsDir, manifest.task.id);
  const path = join(dir, MANIFEST_FILE);
  parseManifest(manifest, path);
  for (const model of manifest.models) {
    const bytes = options.files[model.file];
    if (!bytes) throw new Error(`model ${model.name}: no bytes for ${model.file}`);
    if (sha256Hex(bytes) !== model.sha256 || bytes.length !== model.bytes) {
      throw new Error(`model ${model.name}: the manifest's sha256/bytes do not describe ${model.file}`);
    }
  }
  await mkdir(dir, { recursive: true });
  for (const [file, bytes] of Object.entries(options.files)) await writeFile(join(dir, file), bytes);
  await writeFile(path, stableJson(manifest));
  for (const [file, value] of Object.entries(options.extraJson ?? {}))
    await writeFile(join(dir, file), stableJson(value));
  return dir;
}
