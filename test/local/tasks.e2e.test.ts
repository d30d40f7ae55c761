import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetailType, RESULT_SOURCE, tenantSource } from '../../functions/core/events';
import { PROJECT_ROOT } from '../../lib/app';
import { runOfflinePreflight } from '../../local/preflight/offline';
import { LocalRuntime } from '../../local/runtime';
import { describeTask, servedTasks } from '../../local/tasks';
import { synth } from '../infra/synth';
import { writeTwoTaskConfig, writeTwoTaskModels } from '../support/task-fixture';

/**
 * The local runtime on a synthesized stage with two tasks (spam: two tiers; triage: three): its
 * rules, queues and IAM, from the template alone. The event source mappings are switched off in
 * the template, so every message stays in the queue a rule delivered it to and the test reads
 * where each request and escalation went (the handlers are tested on their own).
 */
let rt: LocalRuntime;
let bus: EventBridgeClient;
let cdkOutDir: string;

beforeAll(async () => {
  const { outdir, stack } = synth({
    stage: 'dev',
    config: writeTwoTaskConfig(),
    modelsDir: writeTwoTaskModels(),
  });
  const path = join(outdir, `${stack.stackName}.template.json`);
  const template = JSON.parse(readFileSync(path, 'utf8')) as { Resources: Record<string, any> };
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type === 'AWS::Lambda::EventSourceMapping') resource.Properties.Enabled = false;
  }
  writeFileSync(path, JSON.stringify(template));
  cdkOutDir = outdir;
  rt = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    cdkOutDir: outdir,
    port: 0,
    stateDir: mkdtempSync(join(tmpdir(), 'inferbus-tasks-')),
    log: () => {},
  });
  bus = new EventBridgeClient({
    endpoint: rt.endpoint,
    region: rt.model.region,
    credentials: { accessKeyId: 'operator', secretAccessKey: 'operator' },
  });
}, 300_000);

afterAll(async () => {
  await rt?.stop();
});

let seq = 0;
const request = (detail: Record<string, unknown>) => ({
  EventBusName: 'inferbus-dev',
  Source: tenantSource('acme'),
  DetailType: DetailType.InferenceRequested,
  Detail: JSON.stringify({
    id: `req-${++seq}`,
    tenant: 'acme',
    stream: 'inbox',
    seq,
    hlc: `${Date.now()}-0`,
    type: 'inference.requested',
    payload: { text: 'hello' },
    metadata: {},
    time: new Date().toISOString(),
    ...detail,
  }),
});

/**
 * Visible messages per queue (short names) once `expected` messages have arrived. Nothing consumes
 * them (the mappings are off), so the runtime's settle, which waits for empty work queues, cannot
 * be used; a stray extra delivery would show in the counts compared afterwards.
 */
async function deliveredTo(expected: number): Promise<Record<string, number>> {
  const visible = () => rt.queueCounts().reduce((sum, q) => sum + q.visible, 0);
  for (let waited = 0; visible() < expected && waited < 30_000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  return Object.fromEntries(
    rt
      .queueCounts()
      .filter((q) => q.visible > 0)
      .map((q) => {
        const short = q.name.replace(/^inferbus-dev-/, '');
        return [/^UnroutedRequestsQueue/.test(short) ? 'unrouted' : short, q.visible];
      }),
  );
}

/** Empties every queue, so each test sees only its own deliveries. */
async function drain(): Promise<void> {
  for (const q of rt.queueCounts()) await rt.queues.purge(q.arn);
}

describe('the local runtime serving two tasks', () => {
  it('runs a function per task and tier and lists the tasks in /health, the default first', async () => {
    expect(
      rt.model.functions
        .map((f) => f.name)
        .filter((n) => n.startsWith('inferbus-'))
        .sort(),
    ).toEqual([
      'inferbus-dev-spam-tier1',
      'inferbus-dev-spam-tier2',
      'inferbus-dev-triage-tier1',
      'inferbus-dev-triage-tier2',
      'inferbus-dev-triage-tier3',
    ]);
    const health = (await (await fetch(`${rt.endpoint}/health`)).json()) as { tasks: unknown };
    expect(health.tasks).toEqual([
      { id: 'spam', default: true, tiers: ['tier1', 'tier2'] },
      { id: 'triage', default: false, tiers: ['tier1', 'tier2-int8', 'tier2'] },
    ]);
    // The start-up banner's lines.
    expect(servedTasks(rt.model).map(describeTask)).toEqual([
      'spam (default): tier1 → tier2',
      'triage: tier1 → tier2-int8 → tier2',
    ]);
  });

  it("passes preflight: every tier's declared calls are granted, the third tier's too", async () => {
    const report = await runOfflinePreflight({
      projectRoot: PROJECT_ROOT,
      cdkOutDir,
      stage: 'dev',
      stateDir: mkdtempSync(join(tmpdir(), 'inferbus-tasks-preflight-')),
      log: () => {},
    });
    expect(report.rows.filter((row) => row.verdict === 'fail')).toEqual([]);
    const tier3 = rt.model.functions.find((f) => f.name === 'inferbus-dev-triage-tier3')?.logicalId as string;
    const checked = report.rows.filter((row) => row.verdict === 'pass' && row.check.startsWith(tier3));
    expect(checked.map((row) => row.check)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/events:PutEvents/),
        expect.stringMatching(/sqs:SendMessage/),
      ]),
    );
  });

  it('routes requests by detail.task: none to the first task, a named one to it, an unknown one to the unrouted queue', async () => {
    await drain();
    const response = await bus.send(
      new PutEventsCommand({
        Entries: [
          request({}),
          request({ task: 'triage' }),
          request({ task: 'spam' }),
          request({ task: 'sensor' }),
        ],
      }),
    );
    expect(response.FailedEntryCount).toBe(0);
    expect(await deliveredTo(4)).toEqual({ 'spam-t1-acme': 2, 'triage-t1-acme': 1, unrouted: 1 });
  });

  it("routes a handler's escalation to the next tier of its own task", async () => {
    await drain();
    const tier1 = rt.model.functions.find((f) => f.name === 'inferbus-dev-triage-tier1');
    const credentials = rt.iam?.credentialsOf(tier1?.logicalId as string);
    const asHandler = new EventBridgeClient({ endpoint: rt.endpoint, region: rt.model.region, credentials });
    const escalation = (task: string, tier: number) => ({
      ...request({
        type: 'inference.escalated',
        payload: { sourceEventId: `req-${seq}`, task, tier, text: 'hello' },
      }),
      Source: RESULT_SOURCE,
      DetailType: DetailType.EscalationRequested,
    });
    const response = await asHandler.send(
      new PutEventsCommand({
        Entries: [escalation('triage', 1), escalation('triage', 2), escalation('spam', 1)],
      }),
    );
    expect(response.FailedEntryCount).toBe(0);
    expect(await deliveredTo(3)).toEqual({ 'triage-t2-acme': 1, 'triage-t3-acme': 1, 'spam-t2-acme': 1 });
  });
});
