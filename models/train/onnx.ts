import onnxProto from 'onnx-proto';
import type { FeatureSpec } from '../../functions/core/features';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

export const OPSET = 17;
/** IR version 8 is the one that goes with opset 17 (ONNX 1.12). */
const IR_VERSION = 8;

export type Initializer = onnxProto.onnx.ITensorProto;
export type Node = onnxProto.onnx.INodeProto;

function bytesOf(data: Float32Array | Int8Array | BigInt64Array): Uint8Array {
  // ONNX raw_data is little-endian, as are x64 and arm64.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

export function floatTensor(name: string, dims: number[], data: Float32Array): Initializer {
  return { name, dims, dataType: DataType.FLOAT, rawData: bytesOf(data) };
}

export function int8Tensor(name: string, dims: number[], data: Int8Array): Initializer {
  return { name, dims, dataType: DataType.INT8, rawData: bytesOf(data) };
}

export function int64Tensor(name: string, dims: number[], values: number[]): Initializer {
  return { name, dims, dataType: DataType.INT64, rawData: bytesOf(BigInt64Array.from(values.map(BigInt))) };
}

export function node(
  opType: string,
  input: string[],
  output: string[],
  attribute: onnxProto.onnx.IAttributeProto[] = [],
): Node {
  return { opType, input, output, name: output[0] ?? opType, attribute };
}

export const intAttr = (name: string, i: number) => ({ name, type: AttributeType.INT, i });

function valueInfo(
  name: string,
  elemType: number,
  dims: (string | number)[],
): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export const INPUT_IDS = 'ids';
export const INPUT_WEIGHTS = 'weights';
export const OUTPUT_SCORE = 'score';

/** An ONNX tensor type for a manifest dtype. */
const ELEM_TYPES = { float32: DataType.FLOAT, int32: DataType.INT32, int64: DataType.INT64 } as const;

export interface GraphValueSpec {
  readonly name: string;
  readonly dtype: keyof typeof ELEM_TYPES;
  /** Strings are dynamic dimensions (e.g. "N"), as in the manifest's tensor shapes. */
  readonly shape: readonly (string | number)[];
}

/**
 * Any task's model as ONNX bytes (opset 17, IR 8): the graph's declared inputs and outputs, in the
 * manifest's terms, its nodes and its initializers. Same arguments, same bytes.
 */
export function onnxModel(graph: {
  name: string;
  doc: string;
  inputs: readonly GraphValueSpec[];
  outputs: readonly GraphValueSpec[];
  nodes: Node[];
  initializers: Initializer[];
}): Uint8Array {
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'inferbus models/train',
    producerVersion: '1',
    graph: {
      name: graph.name,
      docString: graph.doc,
      node: graph.nodes,
      initializer: graph.initializers,
      input: graph.inputs.map((v) => valueInfo(v.name, ELEM_TYPES[v.dtype], [...v.shape])),
      output: graph.outputs.map((v) => valueInfo(v.name, ELEM_TYPES[v.dtype], [...v.shape])),
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

function model(
  graphName: string,
  doc: string,
  spec: FeatureSpec,
  nodes: Node[],
  initializer: Initializer[],
): Uint8Array {
  const L = spec.maxLength;
  return onnxModel({
    name: graphName,
    doc,
    inputs: [
      { name: INPUT_IDS, dtype: 'int32', shape: ['N', L] },
      { name: INPUT_WEIGHTS, dtype: 'float32', shape: ['N', L] },
    ],
    outputs: [{ name: OUTPUT_SCORE, dtype: 'float32', shape: ['N'] }],
    nodes,
    initializers: initializer,
  });
}

/**
 * A linear classifier over a feature vector: probabilities [N, K] = softmax(x [N, D] · w [D, K] + b),
 * the output kind "probabilities" (or "logits" with `softmax: false`). For numeric-vector tasks and
 * for tests that need a real model of any label count.
 */
export function linearSoftmaxOnnx(options: {
  weights: Float32Array;
  bias: Float32Array;
  features: number;
  inputName?: string;
  outputName?: string;
  softmax?: boolean;
}): Uint8Array {
  const d = options.features;
  const k = options.bias.length;
  if (options.weights.length !== d * k) {
    throw new Error(
      `linearSoftmaxOnnx: weights hold ${options.weights.length} values, [${d}, ${k}] needs ${d * k}`,
    );
  }
  const input = options.inputName ?? 'x';
  const output = options.outputName ?? 'probabilities';
  const softmax = options.softmax ?? true;
  return onnxModel({
    name: 'linear',
    doc: `inferbus linear classifier: ${d} features -> ${k} labels`,
    inputs: [{ name: input, dtype: 'float32', shape: ['N', d] }],
    outputs: [{ name: output, dtype: 'float32', shape: ['N', k] }],
    nodes: [
      node('Gemm', [input, 'w', 'b'], [softmax ? 'logits' : output]),
      ...(softmax ? [node('Softmax', ['logits'], [output], [intAttr('axis', 1)])] : []),
    ],
    initializers: [floatTensor('w', [d, k], options.weights), floatTensor('b', [k], options.bias)],
  });
}

/** pooled[n] = sum_l weights[n, l] * rows[n, l, :] as a batched [1, L] x [L, D] MatMul. */
function weightedSum(weights: string, rows: string, pooled: string): Node[] {
  return [
    node('Unsqueeze', [weights, 'axis_1'], [`${weights}_row`]),
    node('MatMul', [`${weights}_row`, rows], [`${pooled}_3d`]),
    node('Squeeze', [`${pooled}_3d`, 'axis_1'], [pooled]),
  ];
}

/** The shared tail: pooled [N, D] -> Gemm -> Relu -> Gemm -> [N] -> Sigmoid. */
function mlpHead(pooled: string): Node[] {
  return [
    node('Gemm', [pooled, 'w1', 'b1'], ['hidden_pre']),
    node('Relu', ['hidden_pre'], ['hidden']),
    node('Gemm', ['hidden', 'w2', 'b2'], ['logit_2d']),
    node('Reshape', ['logit_2d', 'shape_n'], ['logit']),
    node('Sigmoid', ['logit'], [OUTPUT_SCORE]),
  ];
}

/** Logistic regression over hashed buckets: sigmoid(sum_l weights[n,l] * table[ids[n,l]] + bias). */
export function tier1Onnx(spec: FeatureSpec, table: Float32Array, bias: number): Uint8Array {
  return model(
    'tier1',
    'inferbus tier 1: hashed-bag logistic regression; score = P(spam)',
    spec,
    [
      node('Gather', ['table', INPUT_IDS], ['rows'], [intAttr('axis', 0)]),
      node('Mul', ['rows', INPUT_WEIGHTS], ['weighted']),
      node('ReduceSum', ['weighted', 'axis_1'], ['pooled'], [intAttr('keepdims', 0)]),
      node('Add', ['pooled', 'bias'], ['logit']),
      node('Sigmoid', ['logit'], [OUTPUT_SCORE]),
    ],
    [
      floatTensor('table', [spec.vocabSize], table),
      floatTensor('bias', [], Float32Array.of(bias)),
      int64Tensor('axis_1', [1], [1]),
    ],
  );
}

export interface MlpWeights {
  dim: number;
  hidden: number;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

function mlpInitializers(w: MlpWeights): Initializer[] {
  return [
    floatTensor('w1', [w.dim, w.hidden], w.w1),
    floatTensor('b1', [w.hidden], w.b1),
    floatTensor('w2', [w.hidden, 1], w.w2),
    floatTensor('b2', [1], w.b2),
    int64Tensor('axis_1', [1], [1]),
    int64Tensor('shape_n', [1], [-1]),
  ];
}

/** Embedding bag [V, D] -> weighted sum -> MLP. */
export function tier2Onnx(spec: FeatureSpec, table: Float32Array, mlp: MlpWeights): Uint8Array {
  return model(
    'tier2',
    'inferbus tier 2: hashed embedding bag + ReLU MLP; score = P(spam)',
    spec,
    [
      node('Gather', ['table', INPUT_IDS], ['rows'], [intAttr('axis', 0)]),
      ...weightedSum(INPUT_WEIGHTS, 'rows', 'pooled'),
      ...mlpHead('pooled'),
    ],
    [floatTensor('table', [spec.vocabSize, mlp.dim], table), ...mlpInitializers(mlp)],
  );
}

export interface QuantizedTable {
  /** [V, D], symmetric per row: table[v, d] ~= q[v, d] * scale[v]. */
  q: Int8Array;
  /** [V] */
  scale: Float32Array;
}

/** Per-row symmetric INT8: hashed rows differ widely in norm, so one scale per row keeps rare rows exact enough. */
export function quantizeRows(table: Float32Array, rows: number, dim: number): QuantizedTable {
  const q = new Int8Array(rows * dim);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(table[r * dim + d] ?? 0));
    const s = Math.fround(max > 0 ? max / 127 : 1);
    scale[r] = s;
    for (let d = 0; d < dim; d++) {
      q[r * dim + d] = Math.max(-127, Math.min(127, Math.round((table[r * dim + d] ?? 0) / s)));
    }
  }
  return { q, scale };
}

export function dequantizeRows(t: QuantizedTable, dim: number): Float32Array {
  const out = new Float32Array(t.q.length);
  for (let i = 0; i < t.q.length; i++) out[i] = (t.q[i] ?? 0) * (t.scale[Math.floor(i / dim)] ?? 0);
  return out;
}

/**
 * INT8 embedding: gather the int8 rows and their scales, fold the scales into the bag weights
 * (weights[n,l] * scale[ids[n,l]]), so only the gathered rows are ever converted to float.
 */
export function tier2Int8Onnx(spec: FeatureSpec, table: QuantizedTable, mlp: MlpWeights): Uint8Array {
  return model(
    'tier2_int8',
    'inferbus tier 2, INT8 embedding table (per-row scales); score = P(spam)',
    spec,
    [
      node('Gather', ['table_q', INPUT_IDS], ['rows_q'], [intAttr('axis', 0)]),
      node('Cast', ['rows_q'], ['rows'], [intAttr('to', DataType.FLOAT)]),
      node('Gather', ['table_scale', INPUT_IDS], ['row_scales'], [intAttr('axis', 0)]),
      node('Mul', [INPUT_WEIGHTS, 'row_scales'], ['scaled_weights']),
      ...weightedSum('scaled_weights', 'rows', 'pooled'),
      ...mlpHead('pooled'),
    ],
    [
      int8Tensor('table_q', [spec.vocabSize, mlp.dim], table.q),
      floatTensor('table_scale', [spec.vocabSize], table.scale),
      ...mlpInitializers(mlp),
    ],
  );
}
