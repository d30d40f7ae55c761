import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { FirehoseWal } from '../../local/firehose';
import type { QueueModel } from '../../local/model';
import { QueueStore } from '../../local/sqs/store';

const QUEUE: QueueModel = {
  logicalId: 'work',
  name: 'work',
  arn: 'arn:aws:sqs:us-east-1:000000000000:work',
  url: 'http://127.0.0.1:4566/000000000000/work',
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: 345_600,
};

const dirs: string[] = [];
const stores: QueueStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-salvage-'));
  dirs.push(dir);
  return dir;
}

/** The real CLI, as a user runs it. */
function salvage(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/inferbus.mjs'), 'local', 'salvage', ...args],
      { env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1' } },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** A state folder as the runtime leaves it: 20 queued messages, 30 archive records in two segments, an S3 object. */
async function writeState(stateDir: string): Promise<void> {
  const store = new QueueStore([QUEUE], { stateDir, warn: () => {} });
  for (let i = 0; i < 20; i++) await store.send('work', `{"tenant":"acme","n":${i}}`);
  store.close();
  const { wal } = FirehoseWal.open(join(stateDir, 'firehose', 'archive'), () => {});
  for (let i = 0; i < 10; i++) wal.append(new Date(1_000 + i), `{"tenant":"acme","row":${i}}`);
  await wal.commit();
  wal.rotate();
  for (let i = 10; i < 30; i++) wal.append(new Date(1_000 + i), `{"tenant":"acme","row":${i}}`);
  await wal.commit();
  wal.close();
  mkdirSync(join(stateDir, 's3', 'bucket'), { recursive: true });
  writeFileSync(join(stateDir, 's3', 'bucket', 'object'), 'archived bytes');
}

function changeByte(file: string, text: string): { bytes: Buffer; lineStart: number } {
  const bytes = readFileSync(file);
  const at = bytes.indexOf(text);
  bytes[at + text.length - 1] = '9'.charCodeAt(0);
  writeFileSync(file, bytes);
  return { bytes, lineStart: bytes.lastIndexOf('\n', at) + 1 };
}

describe('inferbus local salvage', () => {
  it('copies every intact record into a new state folder, lists what it could not read, and never writes the old one', async () => {
    const dir = tempDir();
    const out = join(tempDir(), 'salvaged');
    await writeState(dir);
    const log = join(dir, 'sqs', 'queues.log');
    const segment = join(dir, 'firehose', 'archive', '0000000001.wal');
    const sqs = changeByte(log, '"n":7');
    const sendStart = sqs.bytes.lastIndexOf('\n', sqs.lineStart - 2) + 1;
    const wal = changeByte(segment, '"row":3');
    expect(() => new QueueStore([QUEUE], { stateDir: dir })).toThrow(/damaged at byte/);

    const run = await salvage(['--state-dir', dir, '--out', out]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`${log}: 19 records kept, 1 unreadable range(s):`);
    expect(run.stdout).toMatch(new RegExp(`byte ${sendStart}, \\d+ bytes: checksum mismatch`));
    expect(run.stdout).toContain(`${segment}: 9 records kept, 1 unreadable range(s):`);
    expect(run.stdout).toMatch(new RegExp(`byte ${wal.lineStart}, \\d+ bytes: checksum mismatch`));
    expect(run.stderr).toContain(`salvaged into ${out}, with losses`);
    expect(readFileSync(log).equals(sqs.bytes)).toBe(true);
    expect(readFileSync(segment).equals(wal.bytes)).toBe(true);

    const store = new QueueStore([QUEUE], { stateDir: out, warn: () => {} });
    stores.push(store);
    expect(store.counts('work').visible).toBe(19);
    const { wal: salvagedWal, replayed } = FirehoseWal.open(join(out, 'firehose', 'archive'), () => {});
    expect(replayed.map((r) => r.data)).not.toContain('{"tenant":"acme","row":3}');
    expect(replayed).toHaveLength(29);
    salvagedWal.close();
    expect(readFileSync(join(out, 's3', 'bucket', 'object'), 'utf8')).toBe('archived bytes');
  });

  it('exits 0 when everything was intact, and refuses an --out inside the state folder or one with files', async () => {
    const dir = tempDir();
    await writeState(dir);
    const clean = await salvage(['--state-dir', dir, '--out', join(tempDir(), 'copy')]);
    expect(clean.code).toBe(0);
    expect(clean.stderr).toContain('everything was intact');

    const inside = await salvage(['--state-dir', dir, '--out', join(dir, 'copy')]);
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain('must lie outside the state folder');
    const used = await salvage(['--state-dir', dir, '--out', dir.replace(/[^/]+$/, '')]);
    expect(used.code).toBe(2);
    expect(used.stderr).toMatch(/already holds files|must lie outside/);
    const missing = await salvage(['--state-dir', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('does not exist');
    const notState = await salvage(['--state-dir', join(dir, 's3')]);
    expect(notState.code).toBe(2);
    expect(notState.stderr).toContain('holds no local runtime state');
  });
});
