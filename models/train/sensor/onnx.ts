import onnxProto from 'onnx-proto';
import { floatTensor, int8Tensor, int64Tensor, OPSET } from '../onnx';
import type { Mlp } from './mlp';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
/** IR version 8 goes with opset 17 (ONNX 1.12), as in ../onnx.ts. */
const IR_VERSION = 8;

export const INPUT_X = 'x';
export const OUTPUT_SCORE = 'score';

type Node = onnxProto.onnx.INodeProto;
type Initializer = onnxProto.onnx.ITensorProto;

const node = (opType: string, input: string[], output: string[]): Node => ({
  opType,
  input,
  output,
  name: output[0] ?? opType,
});

function valueInfo(name: string, dims: (string | number)[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** Symmetric per-tensor INT8: w ~= q * scale. */
function quantize(w: Float64Array): { q: Int8Array; scale: number } {
  let max = 0;
  for (const v of w) max = Math.max(max, Math.abs(v));
  const scale = Math.fround(max > 0 ? max / 127 : 1);
  return { q: Int8Array.from(w, (v) => Math.max(-127, Math.min(127, Math.round(v / scale)))), scale };
}

/** The network with its matrices stored as INT8 and dequantized (what the INT8 graph computes). */
export function dequantized(net: Mlp): Mlp {
  return {
    layers: net.layers.map((layer) => {
      const { q, scale } = quantize(layer.w);
      return { ...layer, w: Float64Array.from(q, (v) => v * scale) };
    }),
  };
}

/**
 * x [N, D] float32 -> (Gemm -> Relu) per hidden layer -> Gemm [N, 1] -> Reshape [N] -> Sigmoid:
 * score [N] = P(anomaly), output kind sigmoid-binary. With `int8`, each weight matrix is stored as
 * INT8 with one scale and dequantized inside the graph (DequantizeLinear) before its Gemm.
 */
export function mlpOnnx(
  graphName: string,
  doc: string,
  net: Mlp,
  options: { int8?: boolean } = {},
): Uint8Array {
  const nodes: Node[] = [];
  const initializer: Initializer[] = [int64Tensor('shape_n', [1], [-1])];
  let current = INPUT_X;
  net.layers.forEach((layer, l) => {
    const w = `w${l + 1}`;
    const b = `b${l + 1}`;
    if (options.int8) {
      const { q, scale } = quantize(layer.w);
      initializer.push(
        int8Tensor(`${w}_q`, [layer.inputs, layer.outputs], q),
        floatTensor(`${w}_scale`, [], Float32Array.of(scale)),
      );
      nodes.push(node('DequantizeLinear', [`${w}_q`, `${w}_scale`], [w]));
    } else {
      initializer.push(floatTensor(w, [layer.inputs, layer.outputs], Float32Array.from(layer.w)));
    }
    initializer.push(floatTensor(b, [layer.outputs], Float32Array.from(layer.b)));
    const last = l === net.layers.length - 1;
    const pre = last ? 'logit_2d' : `h${l + 1}_pre`;
    nodes.push(node('Gemm', [current, w, b], [pre]));
    if (!last) {
      nodes.push(node('Relu', [pre], [`h${l + 1}`]));
      current = `h${l + 1}`;
    }
  });
  nodes.push(node('Reshape', ['logit_2d', 'shape_n'], ['logit']), node('Sigmoid', ['logit'], [OUTPUT_SCORE]));
  const inputs = net.layers[0]?.inputs ?? 0;
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'inferbus models/train/sensor',
    producerVersion: '1',
    graph: {
      name: graphName,
      docString: doc,
      node: nodes,
      initializer,
      input: [valueInfo(INPUT_X, ['N', inputs])],
      output: [valueInfo(OUTPUT_SCORE, ['N'])],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}
