import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureFingerprint, TIER1_FEATURES, TIER2_FEATURES } from '../../functions/core/features';
import type { Manifest } from '../../functions/core/manifest';
import { calibrateCascade, runCascade } from '../../functions/core/task/calibrate';
import { EncoderMismatchError } from '../../functions/core/task/encoders';
import {
  loadManifest,
  loadModel,
  ManifestError,
  ModelIntegrityError,
  type ModelScorer,
  sha256Hex,
} from '../../functions/inference/model';
import { loadSplits } from '../../models/train/data';
import { modelMetrics } from '../../models/train/metrics';
import { REFERENCE_FILE, type ReferenceOutputs } from '../../models/train/reference';

const MODELS_DIR = join(import.meta.dirname, '../../models');
const TASK_DIR = join(MODELS_DIR, 'spam');
/** Measured accuracy may fall short of the manifest's claim by at most half a point. */
const ACCURACY_TOLERANCE = 0.005;
/** onnxruntime vs the tfjs forward pass, in probability space. */
const EXPORT_TOLERANCE = 1e-4;

const splits = loadSplits();
const truth = {
  validation: Int32Array.from(splits.validation, (m) => m.label),
  test: Int32Array.from(splits.test, (m) => m.label),
};
let manifest: Manifest;
const scorers = new Map<string, ModelScorer>();
/** [N, 2] probabilities (ham, spam) per model. */
const testScores = new Map<string, Float32Array>();
const validationScores = new Map<string, Float32Array>();
const texts = (messages: readonly { text: string }[]) => messages.map((m) => ({ text: m.text }));
/** P(spam) of each row. */
const spamOf = (probabilities: Float32Array) => probabilities.filter((_, i) => i % 2 === 1);

beforeAll(async () => {
  manifest = await loadManifest(MODELS_DIR, 'spam');
  for (const entry of manifest.models) {
    const scorer = await loadModel({ modelsDir: MODELS_DIR, task: 'spam', name: entry.name, manifest });
    scorers.set(entry.name, scorer);
    testScores.set(entry.name, (await scorer.score(texts(splits.test))).probabilities);
    validationScores.set(entry.name, (await scorer.score(texts(splits.validation))).probabilities);
  }
}, 120_000);

afterAll(async () => {
  for (const scorer of scorers.values()) await scorer.release();
});

describe('model files', () => {
  it('match the manifest byte for byte', async () => {
    expect(manifest.models.map((m) => m.name)).toEqual(['tier1', 'tier2', 'tier2-int8']);
    for (const entry of manifest.models) {
      const bytes = await readFile(join(TASK_DIR, entry.file));
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
    const byName = Object.fromEntries(manifest.models.map((m) => [m.name, m.encoder]));
    for (const [name, spec] of [
      ['tier1', TIER1_FEATURES],
      ['tier2', TIER2_FEATURES],
      ['tier2-int8', TIER2_FEATURES],
    ] as const) {
      const { fingerprint, kind, ...recorded } = (byName[name] ?? { fingerprint: '', kind: '' }) as {
        fingerprint: string;
        kind: string;
      };
      expect(kind).toBe('hashed-bag');
      expect(recorded).toEqual({ ...spec, headers: [...spec.headers] });
      expect(fingerprint).toBe(featureFingerprint(spec));
    }
  });
});

describe('onnxruntime matches the training framework', () => {
  it('scores the reference messages as the tfjs forward pass did', async () => {
    const reference = JSON.parse(await readFile(join(TASK_DIR, REFERENCE_FILE), 'utf8')) as ReferenceOutputs;
    const byKey = new Map(splits.test.map((m) => [m.key, m.text]));
    const keys = Object.keys(reference.scores);
    expect(keys.length).toBeGreaterThanOrEqual(32);
    const inputs = keys.map((k) => ({ text: byKey.get(k) ?? '' }));
    for (const entry of manifest.models) {
      const scored = await scorers.get(entry.name)?.score(inputs);
      const onnx = scored ? spamOf(scored.probabilities) : undefined;
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
    const inputs = texts(splits.test.slice(0, 40));
    for (const scorer of scorers.values()) {
      const batch = spamOf((await scorer.score(inputs)).probabilities);
      const alone = spamOf((await scorer.score([inputs[13] ?? { text: '' }])).probabilities);
      expect(alone[0]).toBeCloseTo(batch[13] ?? Number.NaN, 6);
      expect((await scorer.score([])).probabilities).toEqual(new Float32Array(0));
    }
  });
});

describe('measured test-split metrics', () => {
  const labels = ['ham', 'spam'];
  const measured = (name: string, split: 'validation' | 'test' = 'test') =>
    modelMetrics(
      (split === 'test' ? testScores : validationScores).get(name) ?? new Float32Array(),
      truth[split],
      labels,
      'spam',
    );

  it.each(['tier1', 'tier2', 'tier2-int8'])('%s is as accurate as the manifest claims', (name) => {
    const entry = manifest.models.find((m) => m.name === name);
    const metrics = measured(name);
    expect(metrics.n).toBe(splits.test.length);
    expect(metrics.accuracy).toBeGreaterThanOrEqual(
      (entry?.metrics?.test.accuracy ?? 1) - ACCURACY_TOLERANCE,
    );
  });

  it('INT8 tier 2 loses at most half a point against float tier 2', () => {
    expect(measured('tier2-int8').accuracy).toBeGreaterThanOrEqual((measured('tier2').accuracy ?? 1) - 0.005);
  });

  it('each cascade is as accurate as claimed and escalates at most 25% of test events', () => {
    expect(manifest.cascades.length).toBeGreaterThan(0);
    for (const cascade of manifest.cascades) {
      const outcome = runCascade(
        {
          labels,
          truth: truth.test,
          tiers: cascade.tiers.map((t) => testScores.get(t) ?? new Float32Array()),
        },
        cascade.thresholds,
      );
      expect(outcome.metrics.accuracy).toBeGreaterThanOrEqual(
        (cascade.metrics?.test.accuracy ?? 1) - ACCURACY_TOLERANCE,
      );
      expect(outcome.escalationRate).toBeCloseTo(cascade.escalationRate?.test ?? -1, 2);
      expect(outcome.escalationRate).toBeLessThanOrEqual(0.25);
    }
  });

  it("each cascade's threshold is the default objective's pick on validation: the cheapest that matches the last tier alone", () => {
    for (const cascade of manifest.cascades) {
      const calibration = calibrateCascade({
        labels,
        positiveLabel: 'spam',
        truth: truth.validation,
        tiers: cascade.tiers.map((t) => validationScores.get(t) ?? new Float32Array()),
      });
      expect(calibration.met).toBe(true);
      expect(cascade.thresholds).toEqual(calibration.thresholds);
      // Not the escalate-nothing 1/K: on this corpus tier 1 alone trails tier 2 on validation.
      expect(cascade.thresholds[0]).toBeGreaterThan(0.5);
      expect(cascade.objective).toMatch(/cheapest threshold .* at least the last tier alone/);
    }
  });
});

describe('loadModel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferbus-models-'));
    await mkdir(join(dir, 'spam'));
    await copyFile(join(TASK_DIR, 'manifest.json'), join(dir, 'spam', 'manifest.json'));
    await copyFile(join(TASK_DIR, 'tier1.onnx'), join(dir, 'spam', 'tier1.onnx'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a corrupted model file, naming the file and the expected sha256', async () => {
    const file = join(dir, 'spam', 'tier1.onnx');
    const bytes = await readFile(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const expected = manifest.models[0]?.sha256 ?? '';
    const failure = loadModel({ modelsDir: dir, task: 'spam', name: 'tier1' });
    await expect(failure).rejects.toThrow(ModelIntegrityError);
    await expect(failure).rejects.toThrow(expected);
    await expect(failure).rejects.toThrow(file);
  });

  it('refuses an unknown model name, a missing manifest and a feature fingerprint mismatch', async () => {
    await expect(loadModel({ modelsDir: MODELS_DIR, task: 'spam', name: 'tier9' })).rejects.toThrow(
      ManifestError,
    );
    await expect(loadModel({ modelsDir: join(dir, 'absent'), task: 'spam', name: 'tier1' })).rejects.toThrow(
      ManifestError,
    );
    const drifted = structuredClone(manifest);
    const entry = drifted.models[0];
    if (entry?.encoder.kind === 'hashed-bag') entry.encoder.fingerprint = '00000000';
    await expect(
      loadModel({ modelsDir: MODELS_DIR, task: 'spam', name: 'tier1', manifest: drifted }),
    ).rejects.toThrow(EncoderMismatchError);
  });
});
