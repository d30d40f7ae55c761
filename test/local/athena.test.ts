import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
  ListNamedQueriesCommand,
  ListWorkGroupsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveModels, archiveRecords } from '../../bench/archive';
import { handleAthenaRequest, LocalAthena } from '../../local/athena';
import { LocalFirehose } from '../../local/firehose';
import { type LocalS3, localS3Client, startLocalS3 } from '../../local/s3';

const REQUESTS = 40;
const models = archiveModels('ath-archive', 'ath-results');

function serve(athena: LocalAthena): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = handleAthenaRequest(
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
    const records = archiveRecords(REQUESTS);
    for (const record of records) await firehose.putRecord(models.stream.arn, JSON.stringify(record));
    // At-least-once: a redelivered request must not be counted twice.
    await firehose.putRecord(models.stream.arn, JSON.stringify(records[0]));
    await firehose.close();

    const hourly = await query(client, named('hourly-tier-volume'), range);
    const sum = (field: string) => hourly.rows.reduce((total, row) => total + Number(row[field]), 0);
    expect([sum('requests'), sum('tier1_results'), sum('escalations'), sum('tier2_results')]).toEqual([
      40, 24, 12, 12,
    ]);
    expect(hourly.rows[0]?.escalation_rate).toBe('0.3333');
    expect(hourly.rows[0]?.hour).toMatch(/^\d\d$/);
    expect(hourly.execution?.Statistics?.DataScannedInBytes).toBeGreaterThan(0);

    const latency = await query(client, named('latency-percentiles'), range);
    expect(latency.rows.map((r) => [r.tier, r.results, r.p50_ms, r.p99_ms])).toEqual([
      ['1', '36', '3.0', '5.0'],
      ['2', '12', '21.0', '22.0'],
    ]);

    const tenants = await query(client, named('tenant-volume'), range);
    expect(tenants.rows.reduce((total, r) => total + Number(r.events), 0)).toBe(92);
    expect(
      tenants.rows.find((r) => r.tenant === 't0' && r.detail_type === 'InferenceRequested')?.events,
    ).toBe('14');

    const joined = await query(client, named('results-with-source'), range);
    expect(joined.rows).toHaveLength(36);
    expect(joined.rows.filter((r) => r.tier === '2').every((r) => r.label === r.expected_label)).toBe(true);

    const accuracy = await query(client, named('accuracy-per-tier'), range);
    expect(accuracy.rows).toEqual([
      { tier: '1', labelled_results: '24', correct: '20', accuracy: '0.8333' },
      { tier: '2', labelled_results: '12', correct: '12', accuracy: '1.0' },
    ]);
    expect(accuracy.results?.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => c.Type)).toEqual([
      'integer',
      'bigint',
      'bigint',
      'double',
    ]);

    const outcomes = await query(client, named('exactly-once-outcomes'), range);
    const ids = outcomes.rows.map((r) => r.source_event_id);
    expect(new Set(ids).size).toBe(ids.length); // one row per request, the redelivered one included
    expect(outcomes.rows.filter((r) => r.outcome === 'InferenceCompleted')).toHaveLength(36);
    expect(outcomes.rows.filter((r) => r.outcome === 'InferenceCompleted' && r.tier === '2')).toHaveLength(
      12,
    );
    expect(outcomes.rows.filter((r) => r.outcome === 'InferenceFailed')).toHaveLength(4);
    expect(ids).toHaveLength(REQUESTS); // every request exactly once: 36 results + 4 failures

    const failures = await query(client, named('dlq-bound-failures'), range);
    expect(failures.rows[0]).toMatchObject({ tenant: 't0', error_code: 'MODEL_ERROR', events: '2' });
    expect(failures.rows).toHaveLength(3);

    // Results are also a CSV at the workgroup's output location, as Athena writes them.
    const location = failures.execution?.ResultConfiguration?.OutputLocation as string;
    expect(location).toBe(`s3://ath-results/results/${failures.execution?.QueryExecutionId}.csv`);
    const csv = await readFile(
      s3.objectPathOnDisk('ath-results', location.replace('s3://ath-results/', '')),
      'utf8',
    );
    expect(csv.split('\n')[0]).toBe(
      '"tenant","error_code","events","first_seen","last_seen","example_message"',
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
    const { execution } = await query(client, 'SELECT range AS n FROM range(25)');
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
