import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { FeatureBatch } from '../../functions/core/features';
import { mulberry32, shuffled, uniform } from './prng';

/**
 * The wasm backend installs and trains offline (tfjs-node downloads libtensorflow at install time).
 * One thread keeps every reduction in a fixed order, so reruns give bit-identical weights.
 */
export async function initBackend(): Promise<string> {
  setThreadsCount(1);
  const ok = await tf.setBackend('wasm').catch(() => false);
  if (!ok) await tf.setBackend('cpu');
  await tf.ready();
  return tf.getBackend();
}

/**
 * sum_l weights[n, l] * table[ids[n, l]]: [V, D] x [N, L] -> [N, D]. The wasm backend lacks
 * UnsortedSegmentSum (tf.gather's gradient), so the table's gradient is a ScatterNd of the rows.
 */
const embeddingBag = tf.customGrad((...args) => {
  const [table, ids, weights, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  const [n, l] = ids.shape;
  const d = table.shape[1];
  const rows = tf.gather(table, ids.reshape([n * l])).reshape([n, l, d]);
  const value = rows.mul(weights.expandDims(2)).sum(1) as tf.Tensor2D;
  save([ids, weights]);
  return {
    value,
    gradFunc: (dy, saved) => {
      const [savedIds, savedWeights] = saved as [tf.Tensor2D, tf.Tensor2D];
      const updates = dy
        .expandDims(1)
        .mul(savedWeights.expandDims(2))
        .reshape([n * l, d]);
      const dTable = tf.scatterND(savedIds.reshape([n * l, 1]), updates, table.shape);
      return [dTable, tf.zerosLike(savedIds), tf.zerosLike(savedWeights)];
    },
  };
});

/** Plain tensors, so the same forward pass runs trained variables or dequantized copies. */
export interface Tier1Weights {
  /** [V, 1] */
  table: tf.Tensor2D;
  /** [1] */
  bias: tf.Tensor1D;
}

export interface Tier2Weights {
  /** [V, D] */
  table: tf.Tensor2D;
  /** [D, H] */
  w1: tf.Tensor2D;
  /** [H] */
  b1: tf.Tensor1D;
  /** [H, 1] */
  w2: tf.Tensor2D;
  /** [1] */
  b2: tf.Tensor1D;
}

export function tier1Logits(w: Tier1Weights, ids: tf.Tensor2D, weights: tf.Tensor2D): tf.Tensor1D {
  return (embeddingBag(w.table, ids, weights) as tf.Tensor2D).reshape([-1]).add(w.bias);
}

export function tier2Logits(w: Tier2Weights, ids: tf.Tensor2D, weights: tf.Tensor2D): tf.Tensor1D {
  const pooled = embeddingBag(w.table, ids, weights) as tf.Tensor2D;
  const hidden = tf.relu(pooled.matMul(w.w1).add(w.b1));
  return hidden.matMul(w.w2).add(w.b2).reshape([-1]);
}

export function tier1Init(vocabSize: number): Tier1Weights {
  return { table: tf.variable(tf.zeros([vocabSize, 1])), bias: tf.variable(tf.zeros([1])) };
}

export function tier2Init(vocabSize: number, dim: number, hidden: number, seed: number): Tier2Weights {
  const random = mulberry32(seed);
  const glorot = (fanIn: number, fanOut: number) => Math.sqrt(6 / (fanIn + fanOut));
  return {
    table: tf.variable(tf.tensor2d(uniform(vocabSize * dim, 0.01, random), [vocabSize, dim])),
    w1: tf.variable(tf.tensor2d(uniform(dim * hidden, glorot(dim, hidden), random), [dim, hidden])),
    b1: tf.variable(tf.zeros([hidden])),
    w2: tf.variable(tf.tensor2d(uniform(hidden, glorot(hidden, 1), random), [hidden, 1])),
    b2: tf.variable(tf.zeros([1])),
  };
}

export type Forward<W> = (w: W, ids: tf.Tensor2D, weights: tf.Tensor2D) => tf.Tensor1D;

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 penalty on every matrix (tables and dense layers), added to each batch loss. */
  l2: number;
  seed: number;
  log: (line: string) => void;
}

export interface LabelledBatch {
  features: FeatureBatch;
  labels: Float32Array;
}

function slice(
  data: LabelledBatch,
  rows: ArrayLike<number>,
): { ids: tf.Tensor2D; weights: tf.Tensor2D; y: tf.Tensor1D } {
  const L = data.features.maxLength;
  const ids = new Int32Array(rows.length * L);
  const weights = new Float32Array(rows.length * L);
  const y = new Float32Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const src = rows[r] ?? 0;
    ids.set(data.features.ids.subarray(src * L, (src + 1) * L), r * L);
    weights.set(data.features.weights.subarray(src * L, (src + 1) * L), r * L);
    y[r] = data.labels[src] ?? 0;
  }
  return {
    ids: tf.tensor2d(ids, [rows.length, L], 'int32'),
    weights: tf.tensor2d(weights, [rows.length, L]),
    y: tf.tensor1d(y),
  };
}

function loss<W>(
  forward: Forward<W>,
  w: W,
  b: { ids: tf.Tensor2D; weights: tf.Tensor2D; y: tf.Tensor1D },
): tf.Scalar {
  return tf.losses.sigmoidCrossEntropy(b.y, forward(w, b.ids, b.weights)) as tf.Scalar;
}

/** Mean validation log-loss, in fixed batches. */
export function evaluateLoss<W>(forward: Forward<W>, w: W, data: LabelledBatch, batchSize = 256): number {
  let total = 0;
  const n = data.labels.length;
  for (let start = 0; start < n; start += batchSize) {
    const rows = Int32Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
    total += tf.tidy(() => loss(forward, w, slice(data, rows)).mul(rows.length).dataSync()[0] ?? 0);
  }
  return total / n;
}

export function predict<W>(forward: Forward<W>, w: W, features: FeatureBatch, batchSize = 256): Float32Array {
  const out = new Float32Array(features.batchSize);
  const data = { features, labels: new Float32Array(features.batchSize) };
  for (let start = 0; start < features.batchSize; start += batchSize) {
    const rows = Int32Array.from(
      { length: Math.min(batchSize, features.batchSize - start) },
      (_, i) => start + i,
    );
    out.set(
      tf.tidy(() => {
        const b = slice(data, rows);
        return tf.sigmoid(forward(w, b.ids, b.weights)).dataSync();
      }),
      start,
    );
  }
  return out;
}

/**
 * Adam on shuffled mini-batches; keeps the epoch with the lowest validation loss (early stopping
 * by snapshot), so the number of epochs is an upper bound rather than a tuned constant.
 */
export function train<W extends object>(
  forward: Forward<W>,
  w: W,
  trainSet: LabelledBatch,
  validationSet: LabelledBatch,
  opts: TrainOptions,
): { bestEpoch: number; validationLoss: number } {
  const variables = Object.values(w) as tf.Variable[];
  const optimizer = tf.train.adam(opts.learningRate);
  const random = mulberry32(opts.seed);
  const n = trainSet.labels.length;
  let best = { epoch: 0, loss: Number.POSITIVE_INFINITY, snapshot: [] as tf.Tensor[] };
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const order = shuffled(n, random);
    let trainLoss = 0;
    for (let start = 0; start < n; start += opts.batchSize) {
      const rows = order.subarray(start, Math.min(n, start + opts.batchSize));
      const cost = tf.tidy(() => {
        const b = slice(trainSet, rows);
        return optimizer.minimize(
          () => {
            const base = loss(forward, w, b);
            if (opts.l2 === 0) return base;
            return base.add(
              tf.addN(variables.filter((v) => v.rank === 2).map((v) => tf.sum(tf.square(v)))).mul(opts.l2),
            );
          },
          true,
          variables,
        ) as tf.Scalar;
      });
      trainLoss += (cost.dataSync()[0] ?? 0) * rows.length;
      cost.dispose();
    }
    const validationLoss = evaluateLoss(forward, w, validationSet);
    opts.log(
      `  epoch ${epoch}/${opts.epochs}: train loss ${(trainLoss / n).toFixed(4)}, validation loss ${validationLoss.toFixed(4)}`,
    );
    if (validationLoss < best.loss) {
      for (const t of best.snapshot) t.dispose();
      best = { epoch, loss: validationLoss, snapshot: variables.map((v) => v.clone()) };
    }
  }
  variables.forEach((v, i) => {
    const snap = best.snapshot[i];
    if (snap) v.assign(snap);
  });
  for (const t of best.snapshot) t.dispose();
  optimizer.dispose();
  return { bestEpoch: best.epoch, validationLoss: best.loss };
}
