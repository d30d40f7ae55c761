/**
 * `npm run models:train:sensor`: trains the sensor task's tiers on the single-hop sensor-network
 * readings, exports them to ONNX, measures them through the serving path (the numeric-vector
 * encoder and onnxruntime-node), calibrates the cascade on validation and writes
 * models/sensor/{tier1,tier2}.onnx and manifest.json. Same inputs, same bytes: training is plain
 * TypeScript in float64 on one thread, seeded.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CascadeEntry,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  type ModelEntry,
  manifestSchema,
} from '../../../functions/core/manifest';
import { calibrateCascade, runCascade } from '../../../functions/core/task/calibrate';
import {
  makeEncoder,
  type NumericVectorEncoder,
  type TensorDecl,
} from '../../../functions/core/task/encoders';
import { MANIFEST_FILE, ModelScorer, sha256Hex } from '../../../functions/inference/model';
import type { SensorWindow, SplitName } from '../../../functions/tasks/sensor/split';
import { FEATURE_LENGTH, INDOOR_POSITION, WINDOW } from '../../../functions/tasks/sensor/split';
import {
  DATASET_NAME,
  DESCRIPTION,
  FEATURE_NAMES,
  LABELS,
  POSITIVE_LABEL,
  SPLIT_METHOD,
  sensorSplits,
} from '../../../functions/tasks/sensor/task';
import { OPSET } from '../onnx';
import { cascadeProbabilities, cheapestMatchingF1, F1_OBJECTIVE, sensorMetrics } from './measure';
import { initMlp, type Mlp, type MlpOptions, predictMlp, trainMlp } from './mlp';
import { dequantized, INPUT_X, mlpOnnx, OUTPUT_SCORE } from './onnx';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SENSOR_MODELS_DIR = join(REPO_ROOT, 'models', 'sensor');

const SEED = 20100509;
/** Tier 1 sees the latest two readings and the indoor flag: a linear model over them can weigh the step between them. */
const TIER1_SELECT = [
  INDOOR_POSITION - 4,
  INDOOR_POSITION - 3,
  INDOOR_POSITION - 2,
  INDOOR_POSITION - 1,
  INDOOR_POSITION,
];
const TIER1_HIDDEN: number[] = [];
const TIER2_HIDDEN = [16];
/** onnxruntime (float32) and the float64 trainer may differ by this much on any probability. */
const EXPORT_TOLERANCE = { float32: 1e-4, int8: 1e-2 } as const;
const TIMING_BATCH = 32;

const started = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);

const positive = LABELS.indexOf(POSITIVE_LABEL);
const truthOf = (rows: readonly SensorWindow[]) =>
  Int32Array.from(rows, (w) => (w.anomaly === 1 ? positive : 1 - positive));

/** Per selected position, the training split's mean and standard deviation. */
function standardiser(train: readonly SensorWindow[], select: readonly number[]): NumericVectorEncoder {
  const center = select.map(
    (p) => train.reduce((sum, w) => sum + (w.features[p] as number), 0) / train.length,
  );
  const scale = select.map((p, j) => {
    const variance =
      train.reduce((sum, w) => sum + ((w.features[p] as number) - (center[j] as number)) ** 2, 0) /
      train.length;
    return variance > 0 ? Math.sqrt(variance) : 1;
  });
  return {
    kind: 'numeric-vector',
    length: FEATURE_LENGTH,
    ...(select.length === FEATURE_LENGTH ? {} : { select: [...select] }),
    center: center.map((v) => Math.fround(v)),
    scale: scale.map((v) => Math.fround(v)),
  };
}

/** The encoded rows, exactly as serving computes them (float32), widened for the trainer. */
function encoded(
  encoder: NumericVectorEncoder,
  rows: readonly SensorWindow[],
  decl: TensorDecl,
): Float64Array {
  const batch = makeEncoder(encoder).encode(
    rows.map((w) => ({ features: w.features })),
    [decl],
  );
  if (batch.rejected.length > 0) throw new Error(`training rows rejected: ${batch.rejected[0]?.reason}`);
  return Float64Array.from(batch.feeds[0]?.data as Float32Array);
}

interface Trained {
  readonly name: string;
  readonly doc: string;
  readonly encoder: NumericVectorEncoder;
  readonly net: Mlp;
  readonly bytes: Uint8Array;
  readonly precision: 'float32' | 'int8';
}

function trainTier(
  name: string,
  doc: string,
  splits: Record<SplitName, SensorWindow[]>,
  select: readonly number[],
  options: MlpOptions,
): Trained {
  const encoder = standardiser(splits.train, select);
  const decl: TensorDecl = { name: INPUT_X, dtype: 'float32', shape: ['N', select.length] };
  const x = encoded(encoder, splits.train, decl);
  const net = initMlp(select.length, options.hidden, options.seed);
  const loss = trainMlp(
    net,
    x,
    splits.train.map((w) => w.anomaly),
    options,
  );
  log(
    `${name}: ${[select.length, ...options.hidden, 1].join(' -> ')}, final weighted train loss ${loss.toFixed(4)}`,
  );
  return { name, doc, encoder, net, bytes: mlpOnnx(name, doc, net), precision: 'float32' };
}

function entryOf(model: Trained): ModelEntry {
  const width = model.net.layers[0]?.inputs ?? 0;
  return {
    name: model.name,
    file: `${model.name}.onnx`,
    sha256: sha256Hex(model.bytes),
    bytes: model.bytes.length,
    opset: OPSET,
    precision: model.precision,
    inputs: [{ name: INPUT_X, dtype: 'float32', shape: ['N', width] }],
    encoder: model.encoder,
    output: { name: OUTPUT_SCORE, dtype: 'float32', shape: ['N'], kind: 'sigmoid-binary' },
  };
}

interface Scored {
  readonly entry: ModelEntry;
  readonly validation: Float32Array;
  readonly test: Float32Array;
  /** ms per batch of TIMING_BATCH (encode + session.run), printed only: timings vary by machine. */
  readonly msPerBatch: number;
}

/** Scores both held-out splits through onnxruntime and checks the export against the trainer. */
async function score(model: Trained, splits: Record<SplitName, SensorWindow[]>): Promise<Scored> {
  const entry = entryOf(model);
  const scorer = await ModelScorer.create(model.bytes, entry, { labels: [...LABELS] });
  const run = async (rows: readonly SensorWindow[]) => {
    const { probabilities, rejected } = await scorer.score(rows.map((w) => ({ features: w.features })));
    if (rejected.size > 0) throw new Error(`${model.name}: ${rejected.size} rows rejected`);
    return probabilities;
  };
  const validation = await run(splits.validation);
  const test = await run(splits.test);
  const reference = predictMlp(
    model.net,
    encoded(model.encoder, splits.test, entry.inputs[0] as TensorDecl),
    splits.test.length,
  );
  let diff = 0;
  reference.forEach((p, row) => {
    diff = Math.max(diff, Math.abs(p - (test[row * LABELS.length + positive] as number)));
  });
  if (!(diff <= EXPORT_TOLERANCE[model.precision]))
    throw new Error(`${model.name}: onnxruntime differs from the trainer by ${diff}`);
  const batches: { features: number[] }[][] = [];
  for (let i = 0; i + TIMING_BATCH <= splits.test.length; i += TIMING_BATCH)
    batches.push(splits.test.slice(i, i + TIMING_BATCH).map((w) => ({ features: w.features })));
  for (const batch of batches) await scorer.score(batch); // warm-up: the first pass pays for JIT and allocation
  const t0 = performance.now();
  for (const batch of batches) await scorer.score(batch);
  const msPerBatch = (performance.now() - t0) / batches.length;
  await scorer.release();
  log(
    `${model.name}: ${model.bytes.length} bytes, max |onnx - trainer| ${diff.toExponential(2)} on test, ${msPerBatch.toFixed(3)} ms per batch of ${TIMING_BATCH}`,
  );
  const truth = { validation: truthOf(splits.validation), test: truthOf(splits.test) };
  entry.metrics = {
    validation: sensorMetrics(validation, truth.validation, LABELS, positive),
    test: sensorMetrics(test, truth.test, LABELS, positive),
  };
  log(`${model.name}: validation ${JSON.stringify(entry.metrics.validation)}`);
  log(`${model.name}: test ${JSON.stringify(entry.metrics.test)}`);
  return { entry, validation, test, msPerBatch };
}

async function main(): Promise<void> {
  const splits = sensorSplits();
  for (const split of ['train', 'validation', 'test'] as const) {
    const rows = splits[split];
    log(`${split}: ${rows.length} windows, ${rows.filter((w) => w.anomaly === 1).length} anomalous`);
  }
  const positives = splits.train.filter((w) => w.anomaly === 1).length;
  // Balanced class weights: the anomalies weigh as much in the loss as all normal windows together.
  const positiveWeight = (splits.train.length - positives) / positives;
  log(`positive weight ${positiveWeight.toFixed(2)} (negatives / positives in train)`);
  const common = { epochs: 20, batchSize: 64, learningRate: 0.01, l2: 1e-3, positiveWeight };

  const tier1 = trainTier(
    'tier1',
    'inferbus sensor tier 1: logistic regression over the latest two readings and the indoor flag; score = P(anomaly)',
    splits,
    TIER1_SELECT,
    { ...common, hidden: TIER1_HIDDEN, seed: SEED },
  );
  const tier2 = trainTier(
    'tier2',
    `inferbus sensor tier 2: ReLU MLP over the whole ${WINDOW}-reading window; score = P(anomaly)`,
    splits,
    Array.from({ length: FEATURE_LENGTH }, (_, i) => i),
    { ...common, hidden: TIER2_HIDDEN, seed: SEED + 1 },
  );
  const one = await score(tier1, splits);
  const two = await score(tier2, splits);

  // INT8 is measured, not shipped, unless it pays: the graph is a few hundred parameters.
  const int8: Trained = {
    ...tier2,
    name: 'tier2-int8',
    net: dequantized(tier2.net),
    bytes: mlpOnnx('tier2-int8', `${tier2.doc}; INT8 weights`, tier2.net, { int8: true }),
    precision: 'int8',
  };
  const eight = await score(int8, splits);
  log(
    `INT8 tier 2: ${int8.bytes.length} bytes vs ${tier2.bytes.length}, ${eight.msPerBatch.toFixed(3)} vs ${two.msPerBatch.toFixed(3)} ms per batch, ` +
      `test F1 ${eight.entry.metrics?.test.f1} vs ${two.entry.metrics?.test.f1}`,
  );

  const truth = { validation: truthOf(splits.validation), test: truthOf(splits.test) };
  const calibration = calibrateCascade({
    labels: LABELS,
    positiveLabel: POSITIVE_LABEL,
    truth: truth.validation,
    tiers: [one.validation, two.validation],
    costs: [one.msPerBatch, two.msPerBatch],
  });
  const { point, met } = cheapestMatchingF1(calibration);
  if (!met)
    log(
      `no threshold reaches tier 2's validation F1 ${calibration.lastTierAlone.f1}; taking the best-F1 one`,
    );
  for (const p of (calibration.curves[0] ?? []).slice(0, 8)) {
    log(
      `  threshold ${p.threshold}: escalation ${p.escalationRate.toFixed(4)}, F1 ${p.f1.toFixed(4)}, accuracy ${p.accuracy.toFixed(5)}, compute share ${p.computeShare?.toFixed(3)}`,
    );
  }
  const threshold = point.threshold;
  const cascadeOn = (split: 'validation' | 'test') => {
    const tiers = [one[split], two[split]] as const;
    const outcome = runCascade(
      { labels: LABELS, positiveLabel: POSITIVE_LABEL, truth: truth[split], tiers },
      [threshold],
    );
    return {
      escalationRate: Math.round(outcome.escalationRate * 1e6) / 1e6,
      metrics: sensorMetrics(
        cascadeProbabilities(tiers, outcome.answeredBy, LABELS.length),
        truth[split],
        LABELS,
        positive,
      ),
    };
  };
  const validation = cascadeOn('validation');
  const test = cascadeOn('test');
  const cascade: CascadeEntry = {
    tiers: ['tier1', 'tier2'],
    thresholds: [threshold],
    objective: F1_OBJECTIVE,
    escalationRate: { validation: validation.escalationRate, test: test.escalationRate },
    metrics: { validation: validation.metrics, test: test.metrics },
  };
  log(
    `cascade threshold ${threshold}: escalation ${validation.escalationRate} validation, ${test.escalationRate} test`,
  );
  log(`cascade: validation ${JSON.stringify(validation.metrics)}`);
  log(`cascade: test ${JSON.stringify(test.metrics)}`);

  const manifest = manifestSchema.parse({
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    task: {
      id: 'sensor',
      description: DESCRIPTION,
      labels: [...LABELS],
      positiveLabel: POSITIVE_LABEL,
      input: { kind: 'features', length: FEATURE_LENGTH, names: [...FEATURE_NAMES] },
    },
    dataset: {
      name: DATASET_NAME,
      split: {
        method: SPLIT_METHOD,
        counts: {
          train: splits.train.length,
          validation: splits.validation.length,
          test: splits.test.length,
        },
      },
    },
    training: {
      framework: 'inferbus models/train/sensor (plain TypeScript, float64, Adam)',
      backend: 'node',
      seed: SEED,
    },
    models: [one.entry, two.entry],
    cascades: [cascade],
  } satisfies Manifest);

  await mkdir(SENSOR_MODELS_DIR, { recursive: true });
  await writeFile(join(SENSOR_MODELS_DIR, 'tier1.onnx'), tier1.bytes);
  await writeFile(join(SENSOR_MODELS_DIR, 'tier2.onnx'), tier2.bytes);
  const manifestPath = join(SENSOR_MODELS_DIR, MANIFEST_FILE);
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  // Laid out by the repository's formatter, so the generated file passes `biome check` unchanged.
  execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', manifestPath], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  log(`wrote tier1.onnx, tier2.onnx and ${MANIFEST_FILE} to ${SENSOR_MODELS_DIR}`);
}

await main();
