import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZSTD_WASM } from '../../functions/core/packing/codec';
import { LAYER_PLATFORMS } from '../../layers/onnxruntime-layer';
import { PROJECT_ROOT } from '../../lib/app';
import { synth } from './synth';

type Resource = { Type: string; Properties: Record<string, any>; Metadata?: Record<string, string> };

describe('assets for sam local invoke', () => {
  it('gives every function and layer the aws:asset:path metadata SAM reads, pointing at a real folder', () => {
    const { template, outdir } = synth();
    const withCode = Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(([, r]) =>
      ['AWS::Lambda::Function', 'AWS::Lambda::LayerVersion'].includes(r.Type),
    );
    expect(withCode.length).toBeGreaterThanOrEqual(4);
    for (const [id, resource] of withCode) {
      const path = resource.Metadata?.['aws:asset:path'];
      expect(path, `${id} aws:asset:path`).toBeTypeOf('string');
      expect(resource.Metadata?.['aws:asset:property']).toBe(
        resource.Type === 'AWS::Lambda::Function' ? 'Code' : 'Content',
      );
      expect(statSync(join(outdir, path as string)).isDirectory()).toBe(true);
    }
  });

  it("bundles the handlers as CommonJS with a source map, onnxruntime-node left external and the pack codec's zstd.wasm beside", () => {
    const { stack, outdir, template } = synth();
    const wasm = readFileSync(join(PROJECT_ROOT, ZSTD_WASM));
    for (const tier of stack.tasks.flatMap((task) => task.tiers)) {
      const id = stack.getLogicalId(tier.function.node.defaultChild as never);
      const dir = join(outdir, template.toJSON().Resources[id].Metadata['aws:asset:path']);
      expect(readdirSync(dir).sort()).toEqual(['index.js', 'index.js.map', 'zstd.wasm']);
      // The very bytes the codec compiles (it reads zstd.wasm from the bundle's own folder).
      expect(readFileSync(join(dir, 'zstd.wasm')).equals(wasm), id).toBe(true);
    }
  });

  it('ships onnxruntime-node for Linux x64 and arm64 only, where Lambda layers are mounted', () => {
    const { stack, outdir, template } = synth();
    const tier = stack.tasks[0]?.tiers[0];
    if (!tier) throw new Error('dev has a tier');
    const layerIds = Object.entries(template.toJSON().Resources as Record<string, Resource>)
      .filter(([, r]) => r.Type === 'AWS::Lambda::LayerVersion')
      .map(([, r]) => join(outdir, r.Metadata?.['aws:asset:path'] as string));
    const ort = layerIds.find((dir) => existsSync(join(dir, 'nodejs', 'node_modules', 'onnxruntime-node')));
    expect(ort, 'onnxruntime layer').toBeDefined();
    const bin = join(ort as string, 'nodejs', 'node_modules', 'onnxruntime-node', 'bin');
    const platforms = readdirSync(bin).flatMap((napi) =>
      readdirSync(join(bin, napi)).flatMap((os) =>
        readdirSync(join(bin, napi, os)).map((arch) => `${os}/${arch}`),
      ),
    );
    expect(platforms.sort()).toEqual(LAYER_PLATFORMS.map((p) => `${p.os}/${p.arch}`).sort());
    expect(
      existsSync(join(ort as string, 'nodejs', 'node_modules', 'onnxruntime-common', 'package.json')),
    ).toBe(true);
    const models = layerIds.find((dir) => existsSync(join(dir, 'models', 'spam', 'manifest.json')));
    expect(models, 'models layer with models/spam/manifest.json').toBeDefined();
    expect(tier.function).toBeDefined();
  });
});
