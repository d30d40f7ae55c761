import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../functions/core/prng';
import { PROJECT_ROOT } from '../../lib/app';
import { softmaxClassifierOnnx } from '../support/softmax-onnx';

/**
 * The README's "Bring your own model" example, run as a new user would: in a fresh copy of the
 * repository, with the user's files (an ONNX model built here, labelled NDJSON splits) put where the
 * README says, the README's own shell block run verbatim. Then: the pipeline answered every
 * request of the new task, and no file outside the task's folders and the config file changed.
 */

const LABELS = ['idle', 'running', 'fault'] as const;
/** Per label, the mean and spread of the 4 readings (vibration x, y, z, temperature). */
const CLUSTERS = {
  idle: { mean: [0.1, 0.2, 0.1, 22], sd: [0.08, 0.1, 0.08, 3] },
  running: { mean: [1.0, 1.4, 0.8, 45], sd: [0.25, 0.3, 0.2, 5] },
  fault: { mean: [2.4, 0.6, 2.2, 70], sd: [0.5, 0.4, 0.5, 8] },
} as const;

function readmeBlock(): string {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('<!-- byom:run -->');
  if (at < 0) throw new Error('README.md has no <!-- byom:run --> block');
  const match = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!match?.[1]) throw new Error('the byom:run marker is not followed by a ```sh block');
  return match[1];
}

/** Seeded labelled rows: each label's cluster, Box-Muller normals. */
function examples(count: number, seed: number) {
  const random = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: count }, (_, i) => {
    const label = LABELS[i % LABELS.length] as (typeof LABELS)[number];
    const { mean, sd } = CLUSTERS[label];
    const features = mean.map((m, j) => Math.round((m + (sd[j] as number) * normal()) * 1000) / 1000);
    return { id: `s${seed}-${i}`, label, features };
  });
}

/**
 * "The user's model": a linear discriminant with a shared diagonal covariance, fitted on the
 * training split, exported as a softmax classifier. Nothing about it is inferbus-specific.
 */
function fitModel(train: ReturnType<typeof examples>): Uint8Array {
  const dims = 4;
  const means = LABELS.map((label) => {
    const rows = train.filter((r) => r.label === label);
    return Array.from(
      { length: dims },
      (_, j) => rows.reduce((s, r) => s + (r.features[j] as number), 0) / rows.length,
    );
  });
  const variance = Array.from({ length: dims }, (_, j) => {
    const sq = train.reduce((s, r) => {
      const m = means[LABELS.indexOf(r.label)]?.[j] as number;
      return s + ((r.features[j] as number) - m) ** 2;
    }, 0);
    return sq / train.length;
  });
  const weights = new Float32Array(dims * LABELS.length);
  const bias = new Float32Array(LABELS.length);
  means.forEach((mean, k) => {
    mean.forEach((m, j) => {
      weights[j * LABELS.length + k] = m / (variance[j] as number);
      bias[k] = (bias[k] as number) - (m * m) / (2 * (variance[j] as number));
    });
  });
  return softmaxClassifierOnnx(weights, bias, dims);
}

describe('README: bring your own model', () => {
  let copy: string;
  let run: { status: number | null; stdout: string; stderr: string };
  let changed: string[];

  beforeAll(() => {
    copy = mkdtempSync(join(tmpdir(), 'inferbus-byom-'));
    // A fresh copy of the repository: its tracked and not-ignored files, and the installed packages.
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: PROJECT_ROOT })
      .toString('utf8')
      .split('\0')
      .filter((f) => f && !f.startsWith('test/'));
    for (const file of files) {
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      try {
        writeFileSync(join(copy, file), readFileSync(join(PROJECT_ROOT, file)));
        chmodSync(join(copy, file), statSync(join(PROJECT_ROOT, file)).mode);
      } catch {
        // A file deleted in the working tree but not yet from the index.
      }
    }
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(copy, 'node_modules'));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: copy, stdio: 'pipe' });
    git('init', '-q');
    git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'add', '-A');
    git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'baseline');

    // The user's files, where the README says they are.
    const taskDir = join(copy, 'functions', 'tasks', 'vibration');
    mkdirSync(taskDir, { recursive: true });
    const splits = { train: examples(600, 1), validation: examples(150, 2), test: examples(150, 3) };
    for (const [name, rows] of Object.entries(splits)) {
      writeFileSync(join(taskDir, `${name}.ndjson`), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    }
    writeFileSync(join(copy, 'vibration.onnx'), fitModel(splits.train));

    const result = spawnSync('bash', ['-euo', 'pipefail', '-c', readmeBlock()], {
      cwd: copy,
      env: { ...process.env, NODE_NO_WARNINGS: '1', npm_config_update_notifier: 'false' },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 280_000,
    });
    run = { status: result.status, stdout: result.stdout, stderr: result.stderr };
    changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: copy })
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3));
  }, 300_000);

  afterAll(() => {
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  it('runs every command of the example, exit 0', () => {
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/added model tier1 \(vibration\.onnx, \d+ bytes\)/);
  });

  it('answers every request of the new task through the local pipeline, accurately', () => {
    const row = /^\s+vibration\s+(\d+)\s+(\d+)\s+\S+.*?\s(\d+\.\d+)% \((\d+)\/(\d+)\)/m.exec(run.stdout);
    expect(row, run.stdout).not.toBeNull();
    const [, requests, answered, accuracy] = row as unknown as [string, string, string, string];
    expect(Number(requests)).toBeGreaterThan(250);
    expect(Number(answered)).toBe(Number(requests));
    // The clusters overlap a little; a linear discriminant gets most of them.
    expect(Number(accuracy)).toBeGreaterThan(90);
    expect(run.stdout).toMatch(/accounted for\s+(\d+)\/\1/);
  });

  it('changes no file outside the task folders and the configuration', () => {
    const allowed = (path: string) =>
      path.startsWith('functions/tasks/vibration/') ||
      path.startsWith('models/vibration/') ||
      path === 'vibration-stage.json' ||
      path === 'vibration.onnx' ||
      path.startsWith('cdk.out.vibration/') ||
      path.startsWith('.inferbus-vibration/');
    expect(changed.filter((path) => !allowed(path))).toEqual([]);
    expect(changed).toContain('models/vibration/manifest.json');
    expect(changed).toContain('models/vibration/vibration.onnx');
  });
});
