import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../functions/core/manifest';
import { runCascade } from '../../functions/core/task/calibrate';
import { loadManifest, loadModel, type ModelScorer, sha256Hex } from '../../functions/inference/model';
import { loadTaskDefinition, type TaskSplits } from '../../functions/tasks/definition';
import { cascadeProbabilities, sensorMetrics } from '../../models/train/sensor/measure';

/**
 * The committed sensor models, loaded as serving loads them (manifest, sha256, onnxruntime), must
 * reproduce the manifest's metrics on the task's own splits: the manifest cannot claim numbers the
 * files do not give.
 */
const MODELS_DIR = join(import.meta.dirname, '../../models');

let manifest: Manifest;
let splits: TaskSplits;
const scorers = new Map<string, ModelScorer>();
const scores = new Map<string, { validation: Float32Array; test: Float32Array }>();

const truthOf = (split: 'validation' | 'test') =>
  Int32Array.from(splits[split], (e) => manifest.task.labels.indexOf(e.label));

beforeAll(async () => {
  manifest = await loadManifest(MODELS_DIR, 'sensor');
  splits = await (await loadTaskDefinition('sensor')).loadSplits();
  for (const entry of manifest.models) {
    const scorer = await loadModel({ modelsDir: MODELS_DIR, task: 'sensor', name: entry.name, manifest });
    scorers.set(entry.name, scorer);
    const run = async (split: 'validation' | 'test') => {
      const scored = await scorer.score(splits[split].map((e) => e.input));
      expect(scored.rejected.size).toBe(0);
      return scored.probabilities;
    };
    scores.set(entry.name, { validation: await run('validation'), test: await run('test') });
  }
});

afterAll(async () => {
  for (const scorer of scorers.values()) await scorer.release();
});

describe('sensor models', () => {
  it('declare the task: normal/anomaly over a 9-number window, tier 1 tiny', async () => {
    expect(manifest.task).toMatchObject({
      id: 'sensor',
      labels: ['normal', 'anomaly'],
      positiveLabel: 'anomaly',
      input: { kind: 'features', length: 9 },
    });
    expect(manifest.models.map((m) => m.name)).toEqual(['tier1', 'tier2']);
    for (const entry of manifest.models) {
      const bytes = await readFile(join(MODELS_DIR, 'sensor', entry.file));
      expect(sha256Hex(bytes)).toBe(entry.sha256);
      expect(entry.encoder.kind).toBe('numeric-vector');
      expect(entry.output.kind).toBe('sigmoid-binary');
    }
    expect(manifest.models[0]?.bytes).toBeLessThan(10_000);
  });

  it("record split counts that match the task's splits", () => {
    expect(manifest.dataset?.split.counts).toEqual({
      train: splits.train.length,
      validation: splits.validation.length,
      test: splits.test.length,
    });
  });

  it.each(['tier1', 'tier2'])('%s reproduces its manifest metrics on validation and test', (name) => {
    const entry = manifest.models.find((m) => m.name === name);
    const scored = scores.get(name);
    if (!entry?.metrics || !scored) throw new Error(`no metrics or scores for ${name}`);
    for (const split of ['validation', 'test'] as const) {
      const measured = sensorMetrics(scored[split], truthOf(split), manifest.task.labels, 1);
      expect(measured, `${name} on ${split}`).toEqual(entry.metrics[split]);
      // The anomaly metrics are there, not only accuracy.
      expect(Object.keys(measured)).toEqual(
        expect.arrayContaining(['precision', 'recall', 'f1', 'prAuc', 'tp', 'fp', 'tn', 'fn']),
      );
    }
  });

  it('reproduces the cascade: its escalation and metrics at the manifest threshold', () => {
    const [cascade] = manifest.cascades;
    if (!cascade?.metrics || !cascade.escalationRate) throw new Error('the manifest has no measured cascade');
    expect(cascade.tiers).toEqual(['tier1', 'tier2']);
    for (const split of ['validation', 'test'] as const) {
      const tiers = [scores.get('tier1')?.[split], scores.get('tier2')?.[split]] as [
        Float32Array,
        Float32Array,
      ];
      const outcome = runCascade(
        { labels: manifest.task.labels, positiveLabel: 'anomaly', truth: truthOf(split), tiers },
        cascade.thresholds,
      );
      expect(Math.round(outcome.escalationRate * 1e6) / 1e6).toBe(cascade.escalationRate[split]);
      const answered = cascadeProbabilities(tiers, outcome.answeredBy, 2);
      expect(sensorMetrics(answered, truthOf(split), manifest.task.labels, 1)).toEqual(
        cascade.metrics[split],
      );
    }
  });

  it('refuses a request whose window has the wrong length, saying how many numbers it takes', async () => {
    const scorer = scorers.get('tier2');
    const scored = await scorer?.score([{ features: [45.9, 27.9, 1] }]);
    expect(scored?.rejected.get(0)).toMatch(/holds 3 numbers, the model takes 9/);
    expect(Number.isNaN(scored?.probabilities[0])).toBe(true);
  });
});
