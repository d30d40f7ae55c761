import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, localS3Client, startLocalS3 } from '../../local/s3';

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A body the SDK cannot measure up front: it must stream it. */
function chunked(bytes: Buffer, chunkSize = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= bytes.length) return this.push(null);
      this.push(bytes.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

describe('local S3 (s3rver)', () => {
  let stateDir: string;
  let s3: LocalS3;
  let client: S3Client;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'inferbus-s3-'));
    s3 = await startLocalS3({ stateDir, buckets: [{ logicalId: 'Archive', name: 'archive-bucket' }] });
    client = localS3Client(s3.endpoint);
  });

  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('listens on loopback with an ephemeral port and creates the buckets', async () => {
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.port).toBeGreaterThan(0);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'archive-bucket' }));
    expect(listed.KeyCount).toBe(0);
  });

  it('stores a streamed PutObject byte for byte, on disk and through GetObject', async () => {
    const bytes = randomBytes(1024 * 1024 + 123);
    const key = 'events/dt=2026-11-28/hour=07/streamed.bin';
    await client.send(
      new PutObjectCommand({
        Bucket: 'archive-bucket',
        Key: key,
        Body: chunked(bytes),
        ContentLength: bytes.length,
      }),
    );
    const onDisk = await readFile(s3.objectPathOnDisk('archive-bucket', key));
    expect(onDisk.length).toBe(bytes.length);
    expect(sha(onDisk)).toBe(sha(bytes));
    const got = await client.send(new GetObjectCommand({ Bucket: 'archive-bucket', Key: key }));
    const body = await got.Body?.transformToByteArray();
    expect(body && sha(body)).toBe(sha(bytes));
  });

  it('accepts any access key (handlers sign with whatever they have)', async () => {
    const other = new S3Client({
      endpoint: s3.endpoint,
      region: 'eu-west-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIAOTHER', secretAccessKey: 'whatever' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      await other.send(new PutObjectCommand({ Bucket: 'archive-bucket', Key: 'k.txt', Body: 'hello' }));
      expect(await readFile(s3.objectPathOnDisk('archive-bucket', 'k.txt'), 'utf8')).toBe('hello');
    } finally {
      other.destroy();
    }
  });

  it('refuses a busy port with a hint', async () => {
    await expect(startLocalS3({ stateDir, port: s3.port, buckets: [] })).rejects.toThrow(/port in use/);
  });
});
