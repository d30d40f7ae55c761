import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../functions/core/manifest';
import { stableJson } from '../../functions/core/stable-json';
import { loadManifest, loadModel, sha256Hex } from '../../functions/inference/model';
import { PROJECT_ROOT } from '../../lib/app';
import { linearSoftmaxOnnx } from '../../models/train/onnx';

/**
 * `inferbus models` end to end: the real `bin/inferbus.mjs` as a child process, on the shipped spam
 * models and on a 3-class task over feature vectors whose ONNX models are built here.
 */
const work = mkdtempSync(join(tmpdir(), 'inferbus-models-'));
/** No task datasets: validate scores synthetic inputs (quick, and the same on every machine). */
const noTasks = join(work, 'no-tasks');
mkdirSync(noTasks);
const SPAM_DIR = join(PROJECT_ROOT, 'models', 'spam');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/inferbus.mjs'), 'models', ...args],
      { cwd: work, env: { PATH: process.env.PATH, HOME: work, NODE_NO_WARNINGS: '1' }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const spamManifest = (): Manifest => JSON.parse(readFileSync(join(SPAM_DIR, 'manifest.json'), 'utf8'));

/** A copy of the spam task's folder under `<root>/spam/`, with `edit` applied to its manifest. */
function spamCopy(root: string, edit: (m: Manifest) => void = () => {}): string {
  const dir = join(root, 'spam');
  mkdirSync(dir, { recursive: true });
  const manifest = spamManifest();
  manifest.models = manifest.models.filter((m) => m.name === 'tier1');
  manifest.cascades = [];
  edit(manifest);
  for (const m of manifest.models) copyFileSync(join(SPAM_DIR, m.file), join(dir, m.file));
  writeFileSync(join(dir, 'manifest.json'), stableJson(manifest));
  return dir;
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('inferbus models validate', () => {
  it('passes the shipped spam models, with graph facts and a latency', async () => {
    const run = await cli(['validate', 'spam', '--tasks-dir', noTasks, '--runs', '2']);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/tier1 \(.*tier1\.onnx\): ok/);
    expect(run.stdout).toMatch(
      /graph inputs: ids int32 \[N, 256\]; weights float32 \[N, 256\]; outputs: score float32 \[N\]/,
    );
    expect(run.stdout).toMatch(
      /scored 32 inputs from synthetic text.*median [\d.]+ ms per batch over 2 runs/,
    );
    expect(run.stdout).toMatch(/3 model\(s\) of task spam match the manifest/);
  }, 60_000);

  it('names the sha256 of a corrupt model file and exits 1', async () => {
    const root = join(work, 'corrupt');
    const dir = spamCopy(root);
    const path = join(dir, 'tier1.onnx');
    const bytes = readFileSync(path);
    // A byte inside the weight table: the graph still loads, only the content changed.
    const at = bytes.length - 1000;
    bytes[at] = (bytes[at] as number) ^ 0xff;
    writeFileSync(path, bytes);
    const run = await cli(['validate', join(dir, 'manifest.json'), '--tasks-dir', noTasks]);
    expect(run.code).toBe(1);
    const expected = spamManifest().models[0]?.sha256;
    expect(run.stdout).toContain(`MISMATCH sha256: manifest ${expected}, file ${sha256Hex(bytes)}`);
    expect(run.stdout).toMatch(/1 of 1 model\(s\) of task spam do not match the manifest/);
  }, 60_000);

  it("names an input the graph does not have, and the graph's own", async () => {
    const dir = spamCopy(join(work, 'renamed'), (m) => {
      const entry = m.models[0] as Manifest['models'][number];
      entry.inputs = [
        { ...(entry.inputs[0] as (typeof entry.inputs)[number]), name: 'tokens' },
        ...entry.inputs.slice(1),
      ];
    });
    const run = await cli(['validate', join(dir, 'manifest.json'), 'tier1', '--tasks-dir', noTasks]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('MISMATCH input name: manifest tokens, file inputs are ids, weights');
    expect(run.stdout).toContain(
      'MISMATCH input name: manifest inputs are tokens, weights, file ids (the graph needs it',
    );
  }, 60_000);

  it('names a wrong dtype, shape and output name, each with both values', async () => {
    const dir = spamCopy(join(work, 'shapes'), (m) => {
      const entry = m.models[0] as Manifest['models'][number];
      entry.inputs = [
        { name: 'ids', dtype: 'int64', shape: ['N', 256] },
        { name: 'weights', dtype: 'float32', shape: ['N', 128] },
      ];
      entry.output = { ...entry.output, name: 'probability' };
    });
    const run = await cli([
      'validate',
      join(dir, 'manifest.json'),
      '--tasks-dir',
      noTasks,
      '--format',
      'json',
    ]);
    expect(run.code).toBe(1);
    const [report] = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(report.mismatches.slice(0, 3)).toEqual([
      { field: 'input ids dtype', manifest: 'int64', file: 'int32' },
      { field: 'input weights shape', manifest: '[N, 128]', file: '[N, 256]' },
      { field: 'output name', manifest: 'probability', file: 'outputs are score' },
    ]);
    // The encoder's rows (L = 256) no longer fit the declared tensor either.
    expect(report.mismatches[3]).toMatchObject({ field: 'encoder', manifest: 'hashed-bag' });
  }, 60_000);

  it('refuses an unknown task or model with what there is (exit 2)', async () => {
    const task = await cli(['validate', 'nosuch']);
    expect(task.code).toBe(2);
    expect(task.stderr).toMatch(/no manifest for task "nosuch".*inferbus models list/);
    const model = await cli(['validate', 'spam', 'tier9']);
    expect(model.code).toBe(2);
    expect(model.stderr).toMatch(/has no model named tier9 \(it has tier1, tier2, tier2-int8\)/);
  }, 60_000);
});

describe('a 3-class task over feature vectors: validate, calibrate, list', () => {
  const models = join(work, 'three', 'models');
  const tasks = join(work, 'three', 'tasks');
  const dir = join(models, 'colors');
  const labels = ['red', 'green', 'blue'];

  /** Rows whose true class is the largest of 3 features; tier 1 sees a noisy copy of them. */
  function rows(n: number, seed: number): { id: string; label: string; features: number[] }[] {
    let state = seed;
    const random = () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
    return Array.from({ length: n }, (_, i) => {
      const features = [random(), random(), random()];
      return { id: `r${i}`, label: labels[features.indexOf(Math.max(...features))] as string, features };
    });
  }

  function writeTask(): void {
    mkdirSync(dir, { recursive: true });
    mkdirSync(join(tasks, 'colors'), { recursive: true });
    for (const [split, seed] of [
      ['train', 1],
      ['validation', 2],
      ['test', 3],
    ] as const) {
      writeFileSync(
        join(tasks, 'colors', `${split}.ndjson`),
        rows(300, seed)
          .map((r) => JSON.stringify(r))
          .join('\n'),
      );
    }
    // Tier 1: a blunt identity (weak margins); tier 2: the same, sharpened (confident, right).
    const identity = (scale: number) => Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1], (v) => v * scale);
    const tier1 = linearSoftmaxOnnx({ weights: identity(2), bias: Float32Array.of(0.05, 0, 0), features: 3 });
    const tier2 = linearSoftmaxOnnx({
      weights: identity(40),
      bias: new Float32Array(3),
      features: 3,
      softmax: false,
      outputName: 'logits',
    });
    writeFileSync(join(dir, 'tier1.onnx'), tier1);
    writeFileSync(join(dir, 'tier2.onnx'), tier2);
    const encoder = { kind: 'numeric-vector', length: 3, center: [0, 0, 0], scale: [1, 1, 1] };
    const entry = (name: string, bytes: Uint8Array, output: object) => ({
      name,
      file: `${name}.onnx`,
      sha256: sha256Hex(bytes),
      bytes: bytes.length,
      opset: 17,
      precision: 'float32',
      inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 3] }],
      encoder,
      output,
    });
    const manifest = {
      schemaVersion: 2,
      task: {
        id: 'colors',
        description: 'which of 3 readings is largest',
        labels,
        input: { kind: 'features', length: 3 },
      },
      models: [
        entry('tier1', tier1, {
          name: 'probabilities',
          dtype: 'float32',
          shape: ['N', 3],
          kind: 'probabilities',
        }),
        entry('tier2', tier2, { name: 'logits', dtype: 'float32', shape: ['N', 3], kind: 'logits' }),
      ],
      cascades: [{ tiers: ['tier1', 'tier2'], thresholds: [1 / 3] }],
    };
    writeFileSync(join(dir, 'manifest.json'), stableJson(manifest));
  }

  const where = ['--models-dir', models, '--tasks-dir', tasks];

  it('validates both models on the validation split', async () => {
    writeTask();
    const run = await cli(['validate', 'colors', ...where]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/scored 32 inputs from task colors's validation split/);
  }, 60_000);

  it('calibrates: the default escalates the least confident rows until tier 2 is matched, and --write stores it', async () => {
    const dry = await cli(['calibrate', 'colors', ...where, '--format', 'json']);
    expect(dry.code, dry.stderr).toBe(0);
    const result = JSON.parse(dry.stdout.trim());
    expect(result.lastTierAlone.accuracy).toBe(1);
    const [threshold] = result.thresholds;
    expect(threshold).toBeGreaterThan(1 / 3);
    expect(threshold).toBeLessThan(1);
    expect(result.chosen[0].correct).toBe(300);
    expect(result.test.metrics.accuracy).toBeGreaterThan(0.95);

    const table = await cli(['calibrate', 'colors', ...where, '--points', '6', '--write']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/threshold {2}escalated {2}accuracy {2}macro-F1 {2}share of tier2 compute/);
    expect(table.stdout).toMatch(/<- chosen/);
    expect(table.stdout).toMatch(/wrote the calibrated threshold\(s\)/);
    const written = await loadManifest(models, 'colors');
    expect(written.cascades[0]?.thresholds).toEqual([threshold]);
    expect(written.cascades[0]?.objective).toMatch(/at least the last tier alone, on the validation split/);
    expect(written.cascades[0]?.escalationRate?.validation).toBeCloseTo(result.chosen[0].escalationRate, 5);
  }, 60_000);

  it('takes --data and the other objectives; refuses a bad objective or label by name', async () => {
    const data = join(work, 'three', 'labelled.ndjson');
    writeFileSync(
      data,
      rows(200, 9)
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const capped = await cli([
      'calibrate',
      'colors',
      ...where,
      '--data',
      data,
      '--objective',
      'max-escalation=0',
      '--format',
      'json',
    ]);
    expect(capped.code, capped.stderr).toBe(0);
    expect(JSON.parse(capped.stdout).thresholds).toEqual([1 / 3]);

    const bad = await cli(['calibrate', 'colors', ...where, '--objective', 'cheapest']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown objective "cheapest"; use one of: match-last-tier/);

    writeFileSync(data, `${JSON.stringify({ id: 'x1', label: 'purple', features: [1, 2, 3] })}\n`);
    const label = await cli(['calibrate', 'colors', ...where, '--data', data]);
    expect(label.code).toBe(2);
    expect(label.stderr).toMatch(/example x1 has label "purple", the task's labels are red, green, blue/);
  }, 60_000);

  it('catches an output kind that does not decode to distributions (logits declared as probabilities)', async () => {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    manifest.models[1].output.kind = 'probabilities';
    const other = join(work, 'three', 'wrong-kind', 'colors');
    mkdirSync(other, { recursive: true });
    for (const file of ['tier1.onnx', 'tier2.onnx']) copyFileSync(join(dir, file), join(other, file));
    writeFileSync(join(other, 'manifest.json'), stableJson(manifest));
    const run = await cli(['validate', join(other, 'manifest.json'), 'tier2', '--tasks-dir', tasks]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /MISMATCH output probabilities: manifest a distribution over 3 labels per row \(output kind probabilities\), file rows 0, 1, 2, 3, 4, \.\.\. \(\d+ of 32\) are not/,
    );
  }, 60_000);

  it('adds a model from its file alone (tensors, sha256, size, opset read from it), which then validates', async () => {
    const file = join(work, 'three', 'tier3.onnx');
    const weights = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1], (v) => v * 10);
    writeFileSync(
      file,
      linearSoftmaxOnnx({ weights, bias: new Float32Array(3), features: 3, inputName: 'readings' }),
    );

    const unsaid = await cli(['add', 'colors', file, '--name', 'tier3', ...where]);
    expect(unsaid.code).toBe(2);
    expect(unsaid.stderr).toMatch(
      /output probabilities \["N",3\]: say what it holds with --output-kind probabilities/,
    );

    const run = await cli([
      'add',
      'colors',
      file,
      '--name',
      'tier3',
      '--output-kind',
      'probabilities',
      ...where,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/added model tier3 \(tier3\.onnx, \d+ bytes\)/);
    expect(run.stdout).toMatch(/then: inferbus models calibrate colors --cascade tier1,tier3 --write/);
    const entry = (await loadManifest(models, 'colors')).models.find((m) => m.name === 'tier3');
    expect(entry).toMatchObject({
      file: 'tier3.onnx',
      sha256: sha256Hex(readFileSync(file)),
      opset: 17,
      inputs: [{ name: 'readings', dtype: 'float32', shape: ['N', 3] }],
      encoder: { kind: 'numeric-vector', length: 3, center: [0, 0, 0], scale: [1, 1, 1] },
      output: { name: 'probabilities', dtype: 'float32', shape: ['N', 3], kind: 'probabilities' },
    });
    const validate = await cli(['validate', 'colors', 'tier3', ...where]);
    expect(validate.code, validate.stdout).toBe(0);

    const again = await cli([
      'add',
      'colors',
      file,
      '--name',
      'tier3',
      '--output-kind',
      'probabilities',
      ...where,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already has a model named tier3; pass --force/);
    const text = await cli([
      'add',
      join(spamCopy(join(work, 'add-text')), 'manifest.json'),
      file,
      '--name',
      'tier9',
      '--output-kind',
      'logits',
    ]);
    expect(text.code).toBe(2);
    expect(text.stderr).toMatch(/a text model needs its tokenizer's parameters: pass --encoder-from <model>/);
  }, 60_000);

  it('lists the task with its labels, input, models and calibrated cascade', async () => {
    const run = await cli(['list', '--models-dir', models]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/colors: which of 3 readings is largest/);
    expect(run.stdout).toMatch(/labels: red, green, blue; input: features \(3 numbers\)/);
    expect(run.stdout).toMatch(
      /model tier2: tier2\.onnx, \d+ bytes, float32, encoder numeric-vector, output logits/,
    );
    expect(run.stdout).toMatch(/cascade tier1 -> tier2: threshold\(s\) 0\.\d+/);
  }, 60_000);
});

describe('inferbus models migrate', () => {
  /** The spam manifest as schema v1 wrote it: the reverse of functions/core/manifest-v1.ts. */
  function v1Of(v2: Manifest): unknown {
    return {
      schemaVersion: 1,
      task: v2.task.description,
      dataset: v2.dataset,
      training: v2.training,
      models: v2.models.map((m) => {
        const { kind: _kind, ...features } = m.encoder as Extract<
          Manifest['models'][number]['encoder'],
          { kind: 'hashed-bag' }
        >;
        return {
          name: m.name,
          tier: m.name === 'tier1' ? 1 : 2,
          file: m.file,
          sha256: m.sha256,
          bytes: m.bytes,
          opset: m.opset,
          precision: m.precision,
          inputs: m.inputs,
          output: { ...m.output, kind: 'spam-probability' },
          labels: ['ham', 'spam'],
          features,
          metrics: m.metrics,
        };
      }),
      cascades: v2.cascades.map((c) => ({
        tier1: c.tiers[0],
        tier2: c.tiers[1],
        threshold: c.thresholds[0],
        maxAccuracyLoss: 0.005,
        escalationRate: c.escalationRate,
        metrics: c.metrics,
      })),
    };
  }

  it('writes a v2 manifest beside the v1 one that loads and scores the same, and refuses to overwrite it', async () => {
    const old = join(work, 'v1');
    mkdirSync(old);
    const v2 = spamManifest();
    for (const m of v2.models) copyFileSync(join(SPAM_DIR, m.file), join(old, m.file));
    writeFileSync(join(old, 'manifest.json'), JSON.stringify(v1Of(v2)));

    // Serving refuses the v1 manifest and names the command.
    await expect(loadManifest(join(work), 'v1')).rejects.toThrow(/inferbus models migrate .* --task <id>/);

    const run = await cli(['migrate', join(old, 'manifest.json'), '--task', 'spam']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /wrote .*v1\/spam\/manifest\.json \(schema v2, task spam, 3 models, 2 cascades\); copied tier1\.onnx, tier2\.onnx, tier2-int8\.onnx/,
    );

    const migrated = await loadManifest(old, 'spam');
    expect(migrated.models.map((m) => m.sha256)).toEqual(v2.models.map((m) => m.sha256));
    expect(migrated.cascades.map((c) => c.thresholds)).toEqual(v2.cascades.map((c) => c.thresholds));
    const texts = [
      { text: 'Subject: lunch\n\nSee you at noon by the fountain.' },
      { text: 'Subject: WIN NOW\n\nClaim your free prize, click here!!!' },
    ];
    for (const name of ['tier1', 'tier2']) {
      const before = await loadModel({ modelsDir: join(PROJECT_ROOT, 'models'), task: 'spam', name });
      const after = await loadModel({ modelsDir: old, task: 'spam', name });
      expect(Array.from((await after.score(texts)).probabilities)).toEqual(
        Array.from((await before.score(texts)).probabilities),
      );
      await before.release();
      await after.release();
    }

    const again = await cli(['migrate', join(old, 'manifest.json'), '--task', 'spam']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists; pass --force to overwrite it or --out <file>/);
    const v2input = await cli([
      'migrate',
      join(SPAM_DIR, 'manifest.json'),
      '--task',
      'spam',
      '--out',
      join(work, 'x.json'),
    ]);
    expect(v2input.code).toBe(2);
    expect(v2input.stderr).toMatch(/has schemaVersion 2; migrate reads schema v1 manifests/);
    const badId = await cli(['migrate', join(old, 'manifest.json'), '--task', 'Spam-Task']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/task ids are 1-12 lowercase letters/);
  }, 120_000);
});

describe('inferbus models --help', () => {
  it('explains the layout and every subcommand with examples', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const sub of ['validate', 'calibrate', 'migrate', 'list']) expect(run.stdout).toContain(sub);
    expect(run.stdout).toMatch(/models\/<task>\/: manifest\.json/);
    const calibrate = await cli(['calibrate', '--help']);
    expect(calibrate.stdout).toMatch(/max-escalation=<r>/);
    expect(calibrate.stdout).toMatch(/inferbus models calibrate sensor --objective f1 --write/);
  }, 60_000);
});
