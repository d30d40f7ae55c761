import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/**
 * A linear softmax classifier as ONNX bytes, built the way any exporter would write one:
 * `probabilities = Softmax(x · W + b)` with input `x` float32 [N, D] and output [N, K]. The
 * bring-your-own-model test uses it as "the user's model": nothing about it is inferbus-specific.
 */
export function softmaxClassifierOnnx(weights: Float32Array, bias: Float32Array, dims: number): Uint8Array {
  const classes = bias.length;
  if (weights.length !== dims * classes) throw new Error(`weights must be ${dims}x${classes}`);
  const tensor = (name: string, shape: number[], data: Float32Array) => ({
    name,
    dims: shape,
    dataType: FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
  });
  const info = (name: string, shape: (string | number)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'byom-example',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'softmax-classifier',
      input: [info('x', ['N', dims])],
      output: [info('probabilities', ['N', classes])],
      initializer: [tensor('W', [dims, classes], weights), tensor('b', [classes], bias)],
      node: [
        { opType: 'Gemm', input: ['x', 'W', 'b'], output: ['logits'], name: 'gemm' },
        {
          opType: 'Softmax',
          input: ['logits'],
          output: ['probabilities'],
          name: 'softmax',
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }],
        },
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
