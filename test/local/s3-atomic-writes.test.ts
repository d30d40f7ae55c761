import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { type LocalS3, localS3Client, startLocalS3 } from '../../local/s3';

const CHILD = fileURLToPath(new URL('./s3-kill-child.ts', import.meta.url));
const BUCKET = 'archive-bucket';
const KEY = 'events/dt=2026-11-28/hour=12/part-0.parquet';
const OLD = Buffer.from('the whole old object');
const TOTAL = 4 * 1024 * 1024;
const SENT = 512 * 1024;

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'inferbus-s3-atomic-'));
  dirs.push(dir);
  return dir;
}

const objectFile = (dir: string) => join(dir, 's3', BUCKET, `${KEY}._S3rver_object`);

/** Files beside the object that hold its bytes (the object itself or a temporary copy): name → size. */
async function objectFiles(dir: string): Promise<Record<string, number>> {
  const folder = dirname(objectFile(dir));
  const sizes: Record<string, number> = {};
  for (const name of await readdir(folder)) {
    if (!name.startsWith('part-0.parquet._S3rver_object') || /\.(md5|json)$/.test(name)) continue;
    sizes[name] = (await stat(join(folder, name))).size;
  }
  return sizes;
}

/** Starts a PUT of TOTAL bytes, sends SENT of them and leaves the request open. */
function startUpload(endpoint: string) {
  const url = new URL(`/${BUCKET}/${KEY}`, endpoint);
  const req = request(url, {
    method: 'PUT',
    headers: { 'content-length': String(TOTAL), 'content-type': 'application/octet-stream' },
  });
  req.on('error', () => {});
  req.write(randomBytes(SENT));
  return req;
}

/** Waits until the server has written part of the upload somewhere on disk. */
async function untilBytesLanded(dir: string): Promise<void> {
  await expect
    .poll(async () => Math.max(...Object.values(await objectFiles(dir))), { timeout: 10_000 })
    .toBeGreaterThan(OLD.length);
}

async function putOld(s3: LocalS3): Promise<void> {
  const client = localS3Client(s3.endpoint);
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: OLD }));
  client.destroy();
}

async function expectOldObjectOnly(s3: LocalS3, dir: string): Promise<void> {
  expect(await readFile(objectFile(dir))).toEqual(OLD);
  const client = localS3Client(s3.endpoint);
  try {
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
    expect(Buffer.from(await (got.Body?.transformToByteArray() ?? new Uint8Array()))).toEqual(OLD);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(listed.Contents?.map((c) => [c.Key, c.Size])).toEqual([[KEY, OLD.length]]);
  } finally {
    client.destroy();
  }
}

describe('local S3 writes are all or nothing', () => {
  it('keeps the old object whole while an upload runs and after the client hangs up mid-upload', async () => {
    const dir = await stateDir();
    const s3 = await startLocalS3({ stateDir: dir, buckets: [{ logicalId: 'Archive', name: BUCKET }] });
    try {
      await putOld(s3);
      const upload = startUpload(s3.endpoint);
      await untilBytesLanded(dir);
      // Mid-upload, readers still see the old object (s3rver had truncated it at the first byte).
      await expectOldObjectOnly(s3, dir);
      upload.destroy();
      // The temporary copy is removed once the server sees the request end early.
      await expect
        .poll(async () => Object.keys(await objectFiles(dir)), { timeout: 10_000 })
        .toEqual(['part-0.parquet._S3rver_object']);
      await expectOldObjectOnly(s3, dir);
    } finally {
      await s3.stop();
    }
  });

  it('leaves no partial object after the server is killed mid-upload, and a restart sweeps its temporary file', async () => {
    const dir = await stateDir();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, BUCKET], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const endpoint = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const line = out.split('\n').find((l) => l.startsWith('READY '));
          if (line) resolve(line.slice('READY '.length).trim());
        });
        child.on('exit', (code) => reject(new Error(`child exited (${code}) before READY`)));
      });
      await putOld({ endpoint } as LocalS3);
      const upload = startUpload(endpoint);
      await untilBytesLanded(dir);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      upload.destroy();
    } finally {
      child.kill('SIGKILL');
    }
    const s3 = await startLocalS3({ stateDir: dir, buckets: [{ logicalId: 'Archive', name: BUCKET }] });
    try {
      expect(Object.keys(await objectFiles(dir))).toEqual(['part-0.parquet._S3rver_object']);
      await expectOldObjectOnly(s3, dir);
    } finally {
      await s3.stop();
    }
  });
});
