/**
 * Archive benchmark: size of N archive rows as Parquet (what Firehose writes) vs NDJSON.gz, and
 * the bytes each named query scans with partition pruning (one day, one hour) and without (all
 * days). Also the realistic archive rows and models the local Firehose/Athena tests use.
 * Run: npx tsx bench/archive.ts [--quick]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  ARCHIVE_COLUMNS,
  ARCHIVE_DATA_PREFIX,
  ARCHIVE_ERROR_PREFIX,
  ARCHIVE_PARTITIONS,
  ARCHIVE_TABLE_NAME,
} from '../functions/core/archive/columns';
import { NAMED_QUERIES } from '../functions/core/archive/named-queries';
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
      source: 'inferbus',
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

export interface ArchiveBenchResult {
  readonly rows: number;
  readonly parquetBytes: number;
  readonly ndjsonGzBytes: number;
  readonly queries: { name: string; oneHourBytes: number; oneDayBytes: number; allDaysBytes: number }[];
}

/** Partitions: `days` days × 24 hours, `rows / (days*24)` rows each, written as s3rver lays them out. */
export async function runArchiveBench({ quick = false } = {}): Promise<ArchiveBenchResult> {
  const days = quick ? 2 : 7;
  const requestsPerHour = quick ? 200 : 2000;
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
  try {
    let rows = 0;
    let parquetBytes = 0;
    let ndjsonGzBytes = 0;
    const dates: string[] = [];
    for (let d = 0; d < days; d++) {
      const dt = `2026-11-${String(10 + d).padStart(2, '0')}`;
      dates.push(dt);
      for (let h = 0; h < 24; h++) {
        const hour = String(h).padStart(2, '0');
        const records = archiveRecords(requestsPerHour, new Date(`${dt}T${hour}:30:00Z`));
        const lines = records.map((r) => JSON.stringify(r));
        const converted = lines.map((line) => convertRecord(columns, line));
        const good = converted.flatMap((c) => (c.ok ? [c.row] : []));
        const parquet = await writer.write(columns, good, 'SNAPPY');
        const key = `${ARCHIVE_DATA_PREFIX}dt=${dt}/hour=${hour}/bench.parquet`;
        const path = objectPathOnDisk(dir, models.stream.bucketName, key);
        await mkdir(join(path, '..'), { recursive: true });
        await writeFile(path, parquet);
        rows += good.length;
        parquetBytes += parquet.byteLength;
        ndjsonGzBytes += gzipSync(`${lines.join('\n')}\n`).byteLength;
      }
    }
    const scanned = async (sql: string, parameters: string[]) => {
      const id = athena.start({ query: sql, workGroup: models.workGroup.name, parameters });
      await athena.idle();
      const execution = athena.get(id);
      if (execution.state !== 'SUCCEEDED')
        throw new Error(`${execution.state}: ${execution.stateChangeReason}`);
      return execution.dataScannedBytes;
    };
    const first = `'${dates[0]}'`;
    const last = `'${dates[dates.length - 1]}'`;
    const queries = [];
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
    return { rows, parquetBytes, ndjsonGzBytes, queries };
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
    `Parquet (snappy): ${mb(result.parquetBytes)}   NDJSON.gz: ${mb(result.ndjsonGzBytes)}   ratio ${(result.ndjsonGzBytes / result.parquetBytes).toFixed(2)}x`,
  );
  console.table(result.queries);
  console.log(`took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
