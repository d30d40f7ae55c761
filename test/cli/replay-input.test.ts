import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';

/** `inferbus replay` refuses what it can check on this machine before any AWS call, exit 2. */
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'bin', 'inferbus.mjs'), 'replay', ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });

describe('inferbus replay input checks', () => {
  it('refuses an unknown task, naming the tasks there are', async () => {
    await expect(run('--task', 'nope')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--task nope: not a task of .*\(it has .*spam/),
    });
  }, 60_000);

  it("checks --threshold against the task's label count", async () => {
    await expect(run('--task', 'spam', '--threshold', '0.3')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        '--threshold 0.3 is outside [1/2, 1] = [0.5000, 1] for task spam (2 labels)',
      ),
    });
  }, 60_000);

  it('refuses a v1 candidate manifest with the command that migrates it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-replay-v1-'));
    const v2 = JSON.parse(readFileSync(join(PROJECT_ROOT, 'models', 'spam', 'manifest.json'), 'utf8'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...v2, schemaVersion: 1 }));
    await expect(run('--manifest', join(dir, 'manifest.json'))).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('inferbus models migrate'),
    });
  }, 60_000);

  it('refuses a candidate whose model file does not match its sha256, before querying', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-replay-sha-'));
    copyFileSync(join(PROJECT_ROOT, 'models', 'spam', 'manifest.json'), join(dir, 'manifest.json'));
    copyFileSync(join(PROJECT_ROOT, 'models', 'spam', 'tier2.onnx'), join(dir, 'tier1.onnx'));
    copyFileSync(join(PROJECT_ROOT, 'models', 'spam', 'tier2.onnx'), join(dir, 'tier2.onnx'));
    await expect(run('--manifest', join(dir, 'manifest.json'))).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /cannot load the models of .*manifest\.json: model file .*tier1\.onnx has sha256 [0-9a-f]{64}, manifest expects/,
      ),
    });
  }, 60_000);
});
