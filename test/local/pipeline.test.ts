import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { runQuery } from '../../local/demo/athena-client';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { loadSplits } from '../../models/train/data';
import { requestEvent } from '../support/sqs-records';

/**
 * The synthesized app end to end on the local runtime: real SDK clients against its endpoints,
 * the real handler bundles in worker processes, the durable queues, Firehose writing Parquet to
 * the S3-compatible server, and Athena on DuckDB reading it back.
 */
const messages = loadSplits().test;
const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-pipeline-'));
const logs: string[] = [];
let runtime: LocalRuntime;

const start = () =>
  LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log: (l) => logs.push(l),
    firehoseIntervalSeconds: 1,
  });
const clients = (rt: LocalRuntime) => {
  const config = { endpoint: rt.endpoint, region: rt.model.region, credentials: LOCAL_S3_CREDENTIALS };
  return {
    events: new EventBridgeClient(config),
    sqs: new SQSClient(config),
    athena: new AthenaClient(config),
  };
};
const busName = (rt: LocalRuntime) => rt.model.buses.find((b) => b.name !== 'default')?.name as string;

function entry(rt: LocalRuntime, id: string, tenant: string, text: string, payload?: unknown) {
  const event = JSON.parse(requestEvent(id, text, tenant));
  if (payload) event.detail.payload = payload;
  return {
    EventBusName: busName(rt),
    Source: `inferbus.${tenant}`,
    DetailType: 'InferenceRequested',
    Detail: JSON.stringify(event.detail),
  };
}

async function put(rt: LocalRuntime, entries: ReturnType<typeof entry>[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 10) {
    const response = await clients(rt).events.send(
      new PutEventsCommand({ Entries: entries.slice(i, i + 10) }),
    );
    expect(response.FailedEntryCount).toBe(0);
  }
}

const settle = (rt: LocalRuntime) => rt.settle({ quietMs: 1000 });

async function archived(rt: LocalRuntime, detailType: string): Promise<Set<string>> {
  const table = rt.model.glueTables[0];
  const result = await runQuery(
    clients(rt).athena,
    rt.model.workGroups[0]?.name as string,
    table?.databaseName as string,
    'SELECT DISTINCT source_event_id FROM events WHERE detail_type = ?',
    [`'${detailType}'`],
  );
  return new Set(result.rows.map((r) => r.source_event_id as string));
}

const dlqOf = (rt: LocalRuntime, tenant: string) => {
  const lane = rt.model.rules.find((r) => JSON.stringify(r.eventPattern).includes(`"inferbus.${tenant}"`));
  const work = rt.model.queues.find((q) => q.arn === lane?.targets[0]?.arn);
  return rt.model.queues.find((q) => q.arn === work?.redrive?.deadLetterTargetArn);
};

beforeAll(async () => {
  runtime = await start();
}, 180_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('local pipeline', () => {
  it('answers every request into the archive and dead-letters poison with its reason', async () => {
    const good = messages
      .slice(0, 40)
      .map((m, i) => entry(runtime, `p-${i}`, i % 2 ? 'acme' : 'globex', m.text));
    const poison = [0, 1].map((i) => entry(runtime, `poison-${i}`, 'acme', 'x', { note: 'no text' }));
    await put(runtime, [...good, ...poison]);
    await settle(runtime);

    const completed = await archived(runtime, 'InferenceCompleted');
    for (let i = 0; i < 40; i++) expect(completed).toContain(`p-${i}`);

    const dlq = dlqOf(runtime, 'acme');
    if (!dlq) throw new Error('no acme DLQ in the model');
    const { Messages = [] } = await clients(runtime).sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlq.url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    expect(Messages.map((m) => JSON.parse(m.Body ?? '{}').detail.id).sort()).toEqual([
      'poison-0',
      'poison-1',
    ]);
    for (const message of Messages) {
      expect(message.MessageAttributes?.ERROR_CODE?.StringValue).toBe('InvalidPayload');
      expect(message.MessageAttributes?.ERROR_MESSAGE?.StringValue).toMatch(/text.*claim/);
    }
    expect(await archived(runtime, 'InferenceFailed')).toEqual(new Set(['poison-0', 'poison-1']));

    // Each event is in the archive exactly once, whichever archive rule its shape matched: the
    // requests (the poison ones lack a payload field, so they have envelope columns only), and
    // every result and failure.
    const query = (sql: string) =>
      runQuery(
        clients(runtime).athena,
        runtime.model.workGroups[0]?.name as string,
        runtime.model.glueTables[0]?.databaseName as string,
        sql,
        [],
      );
    const twice = await query(
      'SELECT event_id, count(*) AS n FROM events GROUP BY event_id HAVING count(*) > 1',
    );
    expect(twice.rows).toEqual([]);
    const requests = await query(
      "SELECT envelope_id, CASE WHEN payload IS NULL THEN ' (bare)' ELSE '' END AS note FROM events WHERE detail_type = 'InferenceRequested'",
    );
    expect(requests.rows.map((r) => `${r.envelope_id}${r.note}`).sort()).toEqual(
      [...good.map((_, i) => `p-${i}`), 'poison-0 (bare)', 'poison-1 (bare)'].sort(),
    );
    const results = await query(
      "SELECT count(*) AS n FROM events WHERE detail_type IN ('InferenceCompleted', 'EscalationRequested', 'InferenceFailed') AND tier IS NULL",
    );
    expect(Number(results.rows[0]?.n)).toBe(0);
  });

  it('redrives a DLQ back to its source queue with a message move task', async () => {
    const dlq = dlqOf(runtime, 'acme');
    if (!dlq) throw new Error('no acme DLQ in the model');
    const processedBefore = runtime.pollers.reduce((n, p) => n + p.stats().records, 0);

    await clients(runtime).sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.arn }));
    const deadline = Date.now() + 30_000;
    let status = '';
    while (Date.now() < deadline && status !== 'COMPLETED') {
      const { Results = [] } = await clients(runtime).sqs.send(
        new ListMessageMoveTasksCommand({ SourceArn: dlq.arn }),
      );
      status = Results[0]?.Status ?? '';
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('COMPLETED');
    await settle(runtime);

    // The two poison records went back through tier 1 (and, still poison, back to the DLQ).
    expect(
      runtime.pollers.reduce((n, p) => n + p.stats().records, 0) - processedBefore,
    ).toBeGreaterThanOrEqual(2);
    expect(runtime.queues.counts(dlq.arn).visible).toBe(2);
  });

  it('loses nothing across a restart in the middle of the work', async () => {
    const batch = messages.slice(100, 160).map((m, i) => entry(runtime, `r-${i}`, 'initech', m.text));
    await put(runtime, batch);
    await runtime.stop();

    runtime = await start();
    await settle(runtime);

    const completed = await archived(runtime, 'InferenceCompleted');
    const missing = batch.map((_, i) => `r-${i}`).filter((id) => !completed.has(id));
    expect(missing).toEqual([]);
  });
});
