/**
 * The local IAM's measures (issue 16): what it decided per function in the demo (`npm start`) and
 * in the pipeline benchmark, the pipeline's events/s with authorization on and off side by side in
 * one process, and (runIamBench) what it costs per call: the authorizer's decision for the calls the pipeline makes
 * (tier-1's BatchGetItem, PutEvents entries, SQS sends, an EventBridge delivery into a queue), once
 * evaluated from the policies and once answered from the decision cache, plus the action-table
 * mapping of a PutEvents body. The pipeline's side-by-side cost (authorization on and off) is
 * `PIPELINE_AUTHORIZATION=off npx tsx bench/pipeline.ts` against the default.
 *
 * Run: npx tsx bench/iam.ts (per-call costs only); `npm run bench -- --only iam` for everything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadLetterQueueName, workQueueName } from '../functions/core/queue-names';
import { runDemo } from '../local/demo/run-demo';
import { type AccessRequest, accessRequestsOf } from '../local/iam/actions';
import { LocalAuthorizer } from '../local/iam/authorizer';
import { LocalRuntime } from '../local/runtime';
import { loadTemplateModel } from '../local/template';
import { type PipelineBenchRow, runOnce } from './pipeline';

const round = (value: number, digits: number) => Number(value.toFixed(digits));

const PROJECT_ROOT = join(import.meta.dirname, '..');

export function runIamBench(iterations = 200_000) {
  const model = loadTemplateModel(join(PROJECT_ROOT, 'cdk.out'), 'inferbus-dev', {
    endpoint: 'http://127.0.0.1:1',
  });
  const tier1 = model.functions.find((f) => f.environment.INFERBUS_TIER === '1');
  if (!tier1) throw new Error('no tier-1 function in the template');
  const table = model.tables[0]?.arn;
  const bus = model.buses.find((b) => b.name !== 'default')?.arn;
  const dlqName = deadLetterQueueName(workQueueName('dev', 'spam', 1, 'acme'));
  const queue = model.queues.find((q) => q.name === dlqName)?.arn;
  if (!table || !bus || !queue)
    throw new Error(`the dev template lacks the table, bus or ${dlqName} this measures`);
  const rule = model.rules.find((r) => r.name.includes('SpamTier1TenantAcme'));
  const calls: [string, AccessRequest][] = [
    ['dynamodb:BatchGetItem', { action: 'dynamodb:BatchGetItem', resource: table }],
    [
      'events:PutEvents entry',
      {
        action: 'events:PutEvents',
        resource: bus,
        context: { 'events:source': 'inferbus.results', 'events:detail-type': 'InferenceCompleted' },
      },
    ],
    ['sqs:SendMessage', { action: 'sqs:SendMessage', resource: queue }],
  ];
  const rows: Record<string, number | string>[] = [];
  const time = (name: string, run: () => unknown, n: number) => {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) run();
    const used = process.cpuUsage(start);
    rows.push({ call: name, microsecondsPerCall: round((used.user + used.system) / n, 3) });
  };
  for (const [name, request] of calls) {
    // A fresh authorizer per call: every decision is evaluated from the policies.
    const fresh = () => {
      const iam = new LocalAuthorizer(model);
      const caller = iam.callerOf(iam.credentialsOf(tier1.logicalId).accessKeyId);
      return () => iam.decide(caller, request);
    };
    const evaluations = Array.from({ length: 2000 }, fresh);
    let i = 0;
    time(`${name} (evaluated)`, () => evaluations[i++]?.(), evaluations.length);
    const iam = new LocalAuthorizer(model);
    const caller = iam.callerOf(iam.credentialsOf(tier1.logicalId).accessKeyId);
    time(`${name} (cached)`, () => iam.check(caller, 'bench', [request]), iterations);
  }
  const iam = new LocalAuthorizer(model);
  if (rule) {
    const target = rule.targets[0];
    if (target)
      time(
        'EventBridge → SQS delivery (cached)',
        () => iam.authorizeDelivery({ rule, target, to: 'target' }),
        iterations,
      );
  }
  const body = {
    Entries: Array.from({ length: 10 }, (_, i) => ({
      EventBusName: bus,
      Source: 'inferbus.results',
      DetailType: 'InferenceCompleted',
      Detail: JSON.stringify({ id: `e-${i}`, tenant: 'acme', payload: { label: 'ham', score: 0.98 } }),
    })),
  };
  const text = JSON.stringify(body);
  time(
    'PutEvents of 10 entries: parse + map + 10 cached decisions',
    () => {
      const requests = accessRequestsOf('events', 'PutEvents', JSON.parse(text), model);
      for (const request of requests)
        iam.decide(iam.callerOf(iam.credentialsOf(tier1.logicalId).accessKeyId), request);
    },
    iterations / 10,
  );
  return { name: 'iam', rows };
}

export type IamCounts = NonNullable<PipelineBenchRow['iamCounts']>;

export interface IamBenchResult {
  name: 'iam';
  /** CPU microseconds per decision, evaluated and cached. */
  rows: Record<string, number | string>[];
  demo: { events: number; counts: IamCounts };
  /** The same pipeline run with authorization on and off, alternating, in this one process. */
  pipeline: {
    authorization: boolean;
    events: number;
    eventsPerSecond: number;
    mainMsPerEvent?: number;
    counts: IamCounts;
  }[];
}

/** `npm start`'s demo on a fresh state folder, and what the local IAM decided while it ran. */
async function demoCounts(events: number): Promise<IamBenchResult['demo']> {
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-bench-iam-'));
  const runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log: () => {},
  });
  try {
    await runDemo(runtime, { events, out: () => {}, progress: () => {} });
    return { events, counts: runtime.iam?.counts() ?? [] };
  } finally {
    await runtime.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function runIamMeasures({ quick = false } = {}): Promise<IamBenchResult> {
  const cpu = runIamBench(quick ? 20_000 : 200_000);
  const demo = await demoCounts(quick ? 30 : 300);
  const size = Number(process.env.IAM_PIPELINE_EVENTS ?? (quick ? 300 : 3000));
  const pipeline: IamBenchResult['pipeline'] = [];
  // Alternating, so drift on a shared machine falls on both sides alike.
  for (const authorization of quick ? [true, false] : [true, false, true, false]) {
    const row = await runOnce(size, { authorization });
    pipeline.push({
      authorization,
      events: row.events,
      eventsPerSecond: row.eventsPerSecond,
      ...(row.cpuMsPerEvent?.['runtime main thread'] !== undefined && {
        mainMsPerEvent: row.cpuMsPerEvent['runtime main thread'],
      }),
      counts: row.iamCounts ?? [],
    });
  }
  return { name: 'iam', rows: cpu.rows, demo, pipeline };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(runIamBench().rows);
}
