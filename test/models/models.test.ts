import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureFingerprint, TIER1_FEATURES, TIER2_FEATURES } from '../../functions/core/features';
import type { Manifest } from '../../functions/core/manifest';
import {
  FeatureMismatchError,
  loadManifest,
  loadModel,
  ManifestError,
  ModelIntegrityError,
  type ModelScorer,
  sha256Hex,
} from '../../functions/inference/model';
import { loadSplits } from '../../models/train/data';
import { binaryMetrics, decide, runCascade } from '../../models/train/metrics';
import { REFERENCE_FILE, type ReferenceOutputs } from '../../models/train/reference';

const MODELS_DIR = join(import.meta.dirname, '../../models');
/** Measured accuracy may fall short of the manifest's claim by at most half a point. */
const ACCURACY_TOLERANCE = 0.005;
/** onnxruntime vs the tfjs forward pass, in probability space. */
const EXPORT_TOLERANCE = 1e-4;

const splits = loadSplits();
const testLabels = splits.test.map((m) => m.label);
let manifest: Manifest;
const scorers = new Map<string, ModelScorer>();
const testScores = new Map<string, Float32Array>();

beforeAll(async () => {
  manifest = await loadManifest(MODELS_DIR);
  for (const entry of manifest.models) {
    const scorer = await loadModel({ modelsDir: MODELS_DIR, name: entry.name, manifest });
    scorers.set(entry.name, scorer);
    testScores.set(entry.name, await scorer.scoreBatch(splits.test.map((m) => m.text)));
  }
});

afterAll(async () => {
  for (const scorer of scorers.values()) await scorer.release();
});

describe('model files', () => {
  it('match the manifest byte for byte', async () => {
    expect(manifest.models.map((m) => m.name)).toEqual(['tier1', 'tier2', 'tier2-int8']);
    for (const entry of manifest.models) {
      const bytes = await readFile(join(MODELS_DIR, entry.file));
      expect(sha256Hex(bytes), entry.file).toBe(entry.sha256);
      expect(bytes.length).toBe(entry.bytes);
    }
  });

  it('keep to the size budget: tier 1 < 1 MB, tier 2 < 8 MB, INT8 >= 3.5x smaller', () => {
    const bytes = Object.fromEntries(manifest.models.map((m) => [m.name, m.bytes]));
    expect(bytes.tier1).toBeLessThan(1_000_000);
    expect(bytes.tier2).toBeLessThan(8_000_000);
    expect((bytes.tier2 ?? 0) / (bytes['tier2-int8'] ?? Number.POSITIVE_INFINITY)).toBeGreaterThanOrEqual(
      3.5,
    );
  });

  it('were trained on the features this build computes', () => {
    const byName = Object.fromEntries(manifest.models.map((m) => [m.name, m.features]));
    for (const [name, spec] of [
      ['tier1', TIER1_FEATURES],
      ['tier2', TIER2_FEATURES],
      ['tier2-int8', TIER2_FEATURES],
    ] as const) {
      const { fingerprint, ...recorded } = byName[name] ?? { fingerprint: '' };
      expect(recorded).toEqual({ ...spec, headers: [...spec.headers] });
      expect(fingerprint).toBe(featureFingerprint(spec));
    }
  });
});

describe('onnxruntime matches the training framework', () => {
  it('scores the reference messages as the tfjs forward pass did', async () => {
    const reference = JSON.parse(
      await readFile(join(MODELS_DIR, REFERENCE_FILE), 'utf8'),
    ) as ReferenceOutputs;
    const byKey = new Map(splits.test.map((m) => [m.key, m.text]));
    const keys = Object.keys(reference.scores);
    expect(keys.length).toBeGreaterThanOrEqual(32);
    const texts = keys.map((k) => byKey.get(k) ?? '');
    for (const entry of manifest.models) {
      const onnx = await scorers.get(entry.name)?.scoreBatch(texts);
      const tfjs = keys.map((k) => reference.scores[k]?.[entry.name] ?? Number.NaN);
      let maxDiff = 0;
      tfjs.forEach((p, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(p - (onnx?.[i] ?? Number.NaN)));
      });
      expect(maxDiff, entry.name).toBeLessThanOrEqual(EXPORT_TOLERANCE);
      // Guard against a degenerate fixture: the sample holds confident spam and ham.
      expect(Math.min(...tfjs)).toBeLessThan(0.1);
      expect(Math.max(...tfjs)).toBeGreaterThan(0.9);
    }
  });

  it('scores one message the same alone as inside a batch', async () => {
    const texts = splits.test.slice(0, 40).map((m) => m.text);
    for (const scorer of scorers.values()) {
      const batch = await scorer.scoreBatch(texts);
      const alone = await scorer.scoreBatch([texts[13] ?? '']);
      expect(alone[0]).toBeCloseTo(batch[13] ?? Number.NaN, 6);
      expect(await scorer.scoreBatch([])).toEqual(new Float32Array(0));
    }
  });
});

describe('measured test-split metrics', () => {
  it.each(['tier1', 'tier2', 'tier2-int8'])('%s is as accurate as the manifest claims', (name) => {
    const entry = manifest.models.find((m) => m.name === name);
    const measured = binaryMetrics(decide(testScores.get(name) ?? []), testLabels);
    expect(measured.n).toBe(splits.test.length);
    expect(measured.accuracy).toBeGreaterThanOrEqual(
      (entry?.metrics.test.accuracy ?? 1) - ACCURACY_TOLERANCE,
    );
  });

  it('INT8 tier 2 loses at most half a point against float tier 2', () => {
    const float = binaryMetrics(decide(testScores.get('tier2') ?? []), testLabels);
    const int8 = binaryMetrics(decide(testScores.get('tier2-int8') ?? []), testLabels);
    expect(int8.accuracy).toBeGreaterThanOrEqual(float.accuracy - 0.005);
  });

  it('each cascade is as accurate as claimed and escalates at most 25% of test events', () => {
    expect(manifest.cascades.length).toBeGreaterThan(0);
    for (const cascade of manifest.cascades) {
      const outcome = runCascade(
        testScores.get(cascade.tier1) ?? [],
        testScores.get(cascade.tier2) ?? [],
        cascade.threshold,
      );
      const measured = binaryMetrics(outcome.predicted, testLabels);
      expect(measured.accuracy).toBeGreaterThanOrEqual(cascade.metrics.test.accuracy - ACCURACY_TOLERANCE);
      expect(outcome.escalationRate).toBeCloseTo(cascade.escalationRate.test, 2);
      expect(outcome.escalationRate).toBeLessThanOrEqual(0.25);
    }
  });
});

describe('loadModel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferbus-models-'));
    await copyFile(join(MODELS_DIR, 'manifest.json'), join(dir, 'manifest.json'));
    await copyFile(join(MODELS_DIR, 'tier1.onnx'), join(dir, 'tier1.onnx'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a corrupted model file, naming the file and the expected sha256', async () => {
    const bytes = await readFile(join(dir, 'tier1.onnx'));
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await writeFile(join(dir, 'tier1.onnx'), bytes);
    const expected = manifest.models[0]?.sha256 ?? '';
    const failure = loadModel({ modelsDir: dir, name: 'tier1' });
    await expect(failure).rejects.toThrow(ModelIntegrityError);
    await expect(failure).rejects.toThrow(expected);
    await expect(failure).rejects.toThrow(join(dir, 'tier1.onnx'));
  });

  it('refuses an unknown model name, a missing manifest and a feature fingerprint mismatch', async () => {
    await expect(loadModel({ modelsDir: MODELS_DIR, name: 'tier9' })).rejects.toThrow(ManifestError);
    await expect(loadModel({ modelsDir: join(dir, 'absent'), name: 'tier1' })).rejects.toThrow(ManifestError);
    const drifted = structuredClone(manifest);
    const entry = drifted.models[0];
    if (entry) entry.features.fingerprint = '00000000';
    await expect(loadModel({ modelsDir: MODELS_DIR, name: 'tier1', manifest: drifted })).rejects.toThrow(
      FeatureMismatchError,
    );
  });
});
