import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { archiveModels, archiveRecords } from '../../bench/archive';
import { expandPrefix, type FirehoseDeliveryError, LocalFirehose } from '../../local/firehose';
import { type LocalS3, localS3Client, startLocalS3 } from '../../local/s3';

const seen = new Set<string>();

/** Objects written since the previous test (each test starts with `seen` updated). */
async function objectFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => e.endsWith('._S3rver_object') && !seen.has(e)).sort();
}

async function markSeen(root: string): Promise<void> {
  for (const file of await objectFiles(root)) seen.add(file);
}

async function readParquet(path: string) {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const schema = await connection.runAndReadAll(
      `DESCRIBE SELECT * FROM read_parquet('${path}', hive_partitioning = false)`,
    );
    const rows = await connection.runAndReadAll(
      `SELECT * FROM read_parquet('${path}', hive_partitioning = false) ORDER BY event_id`,
    );
    return {
      types: Object.fromEntries(schema.getRowsJson().map((r) => [r[0], r[1]])),
      rows: rows.getRowObjectsJson(),
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('Firehose prefixes', () => {
  it('expands timestamp and error-output-type expressions in UTC', () => {
    const arrival = new Date('2026-11-28T07:05:09Z');
    expect(expandPrefix('events/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/', { arrival })).toBe(
      'events/dt=2026-11-28/hour=07/',
    );
    expect(
      expandPrefix("errors/!{firehose:error-output-type}/!{timestamp:yyyy'/'MM}/", {
        arrival,
        errorOutputType: 'format-conversion-failed',
      }),
    ).toBe('errors/format-conversion-failed/2026/11/');
  });
});

describe('LocalFirehose', () => {
  let stateDir: string;
  let s3: LocalS3;
  let client: S3Client;
  const models = archiveModels('fh-archive');
  const bucketDir = () => join(s3.directory, 'fh-archive');
  /** The number of new objects once it reaches `count`, or what it is after 20 s. */
  const objectCountReaching = async (count: number) => {
    const deadline = Date.now() + 20_000;
    while ((await objectFiles(bucketDir())).length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return (await objectFiles(bucketDir())).length;
  };

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'inferbus-firehose-'));
    s3 = await startLocalS3({ stateDir, buckets: [{ logicalId: 'A', name: 'fh-archive' }] });
    client = localS3Client(s3.endpoint);
  });

  afterEach(async () => {
    await markSeen(bucketDir());
  });

  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('writes one Parquet object per flush at the Firehose key, typed by the Glue table', async () => {
    const firehose = new LocalFirehose({ streams: [models.stream], tables: [models.table], s3: client });
    const before = new Date();
    const records = archiveRecords(5, before);
    for (const record of records) await firehose.putRecord(models.stream.arn, JSON.stringify(record));
    // Keys match case-insensitively; nested JSON in a string column keeps its JSON text.
    await firehose.putRecord(
      models.stream.name,
      JSON.stringify({
        EVENT_ID: 'zz-upper',
        Detail_Type: 'Custom',
        payload: { a: [1, { b: 'c' }] },
        tier: '2',
      }),
    );
    await firehose.close();

    const files = await objectFiles(bucketDir());
    expect(files).toHaveLength(1);
    const key = (files[0] as string).replace(/\._S3rver_object$/, '');
    const dt = before.toISOString().slice(0, 10);
    expect(key).toMatch(
      new RegExp(
        `^events/dt=${dt}/hour=\\d\\d/inferbus-dev-archive-1-${dt}-\\d\\d-\\d\\d-\\d\\d-[0-9a-f-]{36}\\.parquet$`,
      ),
    );
    const { types, rows } = await readParquet(join(bucketDir(), files[0] as string));
    expect(types).toMatchObject({
      event_id: 'VARCHAR',
      seq: 'BIGINT',
      tier: 'INTEGER',
      score: 'DOUBLE',
      duplicate: 'BOOLEAN',
      payload: 'VARCHAR',
    });
    expect(Object.keys(types).sort()).toEqual(models.table.columns.map((c) => c.name).sort());
    expect(rows).toHaveLength(records.length + 1);
    const upper = rows.find((r) => r.event_id === 'zz-upper');
    expect(upper).toMatchObject({
      detail_type: 'Custom',
      payload: '{"a":[1,{"b":"c"}]}',
      tier: 2,
      tenant: null,
    });
    const completed = rows.find((r) => r.detail_type === 'InferenceCompleted' && r.tier === 1);
    expect(completed).toMatchObject({
      label: 'ham',
      latency_ms: 4,
      duplicate: false,
      source_event_id: 'req-3',
    });
    expect(JSON.parse(String(completed?.payload))).toMatchObject({ sourceEventId: 'req-3', tier: 1 });
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({
      recordsIn: records.length + 1,
      recordsDelivered: records.length + 1,
      objectsWritten: 1,
      bufferedRecords: 0,
    });
  });

  it('reads records beyond its memory budget back from the write-ahead log and splits an overgrown buffer into objects of the buffer size', async () => {
    const firehose = new LocalFirehose({
      streams: [models.stream],
      tables: [models.table],
      s3: client,
      memoryBufferBytes: 1_500,
      bufferingSizeBytes: 3_000,
      bufferingIntervalSeconds: 60,
    });
    const records: Record<string, unknown>[] = archiveRecords(12).map((r) => ({
      ...r,
      payload: { text: `é "${String(r.event_id)}"` },
    }));
    const lines = records.map((r) => JSON.stringify(r));
    const total = lines.reduce((n, line) => n + Buffer.byteLength(line), 0);
    // All put before the first flush runs: the buffer is far over its size, as when a conversion lags.
    await Promise.all(lines.map((line) => firehose.putRecord(models.stream.arn, line)));
    await firehose.close();
    const files = await objectFiles(bucketDir());
    expect(files.length).toBeGreaterThanOrEqual(Math.floor(total / 3_000));
    const rows = [];
    for (const file of files) rows.push(...(await readParquet(join(bucketDir(), file))).rows);
    expect(rows.map((r) => r.event_id).sort()).toEqual(records.map((r) => r.event_id).sort());
    for (const row of rows) expect(JSON.parse(String(row.payload)).text).toBe(`é "${row.event_id}"`);
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({
      recordsIn: records.length,
      recordsDelivered: records.length,
      objectsWritten: files.length,
      bufferedRecords: 0,
    });
  });

  it('sends records it cannot convert to the error prefix as Firehose does, never dropping them', async () => {
    const firehose = new LocalFirehose({ streams: [models.stream], tables: [models.table], s3: client });
    await firehose.putRecord(models.stream.arn, '{"event_id": "ok-1", "seq": 1}');
    await firehose.putRecord(models.stream.arn, '{not json');
    await firehose.putRecord(models.stream.arn, '{"event_id": "bad-seq", "seq": "many"}');
    await firehose.close();
    const files = await objectFiles(bucketDir());
    const errors = files.filter((f) => f.startsWith('errors/format-conversion-failed/dt='));
    expect(errors).toHaveLength(1);
    expect(files.filter((f) => f.startsWith('events/'))).toHaveLength(1);
    const lines = (await readFile(join(bucketDir(), errors[0] as string), 'utf8')).trim().split('\n');
    const failures = lines.map((line) => JSON.parse(line));
    expect(failures.map((f) => Buffer.from(f.rawData, 'base64').toString())).toEqual([
      '{not json',
      '{"event_id": "bad-seq", "seq": "many"}',
    ]);
    expect(failures[0]).toMatchObject({
      lastErrorCode: 'DataFormatConversion.MalformedData',
      attemptsMade: 1,
    });
    expect(failures[1].lastErrorMessage).toMatch(/seq/);
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({
      conversionFailures: 2,
      recordsDelivered: 1,
    });
  });

  it('converts a record of concatenated JSON documents into a row each, and fails an array record loudly', async () => {
    const firehose = new LocalFirehose({ streams: [models.stream], tables: [models.table], s3: client });
    // The handlers' rows of a pack: several documents, one after another, in one record.
    await firehose.putRecord(
      models.stream.arn,
      '{"event_id":"c-1","seq":1}{"event_id":"c-2","seq":2} {"event_id":"c-3"}',
    );
    await firehose.putRecord(models.stream.arn, '[{"event_id":"arr-1"},{"event_id":"arr-2"}]');
    await firehose.putRecord(models.stream.arn, '{"event_id":"half-1"}{"event_id":"half-2","seq":"many"}');
    await firehose.close();
    const files = await objectFiles(bucketDir());
    const data = files.filter((f) => f.startsWith('events/'));
    expect(data).toHaveLength(1);
    const { rows } = await readParquet(join(bucketDir(), data[0] as string));
    expect(rows.map((r) => [r.event_id, r.seq])).toEqual([
      ['c-1', '1'],
      ['c-2', '2'],
      ['c-3', null],
    ]);
    const errors = files.filter((f) => f.startsWith('errors/format-conversion-failed/'));
    const failures = (await readFile(join(bucketDir(), errors[0] as string), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(failures.map((f) => f.lastErrorMessage)).toEqual([
      expect.stringMatching(/JSON array; several rows in one record go as JSON documents one after another/),
      expect.stringMatching(/^JSON document 2 of the 2 in the record: Column seq/),
    ]);
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({
      recordsDelivered: 1,
      conversionFailures: 2,
    });
  });

  it('flushes when the buffer reaches its size, and after the buffering interval', async () => {
    const firehose = new LocalFirehose({
      streams: [models.stream],
      tables: [models.table],
      s3: client,
      bufferingSizeBytes: 2000,
      bufferingIntervalSeconds: 0.3,
    });
    const records = archiveRecords(10).map((r) => JSON.stringify(r));
    let sent = 0;
    for (const record of records) {
      await firehose.putRecord(models.stream.arn, record);
      sent += record.length;
      if (sent >= 2000) break;
    }
    try {
      // Polled rather than slept: on a loaded machine the flush takes what it takes.
      expect(await objectCountReaching(1)).toBe(1); // the size limit flushed
      await firehose.putRecord(models.stream.arn, records[records.length - 1] as string);
      expect(await objectFiles(bucketDir())).toHaveLength(1); // held until the interval passes
      expect(await objectCountReaching(2)).toBe(2); // the interval flushed
    } finally {
      await firehose.close();
    }
  });

  it('keeps the buffer when S3 writes fail, reports it, and delivers once S3 is back', async () => {
    const errors: FirehoseDeliveryError[] = [];
    let failing = true;
    const flaky = {
      send: (command: unknown) =>
        failing ? Promise.reject(new Error('connect ECONNREFUSED')) : client.send(command as never),
    } as unknown as S3Client;
    const firehose = new LocalFirehose({
      streams: [models.stream],
      tables: [models.table],
      s3: flaky,
      writeAttempts: 2,
      retryDelayMs: 1,
      onError: (error) => errors.push(error),
    });
    await firehose.putRecord(models.stream.arn, '{"event_id": "kept"}');
    await firehose.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/kept in the buffer/);
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({
      deliveryFailures: 1,
      bufferedRecords: 1,
    });
    failing = false;
    await firehose.close();
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({
      recordsDelivered: 1,
      bufferedRecords: 0,
    });
    expect(await objectFiles(bucketDir())).toHaveLength(1);
  });

  it('delivers records accepted before a crash at the next start, from the write-ahead log', async () => {
    const walDir = join(stateDir, 'wal-crash');
    const down = {
      send: () => Promise.reject(new Error('connect ECONNREFUSED')),
    } as unknown as S3Client;
    const crashed = new LocalFirehose({
      streams: [models.stream],
      tables: [models.table],
      s3: down,
      walDir,
      writeAttempts: 1,
      onError: () => {},
    });
    const records = archiveRecords(3).map((r) => JSON.stringify(r));
    const firstFlush = 4;
    for (const record of records.slice(0, firstFlush)) await crashed.putRecord(models.stream.arn, record);
    await crashed.flush(); // fails: the records stay in a sealed segment
    for (const record of records.slice(firstFlush)) await crashed.putRecord(models.stream.arn, record);
    // The process "dies" here: no close, nothing flushed.

    const restarted = new LocalFirehose({
      streams: [models.stream],
      tables: [models.table],
      s3: client,
      walDir,
    });
    expect(restarted.counters()['inferbus-dev-archive']).toMatchObject({
      recordsReplayed: records.length,
      bufferedRecords: records.length,
      walSegments: 2,
    });
    await restarted.close();
    const rows = [];
    for (const file of await objectFiles(bucketDir()))
      rows.push(...(await readParquet(join(bucketDir(), file))).rows);
    expect(rows.map((r) => r.event_id).sort()).toEqual(records.map((r) => JSON.parse(r).event_id).sort());
    expect(restarted.counters()['inferbus-dev-archive']).toMatchObject({
      recordsDelivered: records.length,
      walSegments: 0,
    });
    expect(await readdir(join(walDir, models.stream.name))).toEqual([]);
  });

  it('replays nothing after a clean stop: no duplicate objects', async () => {
    const walDir = join(stateDir, 'wal-clean');
    const first = new LocalFirehose({ streams: [models.stream], tables: [models.table], s3: client, walDir });
    for (const record of archiveRecords(3)) await first.putRecord(models.stream.arn, JSON.stringify(record));
    await first.close();
    expect(await objectFiles(bucketDir())).toHaveLength(1);
    await markSeen(bucketDir());
    const second = new LocalFirehose({
      streams: [models.stream],
      tables: [models.table],
      s3: client,
      walDir,
    });
    expect(second.counters()['inferbus-dev-archive']).toMatchObject({ recordsReplayed: 0, walSegments: 0 });
    await second.close();
    expect(await objectFiles(bucketDir())).toEqual([]);
  });

  it('fails a share of S3 writes when told to (fault runs), keeping the records for the next flush', async () => {
    const errors: FirehoseDeliveryError[] = [];
    const draws = [0.1, 0.9]; // the first object fails every attempt; the next flush's succeeds
    const firehose = new LocalFirehose({
      streams: [models.stream],
      tables: [models.table],
      s3: client,
      writeAttempts: 2,
      retryDelayMs: 1,
      writeFailureRate: 0.5,
      random: () => draws.shift() ?? 0.9,
      onError: (error) => errors.push(error),
    });
    await firehose.putRecord(models.stream.arn, '{"event_id": "retried"}');
    await firehose.flush();
    expect(errors[0]?.message).toMatch(/injected S3 write failure \(writeFailureRate=0.5\)/);
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({ bufferedRecords: 1, walSegments: 1 });
    await firehose.flush();
    expect(firehose.counters()['inferbus-dev-archive']).toMatchObject({
      deliveryFailures: 1,
      recordsDelivered: 1,
      bufferedRecords: 0,
      walSegments: 0,
    });
    expect(await objectFiles(bucketDir())).toHaveLength(1);
    await firehose.close();
  });
});
