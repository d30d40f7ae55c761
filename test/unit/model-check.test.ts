import { describe, expect, it } from 'vitest';
import type { ModelEntry } from '../../functions/core/manifest';
import { type FileFacts, modelMismatches, nonDistributionRows } from '../../functions/core/task/model-check';

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
