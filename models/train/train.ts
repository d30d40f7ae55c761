/**
 * `npm run models:train`: trains tier 1, tier 2 and INT8 tier 2 on the SpamAssassin corpus, exports
 * them to ONNX, calibrates the cascade on validation, measures everything on test through the
 * serving path (features + onnxruntime-node), and writes models/*.onnx, manifest.json and the
 * reference outputs the tests compare against. Same inputs, same bytes: see MODEL_CARD.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {
  encodeBatch,
  type FeatureSpec,
  featureFingerprint,
  TIER1_FEATURES,
  TIER2_FEATURES,
} from '../../functions/core/features';
import {
  type CascadeEntry,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  type ModelEntry,
  manifestSchema,
} from '../../functions/core/manifest';
import { SPLIT_BOUNDS, SPLIT_SALT } from '../../functions/tasks/spam/split';
import { MANIFEST_FILE, ModelScorer, sha256Hex } from '../../functions/inference/model';
import { DATASET_NAME, loadSplits, type Message } from './data';
import { stableJson } from './json';
import { binaryMetrics, calibrateThreshold, decide, runCascade } from './metrics';
import {
  initBackend,
  type LabelledBatch,
  predict,
  type Tier1Weights,
  type Tier2Weights,
  tier1Init,
  tier1Logits,
  tier2Init,
  tier2Logits,
  train,
} from './net';
import { dequantizeRows, OPSET, quantizeRows, tier1Onnx, tier2Int8Onnx, tier2Onnx } from './onnx';
import { REFERENCE_FILE, REFERENCE_SAMPLE, type ReferenceOutputs } from './reference';

export const MODELS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

const SEED = 20020822;
const TIER2_DIM = 48;
const TIER2_HIDDEN = 64;
/** Cascade accuracy may trail tier 2 alone by at most this much on validation. */
const MAX_ACCURACY_LOSS = 0.005;
/** Training aborts if onnxruntime and tfjs disagree by more than this on any reference message. */
const EXPORT_TOLERANCE = 1e-4;

const started = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);

function labelled(messages: Message[], spec: FeatureSpec): LabelledBatch {
  return {
    features: encodeBatch(
      messages.map((m) => m.text),
      spec,
    ),
    labels: Float32Array.from(messages, (m) => m.label),
  };
}

function readTier1(w: Tier1Weights) {
  return { table: w.table.dataSync() as Float32Array, bias: w.bias.dataSync()[0] ?? 0 };
}

function readTier2(w: Tier2Weights) {
  return {
    table: w.table.dataSync() as Float32Array,
    mlp: {
      dim: TIER2_DIM,
      hidden: TIER2_HIDDEN,
      w1: w.w1.dataSync() as Float32Array,
      b1: w.b1.dataSync() as Float32Array,
      w2: w.w2.dataSync() as Float32Array,
      b2: w.b2.dataSync() as Float32Array,
    },
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] ?? 0) - (b[i] ?? Number.NaN)));
  return max;
}

async function main(): Promise<void> {
  const backend = await initBackend();
  log(`tfjs ${tf.version.tfjs}, backend ${backend}`);

  const splits = loadSplits();
  log(
    `corpus split: train ${splits.train.length}, validation ${splits.validation.length}, test ${splits.test.length}`,
  );
  const labels = {
    validation: splits.validation.map((m) => m.label),
    test: splits.test.map((m) => m.label),
  };

  const t1 = {
    train: labelled(splits.train, TIER1_FEATURES),
    validation: labelled(splits.validation, TIER1_FEATURES),
  };
  const t2 = {
    train: labelled(splits.train, TIER2_FEATURES),
    validation: labelled(splits.validation, TIER2_FEATURES),
  };
  log('features extracted');

  log('training tier 1 (hashed logistic regression)');
  const tier1 = tier1Init(TIER1_FEATURES.vocabSize);
  const fit1 = train(tier1Logits, tier1, t1.train, t1.validation, {
    epochs: 12,
    batchSize: 32,
    learningRate: 0.05,
    l2: 0,
    seed: SEED,
    log,
  });
  log(`tier 1: best epoch ${fit1.bestEpoch}, validation loss ${fit1.validationLoss.toFixed(4)}`);

  log(
    `training tier 2 (embedding bag ${TIER2_FEATURES.vocabSize}x${TIER2_DIM} -> ReLU ${TIER2_HIDDEN} -> sigmoid)`,
  );
  const tier2 = tier2Init(TIER2_FEATURES.vocabSize, TIER2_DIM, TIER2_HIDDEN, SEED);
  const fit2 = train(tier2Logits, tier2, t2.train, t2.validation, {
    epochs: 5,
    batchSize: 32,
    learningRate: 0.001,
    l2: 0,
    seed: SEED + 1,
    log,
  });
  log(`tier 2: best epoch ${fit2.bestEpoch}, validation loss ${fit2.validationLoss.toFixed(4)}`);

  const w1 = readTier1(tier1);
  const w2 = readTier2(tier2);
  const quantized = quantizeRows(w2.table, TIER2_FEATURES.vocabSize, TIER2_DIM);
  const files = {
    tier1: tier1Onnx(TIER1_FEATURES, w1.table, w1.bias),
    tier2: tier2Onnx(TIER2_FEATURES, w2.table, w2.mlp),
    'tier2-int8': tier2Int8Onnx(TIER2_FEATURES, quantized, w2.mlp),
  };
  log('exported ONNX');

  // The training framework's own forward pass on a fixed sample, for the export check and the tests.
  const step = Math.max(1, Math.floor(splits.test.length / REFERENCE_SAMPLE));
  const sample = splits.test.filter((_, i) => i % step === 0).slice(0, REFERENCE_SAMPLE);
  const sampleTexts = sample.map((m) => m.text);
  const dequantized = tf.tensor2d(dequantizeRows(quantized, TIER2_DIM), [
    TIER2_FEATURES.vocabSize,
    TIER2_DIM,
  ]);
  const tfjsSample: Record<keyof typeof files, Float32Array> = {
    tier1: predict(tier1Logits, tier1, encodeBatch(sampleTexts, TIER1_FEATURES)),
    tier2: predict(tier2Logits, tier2, encodeBatch(sampleTexts, TIER2_FEATURES)),
    'tier2-int8': predict(
      tier2Logits,
      { ...tier2, table: dequantized },
      encodeBatch(sampleTexts, TIER2_FEATURES),
    ),
  };
  const reference: ReferenceOutputs = {
    producer: `@tensorflow/tfjs ${tf.version.tfjs} (${backend}); tier2-int8 = tier2 with the dequantized table`,
    scores: Object.fromEntries(
      sample.map((m, i) => [
        m.key,
        Object.fromEntries(
          Object.entries(tfjsSample).map(([name, scores]) => [name, scores[i] ?? Number.NaN]),
        ),
      ]),
    ),
  };

  const specs: Record<keyof typeof files, FeatureSpec> = {
    tier1: TIER1_FEATURES,
    tier2: TIER2_FEATURES,
    'tier2-int8': TIER2_FEATURES,
  };
  const entries: ModelEntry[] = [];
  const scores: Record<string, { validation: Float32Array; test: Float32Array }> = {};
  for (const [name, bytes] of Object.entries(files) as [keyof typeof files, Uint8Array][]) {
    const spec = specs[name];
    const entry: ModelEntry = {
      name,
      tier: name === 'tier1' ? 1 : 2,
      file: `${name}.onnx`,
      sha256: sha256Hex(bytes),
      bytes: bytes.length,
      opset: OPSET,
      precision: name === 'tier2-int8' ? 'int8' : 'float32',
      inputs: [
        { name: 'ids', dtype: 'int32', shape: ['N', spec.maxLength] },
        { name: 'weights', dtype: 'float32', shape: ['N', spec.maxLength] },
      ],
      output: { name: 'score', dtype: 'float32', shape: ['N'], kind: 'spam-probability' },
      labels: ['ham', 'spam'],
      features: { ...spec, headers: [...spec.headers], fingerprint: featureFingerprint(spec) },
      metrics: { validation: binaryMetrics([], []), test: binaryMetrics([], []) },
    };
    const scorer = await ModelScorer.create(bytes, entry);
    const onnxSample = await scorer.scoreBatch(sampleTexts);
    const diff = maxAbsDiff(onnxSample, tfjsSample[name]);
    if (!(diff <= EXPORT_TOLERANCE)) throw new Error(`${name}: onnxruntime differs from tfjs by ${diff}`);
    const s = {
      validation: await scorer.scoreBatch(splits.validation.map((m) => m.text)),
      test: await scorer.scoreBatch(splits.test.map((m) => m.text)),
    };
    await timeBatches(name, scorer, splits.test);
    await scorer.release();
    scores[name] = s;
    entry.metrics = {
      validation: binaryMetrics(decide(s.validation), labels.validation),
      test: binaryMetrics(decide(s.test), labels.test),
    };
    entries.push(entry);
    log(
      `${name}: ${bytes.length} bytes, max |onnx - tfjs| ${diff.toExponential(2)}, ` +
        `test accuracy ${entry.metrics.test.accuracy}, F1 ${entry.metrics.test.f1}`,
    );
  }

  const cascades: CascadeEntry[] = [];
  for (const tier2Name of ['tier2', 'tier2-int8']) {
    const one = scores.tier1;
    const two = scores[tier2Name];
    if (!one || !two) throw new Error(`missing scores for ${tier2Name}`);
    const threshold = calibrateThreshold(
      one.validation,
      two.validation,
      labels.validation,
      MAX_ACCURACY_LOSS,
    );
    const validation = runCascade(one.validation, two.validation, threshold);
    const test = runCascade(one.test, two.test, threshold);
    cascades.push({
      tier1: 'tier1',
      tier2: tier2Name,
      threshold,
      maxAccuracyLoss: MAX_ACCURACY_LOSS,
      escalationRate: { validation: validation.escalationRate, test: test.escalationRate },
      metrics: {
        validation: binaryMetrics(validation.predicted, labels.validation),
        test: binaryMetrics(test.predicted, labels.test),
      },
    });
    const strict = runCascade(
      one.test,
      two.test,
      calibrateThreshold(one.validation, two.validation, labels.validation, 0),
    );
    log(
      `  (for reference, no accuracy loss allowed on validation would escalate ${strict.escalationRate} of test)`,
    );
    log(
      `cascade tier1 -> ${tier2Name}: threshold ${threshold.toFixed(6)}, escalation ${test.escalationRate} on test, ` +
        `test accuracy ${cascades.at(-1)?.metrics.test.accuracy}`,
    );
  }

  const manifest: Manifest = manifestSchema.parse({
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    task: 'spam/ham triage of raw e-mail messages (headers + body)',
    dataset: {
      name: DATASET_NAME,
      split: {
        method: `fnv1a32("${SPLIT_SALT}" + "<group>/<id>") % 100: [0,${SPLIT_BOUNDS.train}) train, [${SPLIT_BOUNDS.train},${SPLIT_BOUNDS.validation}) validation, rest test`,
        counts: {
          train: splits.train.length,
          validation: splits.validation.length,
          test: splits.test.length,
        },
      },
    },
    training: { framework: `@tensorflow/tfjs ${tf.version.tfjs}`, backend, seed: SEED },
    models: entries,
    cascades,
  } satisfies Manifest);

  await mkdir(MODELS_DIR, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(MODELS_DIR, `${name}.onnx`), bytes);
  await writeFile(join(MODELS_DIR, MANIFEST_FILE), stableJson(manifest));
  await writeFile(join(MODELS_DIR, REFERENCE_FILE), stableJson(reference));
  log(`wrote ${Object.keys(files).length} models, ${MANIFEST_FILE} and ${REFERENCE_FILE} to ${MODELS_DIR}`);
}

/** Printed, not stored: timings vary by machine and would make the manifest nondeterministic. */
async function timeBatches(name: string, scorer: ModelScorer, messages: Message[]): Promise<void> {
  const batches: string[][] = [];
  for (let i = 0; i + 32 <= messages.length; i += 32)
    batches.push(messages.slice(i, i + 32).map((m) => m.text));
  const start = performance.now();
  for (const batch of batches) await scorer.scoreBatch(batch);
  const ms = (performance.now() - start) / batches.length;
  log(`${name}: ${ms.toFixed(2)} ms per batch of 32 (features + session.run, 1 intra-op thread)`);
}

await main();
