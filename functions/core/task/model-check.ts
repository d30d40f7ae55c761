import type { ModelEntry, TensorInfo } from '../manifest';

/**
 * What `inferbus models validate` compares: a manifest entry against what its file is. Pure: the
 * caller reads the file's bytes and the graph's declared inputs and outputs (from onnxruntime).
 */
export interface GraphValue {
  readonly name: string;
  /** onnxruntime's type name (float32, int32, int64, ...), or undefined for a non-tensor value. */
  readonly dtype: string | undefined;
  /** Numbers are fixed sizes, strings symbolic (dynamic) dimensions; empty when the graph does not say. */
  readonly shape: readonly (number | string)[];
}

export interface FileFacts {
  readonly sha256: string;
  readonly bytes: number;
  /** The ai.onnx opset the file imports (`onnxOpset`), if it declares one. */
  readonly opset?: number;
  readonly inputs: readonly GraphValue[];
  readonly outputs: readonly GraphValue[];
}

/** One disagreement: the field, what the manifest says and what the file has. */
export interface Mismatch {
  readonly field: string;
  readonly manifest: string;
  readonly file: string;
}

const shapeText = (shape: readonly (number | string)[]): string => `[${shape.join(', ')}]`;

/**
 * Each dimension: a fixed size must be the same; a manifest's named (dynamic) dimension must be
 * dynamic in the graph too, or batches of other sizes fail. A graph that leaves a declared fixed
 * size dynamic accepts it.
 */
function shapesAgree(declared: readonly (number | string)[], actual: readonly (number | string)[]): boolean {
  if (actual.length === 0) return true; // the graph declares no shape: nothing to compare
  if (declared.length !== actual.length) return false;
  return declared.every((dim, i) => {
    const other = actual[i];
    return typeof dim === 'number' ? dim === other || typeof other === 'string' : typeof other === 'string';
  });
}

function tensorMismatches(kind: 'input' | 'output', declared: TensorInfo, actual: GraphValue): Mismatch[] {
  const out: Mismatch[] = [];
  const field = `${kind} ${declared.name}`;
  if (actual.dtype !== declared.dtype) {
    out.push({ field: `${field} dtype`, manifest: declared.dtype, file: actual.dtype ?? 'not a tensor' });
  }
  if (!shapesAgree(declared.shape, actual.shape)) {
    out.push({ field: `${field} shape`, manifest: shapeText(declared.shape), file: shapeText(actual.shape) });
  }
  return out;
}

/** Every way `entry` and its file disagree; empty when they agree. */
export function modelMismatches(entry: ModelEntry, file: FileFacts): Mismatch[] {
  const out: Mismatch[] = [];
  if (file.sha256 !== entry.sha256) out.push({ field: 'sha256', manifest: entry.sha256, file: file.sha256 });
  if (file.bytes !== entry.bytes)
    out.push({ field: 'bytes', manifest: String(entry.bytes), file: String(file.bytes) });
  if (entry.opset !== undefined && file.opset !== entry.opset) {
    const found = file.opset === undefined ? 'none declared' : String(file.opset);
    out.push({ field: 'opset', manifest: String(entry.opset), file: found });
  }
  const graphInputs = new Map(file.inputs.map((v) => [v.name, v]));
  const names = (values: readonly { name: string }[]) => values.map((v) => v.name).join(', ') || '(none)';
  for (const declared of entry.inputs) {
    const actual = graphInputs.get(declared.name);
    if (!actual) {
      out.push({ field: 'input name', manifest: declared.name, file: `inputs are ${names(file.inputs)}` });
      continue;
    }
    out.push(...tensorMismatches('input', declared, actual));
  }
  const declaredNames = new Set(entry.inputs.map((i) => i.name));
  for (const actual of file.inputs) {
    if (!declaredNames.has(actual.name)) {
      out.push({
        field: 'input name',
        manifest: `inputs are ${names(entry.inputs)}`,
        file: `${actual.name} (the graph needs it; nothing would feed it)`,
      });
    }
  }
  const output = file.outputs.find((v) => v.name === entry.output.name);
  if (!output) {
    out.push({
      field: 'output name',
      manifest: entry.output.name,
      file: `outputs are ${names(file.outputs)}`,
    });
  } else {
    out.push(...tensorMismatches('output', entry.output, output));
  }
  return out;
}

/** Rows of [N, K] that are not probability distributions (non-finite, outside [0, 1], not summing to 1). */
export function nonDistributionRows(
  probabilities: ArrayLike<number>,
  labelCount: number,
  skip: ReadonlySet<number>,
): number[] {
  const bad: number[] = [];
  const rows = probabilities.length / labelCount;
  for (let row = 0; row < rows; row++) {
    if (skip.has(row)) continue;
    let sum = 0;
    let valid = true;
    for (let k = 0; k < labelCount; k++) {
      const p = probabilities[row * labelCount + k] as number;
      if (!(Number.isFinite(p) && p >= 0 && p <= 1)) valid = false;
      sum += p;
    }
    if (!valid || Math.abs(sum - 1) > 1e-3) bad.push(row);
  }
  return bad;
}

/**
 * The default-domain (ai.onnx) opset an ONNX file imports, read from the ModelProto's
 * `opset_import` (field 8) without a protobuf library; undefined when it declares none or the bytes
 * are not a ModelProto.
 */
export function onnxOpset(bytes: Uint8Array): number | undefined {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new RangeError('truncated varint');
      const byte = bytes[at++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  const fields = (
    end: number,
    visit: (field: number, wire: number, start: number, length: number) => void,
  ) => {
    while (at < end) {
      const key = varint();
      const wire = key & 7;
      const field = Math.floor(key / 8);
      if (wire === 0) visit(field, wire, at, varint());
      else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else if (wire === 2) {
        const length = varint();
        const start = at;
        visit(field, wire, start, length);
        at = start + length;
      } else throw new RangeError(`wire type ${wire}`);
    }
  };
  let opset: number | undefined;
  try {
    fields(bytes.length, (field, wire, start, length) => {
      if (field !== 8 || wire !== 2) return;
      let domain = '';
      let version: number | undefined;
      fields(start + length, (inner, innerWire, innerStart, value) => {
        if (inner === 1 && innerWire === 2) {
          domain = new TextDecoder().decode(bytes.subarray(innerStart, innerStart + value));
        }
        if (inner === 2 && innerWire === 0) version = value;
      });
      if ((domain === '' || domain === 'ai.onnx') && version !== undefined) opset = version;
    });
  } catch {
    return undefined;
  }
  return opset;
}
