/**
 * `npm run models:train`: trains the spam task's tier 1, tier 2 and INT8 tier 2 on the SpamAssassin
 * corpus, exports them to ONNX, calibrates the cascades on validation (`inferbus models calibrate`'s
 * default objective), measures everything on test through the serving path (the manifest's encoder +
 * onnxruntime-node), and writes models/spam/*.onnx, manifest.json (schema v2) and the reference
 * outputs the tests compare against. Same inputs, same bytes: see MODEL_CARD.md. The spam specifics
 * (corpus, features, networks) are here; metrics, calibration, the ONNX writer and the manifest
 * writing are task-agnostic (metrics.ts, cascades.ts, onnx.ts, write.ts).
 */
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
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  type ModelEntry,
  manifestSchema,
  type TaskEntry,
} from '../../functions/core/manifest';
import { MANIFEST_FILE, ModelScorer, sha256Hex } from '../../functions/inference/model';
import { DATASET_NAME, loadSplits, type Message } from '../../functions/tasks/spam/dataset';
import { SPLIT_BOUNDS, SPLIT_SALT } from '../../functions/tasks/spam/split';
import { trainedCascades } from './cascades';
import { modelMetrics } from './metrics';
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
import { writeTaskModels } from './write';

export const MODELS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

const SEED = 20020822;
const TIER2_DIM = 48;
const TIER2_HIDDEN = 64;
const TASK: TaskEntry = {
  id: 'spam',
  description: 'spam/ham triage of raw e-mail messages (headers + body)',
  labels: ['ham', 'spam'],
  positiveLabel: 'spam',
  input: { kind: 'text' },
};
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
  // Label indices in TASK.labels order: the corpus's 0 = ham, 1 = spam.
  const truth = {
    validation: Int32Array.from(splits.validation, (m) => m.label),
    test: Int32Array.from(splits.test, (m) => m.label),
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
  const spamOf = (probabilities: Float32Array) => probabilities.filter((_, i) => i % 2 === 1);
  const inputs = (messages: readonly Message[]) => messages.map((m) => ({ text: m.text }));
  const entries: ModelEntry[] = [];
  const probabilities = {
    validation: new Map<string, Float32Array>(),
    test: new Map<string, Float32Array>(),
  };
  for (const [name, bytes] of Object.entries(files) as [keyof typeof files, Uint8Array][]) {
    const spec = specs[name];
    const described = {
      name,
      file: `${name}.onnx`,
      sha256: sha256Hex(bytes),
      bytes: bytes.length,
      opset: OPSET,
      precision: name === 'tier2-int8' ? 'int8' : 'float32',
      inputs: [
        { name: 'ids', dtype: 'int32', shape: ['N', spec.maxLength] },
        { name: 'weights', dtype: 'float32', shape: ['N', spec.maxLength] },
      ],
      encoder: {
        kind: 'hashed-bag',
        ...spec,
        headers: [...spec.headers],
        fingerprint: featureFingerprint(spec),
      },
      output: { name: 'score', dtype: 'float32', shape: ['N'], kind: 'sigmoid-binary' },
    } satisfies Omit<ModelEntry, 'metrics'>;
    const scorer = await ModelScorer.create(bytes, described, TASK);
    const onnxSample = spamOf((await scorer.score(inputs(sample))).probabilities);
    const diff = maxAbsDiff(onnxSample, tfjsSample[name]);
    if (!(diff <= EXPORT_TOLERANCE)) throw new Error(`${name}: onnxruntime differs from tfjs by ${diff}`);
    const scored = {
      validation: (await scorer.score(inputs(splits.validation))).probabilities,
      test: (await scorer.score(inputs(splits.test))).probabilities,
    };
    await timeBatches(name, scorer, splits.test);
    await scorer.release();
    probabilities.validation.set(name, scored.validation);
    probabilities.test.set(name, scored.test);
    const entry: ModelEntry = {
      ...described,
      metrics: {
        validation: modelMetrics(scored.validation, truth.validation, TASK.labels, TASK.positiveLabel),
        test: modelMetrics(scored.test, truth.test, TASK.labels, TASK.positiveLabel),
      },
    };
    entries.push(entry);
    log(
      `${name}: ${bytes.length} bytes, max |onnx - tfjs| ${diff.toExponential(2)}, ` +
        `test accuracy ${entry.metrics?.test.accuracy}, F1 ${entry.metrics?.test.f1}, PR-AUC ${entry.metrics?.test.prAuc}`,
    );
  }

  const cascades = trainedCascades(
    [
      ['tier1', 'tier2'],
      ['tier1', 'tier2-int8'],
    ],
    {
      labels: TASK.labels,
      ...(TASK.positiveLabel === undefined ? {} : { positiveLabel: TASK.positiveLabel }),
      validation: { truth: truth.validation, probabilities: probabilities.validation },
      test: { truth: truth.test, probabilities: probabilities.test },
    },
  );
  for (const { entry, met } of cascades) {
    log(
      `cascade ${entry.tiers.join(' -> ')}: threshold ${entry.thresholds.join(', ')}${met ? '' : ' (objective not met)'}, ` +
        `escalation ${entry.escalationRate?.test} on test, test accuracy ${entry.metrics?.test.accuracy}`,
    );
  }

  const manifest: Manifest = manifestSchema.parse({
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    task: TASK,
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
    cascades: cascades.map((c) => c.entry),
  } satisfies Manifest);

  const dir = await writeTaskModels({
    modelsDir: MODELS_DIR,
    manifest,
    files: Object.fromEntries(Object.entries(files).map(([name, bytes]) => [`${name}.onnx`, bytes])),
    extraJson: { [REFERENCE_FILE]: reference },
  });
  log(`wrote ${Object.keys(files).length} models, ${MANIFEST_FILE} and ${REFERENCE_FILE} to ${dir}`);
}

/** Printed, not stored: timings vary by machine and would make the manifest nondeterministic. */
async function timeBatches(name: string, scorer: ModelScorer, messages: Message[]): Promise<void> {
  const batches: { text: string }[][] = [];
  for (let i = 0; i + 32 <= messages.length; i += 32)
    batches.push(messages.slice(i, i + 32).map((m) => ({ text: m.text })));
  const start = performance.now();
  for (const batch of batches) await scorer.score(batch);
  const ms = (performance.now() - start) / batches.length;
  log(`${name}: ${ms.toFixed(2)} ms per batch of 32 (encoder + session.run, 1 intra-op thread)`);
}

await main();
