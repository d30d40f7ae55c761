import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthenaClient } from '@aws-sdk/client-athena';
import {
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveModels, archiveRecords } from '../../bench/archive';
import { runQuery } from '../../functions/shared/athena-query';
import { handleAthenaRequest, LocalAthena } from '../../local/athena';
import { LocalFirehose } from '../../local/firehose';
import { type LocalS3, localS3Client, startLocalS3 } from '../../local/s3';

const models = archiveModels('dmg-archive', 'dmg-results');
const RECORDS = archiveRecords(20);

function serve(athena: LocalAthena): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const reply = await handleAthenaRequest(
        athena,
        String(req.headers['x-amz-target'] ?? ''),
        Buffer.concat(chunks).toString(),
      );
      res.writeHead(reply.status, reply.headers).end(reply.body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('local Athena over an archive with damaged objects', () => {
  let stateDir: string;
  let s3: LocalS3;
  let s3Client: S3Client;
  let athena: LocalAthena;
  let server: Server;
  let client: AthenaClient;
  const warnings: string[] = [];
  const damaged: Record<string, Buffer> = {};

  const run = (sql: string) =>
    runQuery(client, models.workGroup.name, models.table.databaseName, sql, [], { timeoutMs: 60_000 });

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'inferbus-athena-damaged-'));
    s3 = await startLocalS3({
      stateDir,
      buckets: [
        { logicalId: 'Archive', name: 'dmg-archive' },
        { logicalId: 'Results', name: 'dmg-results' },
      ],
    });
    s3Client = localS3Client(s3.endpoint);
    athena = new LocalAthena({
      tables: [models.table],
      workGroups: [models.workGroup],
      namedQueries: [],
      objectPath: s3.objectPathOnDisk,
      s3: s3Client,
      warn: (message) => warnings.push(message),
    });
    server = await serve(athena);
    client = new AthenaClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });

    const firehose = new LocalFirehose({ streams: [models.stream], tables: [models.table], s3: s3Client });
    for (const record of RECORDS) await firehose.putRecord(models.stream.arn, JSON.stringify(record));
    await firehose.close();
    const listed = await s3Client.send(new ListObjectsV2Command({ Bucket: 'dmg-archive' }));
    const good = listed.Contents?.[0]?.Key as string;
    const folder = good.slice(0, good.lastIndexOf('/') + 1);
    const bytes = await readFile(s3.objectPathOnDisk('dmg-archive', good));
    const garbledFooter = Buffer.concat([
      Buffer.from('PAR1'),
      Buffer.alloc(64, 7),
      Buffer.from([16, 0, 0, 0]),
      Buffer.from('PAR1'),
    ]);
    damaged[`${folder}empty.parquet`] = Buffer.alloc(0);
    damaged[`${folder}truncated.parquet`] = bytes.subarray(0, Math.floor(bytes.length / 2));
    damaged[`${folder}not-parquet.parquet`] = Buffer.from('{"this":"is json"}\n');
    damaged[`${folder}garbled-footer.parquet`] = garbledFooter;
    for (const [key, body] of Object.entries(damaged))
      await s3Client.send(new PutObjectCommand({ Bucket: 'dmg-archive', Key: key, Body: body }));
  });

  afterAll(async () => {
    client?.destroy();
    await new Promise((resolve) => server?.close(resolve));
    await athena?.close();
    s3Client?.destroy();
    await s3?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('still answers SELECT 1 and queries over the table, naming each skipped object and why', async () => {
    const one = await run('SELECT 1 AS one');
    expect(one.rows).toEqual([{ one: '1' }]);
    const counted = await run('SELECT count(*) AS n FROM events');
    expect(counted.rows).toEqual([{ n: String(RECORDS.length) }]);
    for (const result of [one, counted]) {
      expect(result.warning).toMatch(/^Skipped 4 unreadable object\(s\)/);
      for (const key of Object.keys(damaged)) expect(result.warning).toContain(`s3://dmg-archive/${key}`);
    }
    expect(counted.warning).toMatch(/empty\.parquet \(it is empty \(0 bytes\)\)/);
    expect(counted.warning).toMatch(/truncated\.parquet \(it is truncated/);
    expect(counted.warning).toMatch(/not-parquet\.parquet \(it is not Parquet/);
    expect(counted.warning).toMatch(/garbled-footer\.parquet \(DuckDB cannot read its footer/);
    // The runtime's log hears of each object once, not on every query.
    expect(warnings).toHaveLength(4);
    expect(warnings.every((w) => w.includes('Delete or replace the object'))).toBe(true);
  });

  it('drops the warning once the damaged objects are deleted', async () => {
    for (const key of Object.keys(damaged))
      await s3Client.send(new DeleteObjectCommand({ Bucket: 'dmg-archive', Key: key }));
    const counted = await run('SELECT count(*) AS n FROM events');
    expect(counted.rows).toEqual([{ n: String(RECORDS.length) }]);
    expect(counted.warning).toBeUndefined();
  });
});
