import { describe, expect, it } from 'vitest';
import type { ModelEntry } from '../../functions/core/manifest';
import {
  type FileFacts,
  modelMismatches,
  nonDistributionRows,
  onnxOpset,
} from '../../functions/core/task/model-check';
import { linearSoftmaxOnnx } from '../../models/train/onnx';

const entry = {
  name: 'tier1',
  file: 'tier1.onnx',
  sha256: 'a'.repeat(64),
  bytes: 100,
  precision: 'float32',
  inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 3] }],
  encoder: { kind: 'numeric-vector', length: 3, center: [0, 0, 0], scale: [1, 1, 1] },
  output: { name: 'p', dtype: 'float32', shape: ['N', 2], kind: 'probabilities' },
} as ModelEntry;

const facts = (over: Partial<FileFacts> = {}): FileFacts => ({
  sha256: 'a'.repeat(64),
  bytes: 100,
  inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 3] }],
  outputs: [{ name: 'p', dtype: 'float32', shape: ['batch', 2] }],
  ...over,
});

describe('modelMismatches', () => {
  it('accepts a file that agrees, whatever its dynamic dimensions are called', () => {
    expect(modelMismatches(entry, facts())).toEqual([]);
  });

  it('refuses a graph that fixes a dimension the manifest declares dynamic (other batch sizes would fail)', () => {
    expect(
      modelMismatches(entry, facts({ inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3] }] })),
    ).toEqual([{ field: 'input x shape', manifest: '[N, 3]', file: '[1, 3]' }]);
  });

  it('names size, rank and non-tensor values with both sides', () => {
    const found = modelMismatches(
      entry,
      facts({
        bytes: 99,
        inputs: [{ name: 'x', dtype: undefined, shape: [] }],
        outputs: [{ name: 'p', dtype: 'float32', shape: ['N', 2, 1] }],
      }),
    );
    expect(found).toEqual([
      { field: 'bytes', manifest: '100', file: '99' },
      { field: 'input x dtype', manifest: 'float32', file: 'not a tensor' },
      { field: 'output p shape', manifest: '[N, 2]', file: '[N, 2, 1]' },
    ]);
  });
});

describe('nonDistributionRows', () => {
  it('finds rows that are not finite, leave [0, 1] or do not sum to 1, skipping refused rows', () => {
    const rows = Float32Array.from([0.3, 0.7, 0.6, 0.6, Number.NaN, 1, -0.1, 1.1, 0, 0]);
    expect(nonDistributionRows(rows, 2, new Set([4]))).toEqual([1, 2, 3]);
  });
});

describe('onnxOpset', () => {
  it('reads the ai.onnx opset an ONNX file imports, and undefined from bytes that are not a model', () => {
    const bytes = linearSoftmaxOnnx({ weights: new Float32Array(6), bias: new Float32Array(2), features: 3 });
    expect(onnxOpset(bytes)).toBe(17);
    expect(onnxOpset(Uint8Array.of(1, 2, 3, 255, 255))).toBeUndefined();
    expect(onnxOpset(new Uint8Array(0))).toBeUndefined();
  });

  it('a manifest opset the file does not import is a mismatch', () => {
    expect(modelMismatches({ ...entry, opset: 13 }, facts({ opset: 17 }))).toEqual([
      { field: 'opset', manifest: '13', file: '17' },
    ]);
    expect(modelMismatches({ ...entry, opset: 17 }, facts())).toEqual([
      { field: 'opset', manifest: '17', file: 'none declared' },
    ]);
  });
});
