import { mulberry32, shuffled, uniform } from '../prng';

/**
 * A small dense network trained in plain TypeScript (float64, one thread, fixed order), so the
 * same seed gives the same weights on every machine. `hidden: []` is logistic regression.
 * Layers: x [D] -> (Dense -> ReLU) per hidden width -> Dense [1] -> sigmoid = P(anomaly).
 */
export interface Dense {
  readonly inputs: number;
  readonly outputs: number;
  /** Row-major [inputs, outputs], as ONNX Gemm/MatMul takes it. */
  readonly w: Float64Array;
  readonly b: Float64Array;
}

export interface Mlp {
  readonly layers: readonly Dense[];
}

export interface MlpOptions {
  readonly hidden: readonly number[];
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** L2 penalty on weight matrices (not biases), per example. */
  readonly l2: number;
  /** Loss weight of a positive example; negatives weigh 1 (class imbalance). */
  readonly positiveWeight: number;
  readonly seed: number;
}

export function initMlp(inputs: number, hidden: readonly number[], seed: number): Mlp {
  const random = mulberry32(seed);
  const widths = [inputs, ...hidden, 1];
  const layers: Dense[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    const fanIn = widths[i] as number;
    const fanOut = widths[i + 1] as number;
    const limit = hidden.length === 0 ? 0 : Math.sqrt(6 / (fanIn + fanOut));
    layers.push({
      inputs: fanIn,
      outputs: fanOut,
      w: Float64Array.from(uniform(fanIn * fanOut, limit, random)),
      b: new Float64Array(fanOut),
    });
  }
  return { layers };
}

/** Activations of every layer for one row (the last is the logit). */
function forwardRow(net: Mlp, x: ArrayLike<number>): Float64Array[] {
  const acts: Float64Array[] = [Float64Array.from(x)];
  net.layers.forEach((layer, l) => {
    const input = acts[l] as Float64Array;
    const out = Float64Array.from(layer.b);
    for (let i = 0; i < layer.inputs; i++) {
      const v = input[i] as number;
      if (v === 0) continue;
      for (let j = 0; j < layer.outputs; j++)
        out[j] = (out[j] as number) + v * (layer.w[i * layer.outputs + j] as number);
    }
    if (l < net.layers.length - 1)
      for (let j = 0; j < out.length; j++) out[j] = Math.max(0, out[j] as number);
    acts.push(out);
  });
  return acts;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** P(anomaly) for each row of x ([N, D] row-major). */
export function predictMlp(net: Mlp, x: Float64Array, n: number): Float64Array {
  const d = net.layers[0]?.inputs ?? 0;
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++)
    out[r] = sigmoid((forwardRow(net, x.subarray(r * d, (r + 1) * d)).at(-1) as Float64Array)[0] as number);
  return out;
}

/** Adam on shuffled mini-batches of weighted binary cross-entropy; returns the final weighted train loss. */
export function trainMlp(net: Mlp, x: Float64Array, y: ArrayLike<0 | 1>, options: MlpOptions): number {
  const n = y.length;
  const d = net.layers[0]?.inputs ?? 0;
  const params = net.layers.flatMap((layer) => [layer.w, layer.b]);
  const grads = params.map((p) => new Float64Array(p.length));
  const m = params.map((p) => new Float64Array(p.length));
  const v = params.map((p) => new Float64Array(p.length));
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  const random = mulberry32(options.seed);
  let step = 0;
  let epochLoss = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = shuffled(n, random);
    epochLoss = 0;
    for (let start = 0; start < n; start += options.batchSize) {
      const rows = order.subarray(start, Math.min(n, start + options.batchSize));
      for (const g of grads) g.fill(0);
      let weightSum = 0;
      for (const r of rows) {
        const label = y[r] as number;
        const weight = label === 1 ? options.positiveWeight : 1;
        weightSum += weight;
        const acts = forwardRow(net, x.subarray(r * d, (r + 1) * d));
        const z = (acts.at(-1) as Float64Array)[0] as number;
        const p = sigmoid(z);
        epochLoss +=
          weight * (label === 1 ? -Math.log(Math.max(p, 1e-12)) : -Math.log(Math.max(1 - p, 1e-12)));
        let delta = Float64Array.of(weight * (p - label));
        for (let l = net.layers.length - 1; l >= 0; l--) {
          const layer = net.layers[l] as Dense;
          const input = acts[l] as Float64Array;
          const gw = grads[2 * l] as Float64Array;
          const gb = grads[2 * l + 1] as Float64Array;
          const back = new Float64Array(layer.inputs);
          for (let i = 0; i < layer.inputs; i++) {
            const a = input[i] as number;
            let sum = 0;
            for (let j = 0; j < layer.outputs; j++) {
              const dj = delta[j] as number;
              gw[i * layer.outputs + j] = (gw[i * layer.outputs + j] as number) + a * dj;
              sum += (layer.w[i * layer.outputs + j] as number) * dj;
            }
            // ReLU's derivative: the input was an activation of the layer below (none for x itself).
            back[i] = l > 0 && a <= 0 ? 0 : sum;
          }
          for (let j = 0; j < layer.outputs; j++) gb[j] = (gb[j] as number) + (delta[j] as number);
          delta = back;
        }
      }
      step++;
      const lr = options.learningRate;
      params.forEach((p, k) => {
        const g = grads[k] as Float64Array;
        const mk = m[k] as Float64Array;
        const vk = v[k] as Float64Array;
        const isMatrix = k % 2 === 0;
        for (let i = 0; i < p.length; i++) {
          const gi = (g[i] as number) / weightSum + (isMatrix ? options.l2 * (p[i] as number) : 0);
          mk[i] = beta1 * (mk[i] as number) + (1 - beta1) * gi;
          vk[i] = beta2 * (vk[i] as number) + (1 - beta2) * gi * gi;
          const mHat = (mk[i] as number) / (1 - beta1 ** step);
          const vHat = (vk[i] as number) / (1 - beta2 ** step);
          p[i] = (p[i] as number) - (lr * mHat) / (Math.sqrt(vHat) + eps);
        }
      });
    }
  }
  return epochLoss / n;
}
