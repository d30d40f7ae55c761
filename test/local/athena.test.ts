import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AthenaClient,
  BatchGetNamedQueryCommand,
  GetNamedQueryCommand,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  InvalidRequestException,
  ListNamedQueriesCommand,
  ListWorkGroupsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ArchiveRecord, archiveModels, archiveRecords } from '../../bench/archive';
import { handleAthenaRequest, LocalAthena } from '../../local/athena';
import { createSandboxedDatabase } from '../../local/athena/sandbox';
import { LocalFirehose } from '../../local/firehose';
import { type LocalS3, localS3Client, startLocalS3 } from '../../local/s3';

const REQUESTS = 40;
const models = archiveModels('ath-archive', 'ath-results');

/**
 * The archive rows of two tasks: the spam rows of `archiveRecords` as the handlers now publish them
 * (every result, escalation and failure names its task and carries every label's probability;
 * requests name it or not), and a few rows of a second task with other labels.
 */
function twoTaskRecords(time = new Date()): ArchiveRecord[] {
  const spam = archiveRecords(REQUESTS, time).map((record, i) => {
    const payload = record.payload as Record<string, unknown>;
    if (record.detail_type === 'InferenceRequested')
      return i % 2 === 0 ? { ...record, task: 'spam' } : record;
    const withTask = { ...payload, task: 'spam' };
    if (typeof payload.score !== 'number') return { ...record, task: 'spam', payload: withTask };
    const other = Math.round((1 - payload.score) * 1e6) / 1e6;
    const probabilities =
      payload.label === 'spam' ? { ham: other, spam: payload.score } : { ham: payload.score, spam: other };
    return { ...record, task: 'spam', payload: { ...withTask, probabilities } };
  });
  const iso = time.toISOString();
  const row = (
    n: number,
    detailType: string,
    columns: Record<string, unknown>,
    payload: Record<string, unknown>,
  ) => ({
    event_id: `sensor-ev-${n}`,
    detail_type: detailType,
    source: detailType === 'InferenceRequested' ? `inferbus.${columns.tenant}` : 'inferbus.results',
    account: '000000000000',
    region: 'us-east-1',
    event_time: iso,
    envelope_type: detailType,
    envelope_time: iso,
    hlc: `${time.getTime()}:s${n}`,
    ingestion_time: iso,
    stream: 'motes',
    task: 'sensor',
    payload,
    ...columns,
  });
  const result = (request: string, tier: number, label: string, score: number) => ({
    source_event_id: request,
    tier,
    label,
    score,
    model_version: `mote${tier}@0123456789ab`,
    latency_ms: 0.5,
    duplicate: false,
  });
  const probabilities = (anomaly: number) => ({ normal: Math.round((1 - anomaly) * 1e6) / 1e6, anomaly });
  return [
    ...spam,
    row(
      1,
      'InferenceRequested',
      { tenant: 't0', envelope_id: 's-0', seq: 0, expected_label: 'anomaly' },
      { features: [1, 2, 0], expectedLabel: 'anomaly' },
    ),
    row(
      2,
      'InferenceCompleted',
      {
        tenant: 't0',
        envelope_id: 't0:s-0:t1:completed',
        seq: 0,
        ...result('s-0', 1, 'anomaly', 0.97),
        expected_label: 'anomaly',
      },
      { probabilities: probabilities(0.97) },
    ),
    row(
      3,
      'InferenceRequested',
      { tenant: 't1', envelope_id: 's-1', seq: 1, expected_label: 'anomaly' },
      { features: [3, 4, 1], expectedLabel: 'anomaly' },
    ),
    row(
      4,
      'EscalationRequested',
      { tenant: 't1', envelope_id: 't1:s-1:t1:escalated', seq: 1, ...result('s-1', 1, 'normal', 0.6) },
      { probabilities: probabilities(0.4) },
    ),
    row(
      5,
      'InferenceCompleted',
      { tenant: 't1', envelope_id: 't1:s-1:t2:completed', seq: 1, ...result('s-1', 2, 'anomaly', 0.8) },
      { probabilities: probabilities(0.8) },
    ),
  ];
}

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

function athenaClient(server: Server): AthenaClient {
  return new AthenaClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

async function waitFor(client: AthenaClient, id: string) {
  for (let i = 0; i < 500; i++) {
    const { QueryExecution } = await client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
    const state = QueryExecution?.Status?.State;
    if (state !== 'QUEUED' && state !== 'RUNNING') return QueryExecution;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`query ${id} did not finish`);
}

async function query(
  client: AthenaClient,
  sql: string,
  parameters?: string[],
  workGroup = models.workGroup.name,
) {
  const { QueryExecutionId } = await client.send(
    new StartQueryExecutionCommand({
      QueryString: sql,
      WorkGroup: workGroup,
      QueryExecutionContext: { Database: models.table.databaseName },
      ...(parameters ? { ExecutionParameters: parameters } : {}),
    }),
  );
  const execution = await waitFor(client, QueryExecutionId as string);
  if (execution?.Status?.State !== 'SUCCEEDED')
    return { execution, rows: [] as Record<string, string | undefined>[] };
  const results = await client.send(new GetQueryResultsCommand({ QueryExecutionId }));
  return { execution, results, rows: rowObjects(results) };
}

function rowObjects(results: GetQueryResultsCommandOutput): Record<string, string | undefined>[] {
  const [header, ...rows] = results.ResultSet?.Rows ?? [];
  const names = (header?.Data ?? []).map((d) => d.VarCharValue as string);
  return rows.map((row) => Object.fromEntries(names.map((name, i) => [name, row.Data?.[i]?.VarCharValue])));
}

describe('local Athena through @aws-sdk/client-athena', () => {
  let stateDir: string;
  let s3: LocalS3;
  let s3Client: S3Client;
  let athena: LocalAthena;
  let server: Server;
  let client: AthenaClient;
  const today = `'${new Date().toISOString().slice(0, 10)}'`;
  const range = [today, today];
  const named = (name: string) => models.namedQueries.find((q) => q.name === name)?.queryString as string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'inferbus-athena-'));
    s3 = await startLocalS3({
      stateDir,
      buckets: [
        { logicalId: 'Archive', name: 'ath-archive' },
        { logicalId: 'Results', name: 'ath-results' },
      ],
    });
    s3Client = localS3Client(s3.endpoint);
    athena = new LocalAthena({
      tables: [models.table],
      workGroups: [
        models.workGroup,
        { name: 'tiny', outputLocation: 's3://ath-results/tiny/', bytesScannedCutoffPerQuery: 1 },
      ],
      namedQueries: models.namedQueries,
      objectPath: s3.objectPathOnDisk,
      s3: s3Client,
    });
    server = await serve(athena);
    client = athenaClient(server);
  });

  afterAll(async () => {
    client?.destroy();
    await new Promise((resolve) => server?.close(resolve));
    await athena?.close();
    s3Client?.destroy();
    await s3?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('has the table, with its columns, before any object exists', async () => {
    const { execution, rows, results } = await query(client, 'SELECT * FROM events');
    expect(execution?.Status?.State).toBe('SUCCEEDED');
    expect(rows).toEqual([]);
    const columns = results?.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => `${c.Name}:${c.Type}`);
    expect(columns).toContain('seq:bigint');
    expect(columns).toContain('tier:integer');
    expect(columns?.slice(-2)).toEqual(['dt:varchar', 'hour:varchar']);
  });

  it('runs every named query unchanged on what the local Firehose archived', async () => {
    const firehose = new LocalFirehose({ streams: [models.stream], tables: [models.table], s3: s3Client });
    const records = twoTaskRecords();
    for (const record of records) await firehose.putRecord(models.stream.arn, JSON.stringify(record));
    // At-least-once: a redelivered request must not be counted twice.
    await firehose.putRecord(models.stream.arn, JSON.stringify(records[0]));
    await firehose.close();

    const hourly = await query(client, named('hourly-tier-volume'), range);
    const sum = (field: string) => hourly.rows.reduce((total, row) => total + Number(row[field]), 0);
    // Both tasks together: 42 requests; tier 1 answered 25 and escalated 13 of its 38 decisions.
    expect([sum('requests'), sum('tier1_results'), sum('escalations'), sum('tier2_results')]).toEqual([
      42, 25, 13, 13,
    ]);
    expect(hourly.rows[0]?.escalation_rate).toBe('0.3421');
    expect(hourly.rows[0]?.hour).toMatch(/^\d\d$/);
    expect(hourly.execution?.Statistics?.DataScannedInBytes).toBeGreaterThan(0);

    const latency = await query(client, named('latency-percentiles'), range);
    expect(latency.rows.map((r) => [r.task, r.tier, r.results, r.p50_ms, r.p99_ms])).toEqual([
      ['sensor', '1', '2', '0.5', '0.5'],
      ['sensor', '2', '1', '0.5', '0.5'],
      ['spam', '1', '36', '3.0', '5.0'],
      ['spam', '2', '12', '21.0', '22.0'],
    ]);

    const tenants = await query(client, named('tenant-volume'), range);
    expect(tenants.rows.reduce((total, r) => total + Number(r.events), 0)).toBe(97);
    expect(
      tenants.rows.find((r) => r.tenant === 't0' && r.detail_type === 'InferenceRequested')?.events,
    ).toBe('15');

    const joined = await query(client, named('results-with-source'), range);
    expect(joined.rows).toHaveLength(38);
    expect(
      joined.rows.filter((r) => r.task === 'sensor').map((r) => [r.source_event_id, r.tier, r.label]),
    ).toEqual(
      expect.arrayContaining([
        ['s-0', '1', 'anomaly'],
        ['s-1', '2', 'anomaly'],
      ]),
    );
    expect(joined.rows.filter((r) => r.tier === '2').every((r) => r.label === r.expected_label)).toBe(true);

    const accuracy = await query(client, named('accuracy-per-tier'), range);
    expect(accuracy.rows).toEqual([
      { task: 'sensor', tier: '1', labelled_results: '1', correct: '1', accuracy: '1.0' },
      { task: 'sensor', tier: '2', labelled_results: '1', correct: '1', accuracy: '1.0' },
      { task: 'spam', tier: '1', labelled_results: '24', correct: '20', accuracy: '0.8333' },
      { task: 'spam', tier: '2', labelled_results: '12', correct: '12', accuracy: '1.0' },
    ]);
    expect(accuracy.results?.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => c.Type)).toEqual([
      'varchar',
      'integer',
      'bigint',
      'bigint',
      'double',
    ]);

    const summary = await query(client, named('task-summary'), range);
    expect(summary.rows).toEqual([
      {
        task: 'sensor',
        tier: '1',
        decisions: '2',
        escalated: '1',
        escalation_rate: '0.5',
        answers: '1',
        mean_score: '0.785',
        labelled_answers: '1',
        accuracy: '1.0',
      },
      {
        task: 'sensor',
        tier: '2',
        decisions: '1',
        escalated: '0',
        escalation_rate: '0.0',
        answers: '1',
        mean_score: '0.8',
        labelled_answers: '1',
        accuracy: '1.0',
      },
      {
        task: 'spam',
        tier: '1',
        decisions: '36',
        escalated: '12',
        escalation_rate: '0.3333',
        answers: '24',
        mean_score: '0.9',
        labelled_answers: '24',
        accuracy: '0.8333',
      },
      {
        task: 'spam',
        tier: '2',
        decisions: '12',
        escalated: '0',
        escalation_rate: '0.0',
        answers: '12',
        mean_score: '0.9',
        labelled_answers: '12',
        accuracy: '1.0',
      },
    ]);

    // A label's probability, from the payload JSON, reads the same in Athena and DuckDB.
    const probability = await query(
      client,
      `SELECT source_event_id, CAST(json_extract_scalar(payload, '$.probabilities.anomaly') AS double) AS p
       FROM events WHERE dt BETWEEN ? AND ? AND task = 'sensor' AND detail_type = 'InferenceCompleted' ORDER BY source_event_id`,
      range,
    );
    expect(probability.rows).toEqual([
      { source_event_id: 's-0', p: '0.97' },
      { source_event_id: 's-1', p: '0.8' },
    ]);

    const outcomes = await query(client, named('exactly-once-outcomes'), range);
    const ids = outcomes.rows.map((r) => `${r.tenant}:${r.source_event_id}`);
    expect(new Set(ids).size).toBe(ids.length); // one row per request, the redelivered one included
    expect(outcomes.rows.filter((r) => r.task === 'sensor').map((r) => [r.source_event_id, r.tier])).toEqual([
      ['s-0', '1'],
      ['s-1', '2'],
    ]);
    expect(outcomes.rows.filter((r) => r.outcome === 'InferenceCompleted')).toHaveLength(38);
    expect(outcomes.rows.filter((r) => r.outcome === 'InferenceCompleted' && r.tier === '2')).toHaveLength(
      13,
    );
    expect(outcomes.rows.filter((r) => r.outcome === 'InferenceFailed')).toHaveLength(4);
    expect(ids).toHaveLength(REQUESTS + 2); // every request exactly once: 38 results + 4 failures

    const failures = await query(client, named('dlq-bound-failures'), range);
    expect(failures.rows[0]).toMatchObject({
      tenant: 't0',
      task: 'spam',
      error_code: 'MODEL_ERROR',
      events: '2',
    });
    expect(failures.rows).toHaveLength(3);

    // Results are also a CSV at the workgroup's output location, as Athena writes them.
    const location = failures.execution?.ResultConfiguration?.OutputLocation as string;
    expect(location).toBe(`s3://ath-results/results/${failures.execution?.QueryExecutionId}.csv`);
    const csv = await readFile(
      s3.objectPathOnDisk('ath-results', location.replace('s3://ath-results/', '')),
      'utf8',
    );
    expect(csv.split('\n')[0]).toBe(
      '"tenant","task","error_code","events","first_seen","last_seen","example_message"',
    );
    expect(csv.trim().split('\n')).toHaveLength(4);

    // Another day has nothing: partition filters prune everything.
    const empty = await query(client, named('tenant-volume'), ["'2020-01-01'", "'2020-01-02'"]);
    expect(empty.rows).toEqual([]);
    expect(empty.execution?.Statistics?.DataScannedInBytes).toBe(0);
  });

  it('binds parameters as the literals Athena would substitute, never as SQL', async () => {
    const { rows } = await query(client, 'SELECT ? AS s, ? AS n, ? AS d, ? AS b, ? AS q', [
      "'2026-11-28'",
      '5',
      '0.25',
      'true',
      "'it''s; DROP TABLE events'",
    ]);
    expect(rows).toEqual([{ s: '2026-11-28', n: '5', d: '0.25', b: 'true', q: "it's; DROP TABLE events" }]);
    await expect(
      client.send(
        new StartQueryExecutionCommand({ QueryString: 'SELECT ?', ExecutionParameters: ['1; DROP TABLE x'] }),
      ),
    ).rejects.toThrow(/not a literal/);
  });

  it('pages results with NextToken, header row first', async () => {
    const { execution } = await query(client, 'SELECT n FROM UNNEST(sequence(0, 24)) AS t(n)');
    const id = execution?.QueryExecutionId as string;
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: 10, NextToken: token }),
      );
      seen.push(...(page.ResultSet?.Rows ?? []).map((r) => r.Data?.[0]?.VarCharValue as string));
      token = page.NextToken;
    } while (token);
    expect(seen).toHaveLength(26);
    expect(seen[0]).toBe('n');
    expect(seen.at(-1)).toBe('24');
    await expect(
      client.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: 1001 })),
    ).rejects.toThrow(/MaxResults/);
  });

  it('reports a failing query as FAILED with the reason', async () => {
    const { execution } = await query(client, 'SELECT no_such_column FROM events');
    expect(execution?.Status?.State).toBe('FAILED');
    expect(execution?.Status?.StateChangeReason).toMatch(/no_such_column/);
    await expect(
      client.send(new GetQueryResultsCommand({ QueryExecutionId: execution?.QueryExecutionId })),
    ).rejects.toThrow(/FAILED/);
  });

  /** The InvalidRequestException StartQueryExecution answers, or a failure if it starts the query. */
  async function refusal(sql: string): Promise<InvalidRequestException> {
    try {
      const started = await client.send(
        new StartQueryExecutionCommand({
          QueryString: sql,
          WorkGroup: models.workGroup.name,
          QueryExecutionContext: { Database: models.table.databaseName },
        }),
      );
      const execution = await waitFor(client, started.QueryExecutionId as string);
      throw new Error(`${sql} was started and ended ${execution?.Status?.State}`);
    } catch (error) {
      if (error instanceof InvalidRequestException) return error;
      throw error;
    }
  }

  it('refuses DuckDB-only statements as Athena refuses what it cannot parse, touching no file', async () => {
    const outside = join(stateDir, 'outside');
    await mkdir(outside, { recursive: true });
    const secret = join(outside, 'secret.csv');
    await writeFile(secret, 'password\nhunter2\n');
    const written = join(outside, 'x.csv');
    const statements = [
      `COPY (SELECT 1) TO '${written}'`,
      `EXPLAIN ANALYZE COPY (SELECT 1) TO '${written}'`,
      `ATTACH '${join(outside, 'y.db')}'`,
      'INSTALL httpfs',
      'LOAD httpfs',
      'PRAGMA version',
      'SET threads = 1',
      'FROM events',
      `SELECT * FROM read_text('${secret}')`,
      `SELECT * FROM read_csv('${secret}')`,
      `SELECT * FROM '${secret}'`,
      `WITH s AS (SELECT * FROM glob('${outside}/*')) SELECT * FROM s`,
      `SELECT * FROM events WHERE tenant IN (SELECT password FROM read_csv('${secret}'))`,
      `WITH x AS (SELECT 1) INSERT INTO events SELECT * FROM x`,
      'SELECT 1; SELECT 2',
    ];
    for (const sql of statements) {
      const error = await refusal(sql);
      expect(error.AthenaErrorCode, sql).toBe('MALFORMED_QUERY');
      expect(error.message, sql).toMatch(/Athena|statement|table/);
    }
    expect((await refusal("COPY (SELECT 1) TO 'x.csv'")).message).toBe(
      "line 1:1: mismatched input 'COPY'. COPY is not an Athena statement; local Athena runs SELECT, WITH, VALUES, EXPLAIN, DESCRIBE <table> and SHOW COLUMNS {FROM|IN} <table>",
    );
    expect((await refusal(`SELECT *\nFROM read_text('${secret}')`)).message).toMatch(
      /^line 2:6: read_text\(\.\.\.\) is a DuckDB table function, not Athena SQL: query the archive through its tables \(inferbus_dev\.events\)/,
    );
    expect((await refusal('SELECT 1; SELECT 2')).message).toBe(
      'Only one sql statement is allowed. Got: SELECT 1; SELECT 2',
    );
    expect(existsSync(written)).toBe(false);
    expect(existsSync(join(outside, 'y.db'))).toBe(false);
  });

  it('refuses syntax errors and catalog-changing statements at start, naming what to do', async () => {
    const syntax = await refusal('SELECT FROM WHERE');
    expect(syntax.AthenaErrorCode).toBe('MALFORMED_QUERY');
    expect(syntax.message).toMatch(/^line 1:13: syntax error at or near "WHERE"/);
    const ddl = await refusal('CREATE TABLE t AS SELECT 1');
    expect(ddl.message).toMatch(/^CREATE statements are not supported locally: .*CDK template/);
    expect((await refusal('SHOW TABLES')).message).toMatch(/^SHOW TABLES is not supported locally/);
    expect((await refusal('DESCRIBE no_such_table')).message).toBe(
      'Table inferbus_dev.no_such_table does not exist: the local catalog has inferbus_dev.events',
    );
  });

  it('answers DESCRIBE and SHOW COLUMNS as Athena does for a Hive table', async () => {
    const raw = async (sql: string) => {
      const { QueryExecutionId } = await client.send(
        new StartQueryExecutionCommand({
          QueryString: sql,
          WorkGroup: models.workGroup.name,
          QueryExecutionContext: { Database: models.table.databaseName },
        }),
      );
      const execution = await waitFor(client, QueryExecutionId as string);
      expect(execution?.Status?.State, sql).toBe('SUCCEEDED');
      const results = await client.send(new GetQueryResultsCommand({ QueryExecutionId }));
      return {
        execution,
        results,
        values: (results.ResultSet?.Rows ?? []).map((r) => r.Data?.map((d) => d.VarCharValue)),
      };
    };
    const names = [...models.table.columns, ...models.table.partitionKeys].map((c) => c.name);
    const pad = (text: string) => text.padEnd(20);

    const columns = await raw('SHOW COLUMNS FROM events');
    expect(columns.values).toEqual(names.map((n) => [pad(n)])); // no header row
    expect(columns.execution?.StatementType).toBe('UTILITY');
    expect(columns.execution?.SubstatementType).toBe('SHOW_COLUMNS');
    expect(columns.results.UpdateCount).toBe(0);
    expect(columns.results.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => [c.Name, c.Type])).toEqual([
      ['field', 'string'],
    ]);
    for (const sql of [
      'SHOW COLUMNS IN inferbus_dev.events',
      'SHOW COLUMNS IN `events` IN `inferbus_dev`;',
    ]) {
      expect((await raw(sql)).values, sql).toEqual(columns.values);
    }

    const described = await raw('DESCRIBE events');
    expect(described.execution?.SubstatementType).toBe('DESCRIBE_TABLE');
    expect(described.results.UpdateCount).toBeUndefined();
    expect(described.results.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => c.Name)).toEqual([
      'col_name',
      'data_type',
      'comment',
    ]);
    const values = described.values.map((v) => v?.[0]);
    const first = models.table.columns[0] as { name: string; type: string };
    expect(values[0]).toBe(`${pad(first.name)}\t${pad(first.type)}\t${pad('')}`);
    expect(values.slice(names.length)).toEqual([
      '\t \t ',
      '# Partition Information\t \t ',
      `${'# col_name'.padEnd(22)}\t${pad('data_type')}\t${pad('comment')}`,
      '\t \t ',
      `${pad('dt')}\t${pad('string')}\t${pad('')}`,
      `${pad('hour')}\t${pad('string')}\t${pad('')}`,
    ]);
    expect((await raw('desc inferbus_dev.events')).values).toEqual(described.values);
    expect(described.execution?.ResultConfiguration?.OutputLocation).toMatch(/\.txt$/);
  });

  it("explains a query with DuckDB's plan", async () => {
    const { rows, execution } = await query(client, 'EXPLAIN SELECT count(*) FROM events');
    expect(execution?.Status?.State).toBe('SUCCEEDED');
    const plan = rows.map((r) => r['Query Plan']).join('\n');
    expect(plan, plan).toMatch(/AGGREGATE|SCAN/);
  });

  it("enforces the workgroup's bytes-scanned cutoff", async () => {
    const { execution } = await query(
      client,
      'SELECT count(DISTINCT envelope_id) FROM events',
      undefined,
      'tiny',
    );
    expect(execution?.Status?.State).toBe('FAILED');
    expect(execution?.Status?.StateChangeReason).toBe('Query cancelled! : Bytes scanned limit was exceeded');
  });

  it('lists and gets named queries and workgroups', async () => {
    const list = await client.send(new ListNamedQueriesCommand({ WorkGroup: models.workGroup.name }));
    expect(list.NamedQueryIds).toHaveLength(models.namedQueries.length);
    const one = await client.send(new GetNamedQueryCommand({ NamedQueryId: list.NamedQueryIds?.[0] }));
    expect(one.NamedQuery?.Name).toBe('hourly-tier-volume');
    const batch = await client.send(
      new BatchGetNamedQueryCommand({ NamedQueryIds: [...(list.NamedQueryIds ?? []), 'nope'] }),
    );
    expect(batch.NamedQueries).toHaveLength(models.namedQueries.length);
    expect(batch.UnprocessedNamedQueryIds?.[0]?.NamedQueryId).toBe('nope');
    const groups = await client.send(new ListWorkGroupsCommand({}));
    expect(groups.WorkGroups?.map((w) => w.Name)).toEqual(
      expect.arrayContaining(['inferbus-dev', 'primary']),
    );
  });
});

describe('the DuckDB sandbox under local Athena', () => {
  it('reads and writes nothing outside the archive and its scratch folder, and cannot be loosened', async () => {
    const root = await mkdtemp(join(tmpdir(), 'inferbus-sandbox-'));
    const archive = join(root, 'archive');
    const outside = join(root, 'outside');
    await mkdir(archive, { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(archive, 'in.csv'), 'a\n1\n');
    await writeFile(join(outside, 'secret.csv'), 'a\n2\n');
    const db = await createSandboxedDatabase({
      readable: [archive],
      scratch: join(root, 'scratch'),
      setup: [],
    });
    const connection = await db.connect();
    try {
      const inside = await connection.runAndReadAll(`SELECT a FROM read_csv('${join(archive, 'in.csv')}')`);
      expect(inside.getRowsJson()).toEqual([['1']]);
      for (const sql of [
        `SELECT * FROM read_csv('${join(outside, 'secret.csv')}')`,
        `SELECT * FROM read_text('/etc/hostname')`,
        `COPY (SELECT 1) TO '${join(outside, 'x.csv')}'`,
        `ATTACH '${join(outside, 'y.db')}'`,
        'INSTALL httpfs',
        'SET enable_external_access = true',
        "SET allowed_directories = ['/']",
      ]) {
        await expect(connection.run(sql), sql).rejects.toThrow(
          /Permission Error|Cannot (enable|change)|disabled/,
        );
      }
      expect(existsSync(join(outside, 'x.csv'))).toBe(false);
    } finally {
      connection.closeSync();
      db.closeSync();
      await rm(root, { recursive: true, force: true });
    }
  });
});
