/**
 * The CPU floor of one event through tier 1: what a handler cannot avoid paying, measured, set
 * against the budget the 5,000 events/s target leaves on this machine (cores x 1000 / 5000 ms of
 * CPU per event for everything: load generator, runtime, workers).
 *
 * The floor counts only work the design requires of the sender and the handler:
 * - the sender's PutEvents requests, one per 10 events, as raw HTTP (the pipeline benchmark's load
 *   generator, which shares the same cores);
 * - tier-1 feature extraction + `session.run`, batch 32, on held-out messages (real onnxruntime);
 * - one PutEvents call per 10 results (AWS's limit per call), through the real SDK client the
 *   handlers use, with result-sized entries;
 * - the tenant state the tier-1 gate keeps in DynamoDB per batch (dev stage's tier-1 batch size):
 *   one BatchGetItem for every tenant of the batch, then per tenant one conditional write of its
 *   quota bucket and one of its stream's ordering state; with the pipeline's three tenants that is
 *   seven calls per batch, each costed as the measured SDK write.
 * The SDK calls go to a trivial loopback HTTP server in another process that answers at once, so
 * the client's CPU is all that is counted; the same requests as raw HTTP show the SDK's share.
 * Whatever the budget leaves after the floor is all the runtime may spend per event (ingest,
 * routing, the durable queue, delivery to a worker, ingesting the result, archiving both).
 *
 * Run: npx tsx bench/floor.ts [--quick]
 */
import { fork } from 'node:child_process';
import { createServer, Agent as HttpAgent } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { loadManifest, loadModel } from '../functions/inference/model';
import { stages } from '../lib/config/stages';
import { loadSplits } from '../models/train/data';
import { postAwsJson } from './raw-aws-json';
import { round, summarize } from './stats';

export interface FloorBenchResult {
  name: 'floor';
  cores: number;
  targetEventsPerSecond: number;
  /** CPU ms per event the target allows for everything: cores x 1000 / target. */
  budgetMsPerEvent: number;
  /** Median client CPU ms per call, over rounds of `callsPerRound` calls. */
  sdkPutEventsMsPerCall: number;
  rawPutEventsMsPerCall: number;
  sdkDynamoWriteMsPerCall: number;
  rawDynamoWriteMsPerCall: number;
  /** Tier-1 features + model, batch 32, median ms per event. */
  tier1InferenceMsPerEvent: number;
  tier1BatchSize: number;
  /** DynamoDB calls per tier-1 batch: one read for all tenants, two writes per tenant. */
  tenantStateCallsPerBatch?: number;
  /** Per event: sender raw PutEvents/10 + inference + SDK PutEvents/10 + tenant-state calls x SDK write / batch size. */
  floorMsPerEvent: number;
  /** budget - floor: what the runtime may spend per event if the sender and handlers paid only the floor. */
  leftForRuntimeMsPerEvent: number;
  rounds: number;
  callsPerRound: number;
}

const TARGET = 5_000;
/** Tenants in a tier-1 batch of the pipeline benchmark (its load spreads over three). */
const TENANTS_PER_BATCH = 3;
const SERVER_ENV = 'INFERBUS_FLOOR_SERVER';

/** Ten entries shaped like the tier-1 handler's InferenceCompleted results. */
function resultEntries(busName: string): PutEventsRequestEntry[] {
  return Array.from({ length: 10 }, (_, i) => ({
    EventBusName: busName,
    Source: 'inferbus.inference',
    DetailType: 'InferenceCompleted',
    Detail: JSON.stringify({
      id: `result:evt-${i}:t1:completed`,
      tenant: 'acme',
      stream: 'orders',
      seq: 1000 + i,
      hlc: `${Date.now()}-0-n1`,
      type: 'inference.completed',
      payload: {
        sourceEventId: `evt-${i}`,
        tier: 1,
        label: 'ham',
        score: 0.987654,
        spamProbability: 0.012346,
        modelVersion: 'tier1@0123456789ab',
        latencyMs: 1.234567,
        duplicate: false,
        expectedLabel: 'ham',
      },
      metadata: {},
      time: new Date().toISOString(),
    }),
  }));
}

/** The trivial server: answers every POST at once with a success body for its X-Amz-Target. */
function runServer(): void {
  const putEventsReply = JSON.stringify({
    FailedEntryCount: 0,
    Entries: Array.from({ length: 10 }, (_, i) => ({ EventId: `00000000-0000-0000-0000-00000000000${i}` })),
  });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const json = target.startsWith('DynamoDB')
        ? 'application/x-amz-json-1.0'
        : 'application/x-amz-json-1.1';
      res.writeHead(200, { 'content-type': json });
      res.end(target.endsWith('PutEvents') ? putEventsReply : '{}');
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
}

async function startServer(): Promise<{ endpoint: string; stop: () => void }> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, [SERVER_ENV]: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`floor server exited (${code}) before listening`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

/** Client CPU ms per call of `call`, one value per round. */
async function cpuPerCall(call: () => Promise<unknown>, calls: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) await call();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / calls;
}

async function tier1InferenceMsPerEvent(quick: boolean): Promise<number> {
  const modelsDir = join(import.meta.dirname, '..', 'models');
  const manifest = await loadManifest(modelsDir);
  const model = await loadModel({ modelsDir, name: 'tier1', manifest, intraOpNumThreads: 1 });
  const texts = loadSplits()
    .test.slice(0, 256)
    .map((m) => m.text);
  const passes: number[] = [];
  // scoreBatch is what a handler pays: feature extraction, then one session.run per batch.
  for (let pass = 0; pass < (quick ? 3 : 15); pass++) {
    const started = performance.now();
    for (let i = 0; i < texts.length; i += 32) await model.scoreBatch(texts.slice(i, i + 32));
    passes.push((performance.now() - started) / texts.length);
  }
  return summarize(passes).median;
}

export async function runFloorBench({ quick = false } = {}): Promise<FloorBenchResult> {
  const rounds = quick ? 3 : 7;
  const callsPerRound = quick ? 100 : 300;
  const server = await startServer();
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const region = stages.dev.env.region;
  const eventBridge = new EventBridgeClient({ endpoint: server.endpoint, region, credentials });
  const dynamo = new DynamoDBClient({ endpoint: server.endpoint, region, credentials });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const endpoint = new URL(server.endpoint);
  try {
    const entries = resultEntries('inferbus-dev-bus');
    const putEventsBody = Buffer.from(JSON.stringify({ Entries: entries }));
    const update = new UpdateItemCommand({
      TableName: 'inferbus-dev-TenantState',
      Key: { pk: { S: 'quota#acme' } },
      UpdateExpression: 'SET tat = :tat',
      ConditionExpression: 'attribute_not_exists(tat) OR tat <= :limit',
      ExpressionAttributeValues: { ':tat': { N: '1764374400000.25' }, ':limit': { N: '1764374400100' } },
    });
    const updateBody = Buffer.from(
      JSON.stringify({
        TableName: 'inferbus-dev-TenantState',
        Key: { pk: { S: 'quota#acme' } },
        UpdateExpression: 'SET tat = :tat',
        ConditionExpression: 'attribute_not_exists(tat) OR tat <= :limit',
        ExpressionAttributeValues: { ':tat': { N: '1764374400000.25' }, ':limit': { N: '1764374400100' } },
      }),
    );
    const calls = {
      sdkPutEvents: () => eventBridge.send(new PutEventsCommand({ Entries: entries })),
      rawPutEvents: () =>
        postAwsJson(endpoint, agent, 'AWSEvents.PutEvents', 'application/x-amz-json-1.1', putEventsBody),
      sdkDynamoWrite: () => dynamo.send(update),
      rawDynamoWrite: () =>
        postAwsJson(
          endpoint,
          agent,
          'DynamoDB_20120810.UpdateItem',
          'application/x-amz-json-1.0',
          updateBody,
        ),
    };
    for (const call of Object.values(calls)) await cpuPerCall(call, 100); // warm up every path
    const samples: Record<keyof typeof calls, number[]> = {
      sdkPutEvents: [],
      rawPutEvents: [],
      sdkDynamoWrite: [],
      rawDynamoWrite: [],
    };
    // Interleaved rounds: every path sees the same machine load.
    for (let r = 0; r < rounds; r++) {
      for (const [name, call] of Object.entries(calls) as [keyof typeof calls, () => Promise<unknown>][]) {
        samples[name].push(await cpuPerCall(call, callsPerRound));
      }
    }
    const median = (name: keyof typeof calls) => summarize(samples[name]).median;
    const inference = await tier1InferenceMsPerEvent(quick);
    const batchSize = stages.dev.tasks[0]?.tiers[0]?.batchSize ?? 200;
    const tenantStateCalls = 1 + 2 * TENANTS_PER_BATCH;
    const cores = cpus().length;
    const budget = (cores * 1000) / TARGET;
    const floor =
      median('rawPutEvents') / 10 +
      inference +
      median('sdkPutEvents') / 10 +
      (median('sdkDynamoWrite') * tenantStateCalls) / batchSize;
    return {
      name: 'floor',
      cores,
      targetEventsPerSecond: TARGET,
      budgetMsPerEvent: round(budget, 4),
      sdkPutEventsMsPerCall: round(median('sdkPutEvents'), 4),
      rawPutEventsMsPerCall: round(median('rawPutEvents'), 4),
      sdkDynamoWriteMsPerCall: round(median('sdkDynamoWrite'), 4),
      rawDynamoWriteMsPerCall: round(median('rawDynamoWrite'), 4),
      tier1InferenceMsPerEvent: round(inference, 4),
      tier1BatchSize: batchSize,
      tenantStateCallsPerBatch: tenantStateCalls,
      floorMsPerEvent: round(floor, 4),
      leftForRuntimeMsPerEvent: round(budget - floor, 4),
      rounds,
      callsPerRound,
    };
  } finally {
    eventBridge.destroy();
    dynamo.destroy();
    agent.destroy();
    server.stop();
  }
}

if (process.env[SERVER_ENV] === '1') {
  runServer();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await runFloorBench({ quick: process.argv.includes('--quick') }));
}
