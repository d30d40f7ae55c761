import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Builds the onnxruntime-node Lambda layer from the installed package:
 * `nodejs/node_modules/{onnxruntime-node,onnxruntime-common}` with the native binaries for
 * Linux x64 and arm64 only. onnxruntime-node picks its binary by `process.arch`, so the same
 * layer serves arm64 Lambda and the x64 local runner; macOS and Windows binaries (about 220 MB)
 * are left out to stay far inside Lambda's 250 MB unzipped limit.
 */
export const LAYER_PLATFORMS = [
  { os: 'linux', arch: 'x64' },
  { os: 'linux', arch: 'arm64' },
] as const;

const require = createRequire(import.meta.url);

/** The installed package's root (some packages do not export `./package.json`). */
export function onnxRuntimePackageDir(name: 'onnxruntime-node' | 'onnxruntime-common'): string {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, 'package.json')) || !dir.endsWith(name)) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`Cannot find the ${name} package; run \`npm ci\`.`);
    dir = parent;
  }
  return dir;
}

export function onnxRuntimeVersion(): string {
  const pkg = JSON.parse(
    readFileSync(join(onnxRuntimePackageDir('onnxruntime-node'), 'package.json'), 'utf8'),
  );
  return String(pkg.version);
}

/** Copies the layer contents into `outputDir` (the layer root, mounted at /opt). */
export function buildOnnxRuntimeLayer(outputDir: string): void {
  const modules = join(outputDir, 'nodejs', 'node_modules');
  const nodeDir = onnxRuntimePackageDir('onnxruntime-node');
  const target = join(modules, 'onnxruntime-node');
  mkdirSync(target, { recursive: true });
  for (const entry of ['package.json', 'dist', 'lib', 'LICENSE', 'README.md']) {
    const from = join(nodeDir, entry);
    if (existsSync(from)) cpSync(from, join(target, entry), { recursive: true });
  }
  const binRoot = join(nodeDir, 'bin');
  for (const napi of readdirSync(binRoot)) {
    for (const { os, arch } of LAYER_PLATFORMS) {
      const from = join(binRoot, napi, os, arch);
      if (!existsSync(from)) {
        throw new Error(
          `onnxruntime-node ${onnxRuntimeVersion()} has no ${os}/${arch} binary at ${from}; ` +
            'reinstall it with `npm ci` or pin a version that ships Linux binaries.',
        );
      }
      cpSync(from, join(target, 'bin', napi, os, arch), { recursive: true });
    }
  }
  cpSync(onnxRuntimePackageDir('onnxruntime-common'), join(modules, 'onnxruntime-common'), {
    recursive: true,
  });
}
