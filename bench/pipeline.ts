/**
 * The local pipeline end to end: N requests through the real endpoint (PutEvents over HTTP), the
 * bus, durable queues, tier-1/tier-2 handler bundles in worker processes, results back on the bus
 * and the Parquet archive. Reports events/s from first send until every queue is drained, tier-1
 * send-to-done latency (SQS SentTimestamp to delete), and RSS of the runtime process and its workers.
 *
 * The load generator is a separate process that sends pre-serialised PutEvents request bodies as
 * raw HTTP (the AWS JSON 1.1 wire format the SDK produces, unsigned: the local endpoint does not
 * check signatures), 8 requests of 10 entries in flight. It no longer uses the SDK client: on
 * 2 cores the client's serialisation and signing took about a seventh of the CPU and is not part
 * of the pipeline being measured. The handlers still use the SDK, as in Lambda.
 *
 * Each size runs twice, side by side: packed (issue 18: the load generator packs the requests with
 * the producers' default policy, as `inferbus put-events` does, before sending) and single (every
 * request its own entry, as before). Each run also prices the units the runtime metered.
 *
 * Run: npx tsx bench/pipeline.ts [--quick]. PIPELINE_SIZES=30000 picks the sizes; PIPELINE_MODES=
 * packed,single picks the modes; PIPELINE_JSON=FILE also writes the result (with the RSS and
 * event-loop series) as JSON; PIPELINE_AUTHORIZATION=off runs without the local IAM (for its
 * side-by-side cost only); PIPELINE_FUNCTION_LOG=FILE appends the handlers' log lines to FILE, each
 * after its epoch-ms time (their `batch processed` reports show what every invocation did).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BillableUsage } from '../functions/core/billing-units';
import { createPackCodec } from '../functions/core/packing/codec';
import { DEFAULT_PRODUCER_PACK_POLICY, type ProducerPackPolicy } from '../functions/core/packing/policy';
import { AWS_PRICES, priceUsage } from '../functions/core/pricing';
import { entrySize, type PutEventsEntry, planRequests } from '../functions/core/put-events';
import { envelopeOfEntry, packRequests } from '../functions/producer/packer';
import { loadTaskSamples, sampleEntries, servedTasks } from '../local/demo/sample-events';
import { LocalRuntime } from '../local/runtime';
import { cpuBetween, descendantsRssOf, scanTree, snapshotCpu, workersRssByGroup } from './proc-cpu';
import { postAwsJson } from './raw-aws-json';
import { round, summarize } from './stats';

/** Entry-tier work queues (`inferbus-<stage>-<task>-t1-<tenant>`, functions/core/queue-names.ts). */
const TIER1_QUEUE = /:inferbus-[a-z0-9-]+-[a-z][a-z0-9]{0,11}-t1-[^:]+$/;

/** How the load generator sends: packed entries (the producers' default) or one request per entry. */
export type PipelineMode = 'packed' | 'single';

/** The request rate the dev stage's provisioned concurrency is priced over (bench/cost.ts assumes it too). */
export const DEV_REQUESTS_PER_SECOND = 20;

export interface PipelineBenchRow {
  /** Requests sent (`events` in rows of runs before packing). */
  events: number;
  mode?: PipelineMode;
  /** PutEvents entries those requests went in, and the policy that packed them (packed mode). */
  entries?: number;
  packing?: { maxRequests: number; maxEntryBytes: number; codec: string; waitMs: number };
  /** Bytes of PutEvents entries per request as sent (EventBridge's size rules). */
  busBytesPerRequest?: number;
  /** Largest RSS of the runtime and its workers together, sampled at the same moments. */
  peakTotalRssMiB?: number;
  /**
   * The units the runtime metered for the run, priced at list prices (functions/core/pricing.ts):
   * per million requests as the run went (provisioned concurrency for the run's own short time),
   * and at the dev stage's rate (provisioned concurrency for the hours a million requests take at
   * DEV_REQUESTS_PER_SECOND), which is the figure the cost target is about.
   */
  metered?: {
    usage: BillableUsage;
    perMillionAsRun: number;
    perMillionAtDevRate: number;
    perMillionByService: Record<string, number>;
    provisionedConcurrencyPerMillionAtDevRate: number;
    devRequestsPerSecond: number;
  };
  seconds: number;
  eventsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  rssStartMiB: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  escalated: number;
  /** Lambda worker processes (children of this process): RSS summed, at the start, max and end. */
  workersRssStartMiB: number;
  workersRssMaxMiB: number;
  workersRssEndMiB: number;
  /**
   * Every 500 ms: seconds since the first send, tier-1 records done, RSS of this process and of its
   * workers, and this process's V8 heap in use and memory outside it (`external`: Buffers and
   * native allocations V8 knows of).
   */
  rssSeries: {
    t: number;
    done: number;
    rssMiB: number;
    workersRssMiB: number;
    heapUsedMiB?: number;
    /** V8 heap committed (in use, garbage not yet collected, and free pages kept): part of RSS. */
    heapTotalMiB?: number;
    externalMiB?: number;
    /**
     * Event-loop utilisation of the runtime's main thread over the last interval (0–1): near 1, the
     * event loop is what limits throughput.
     */
    elu?: number;
    /** Worker processes and their RSS per function (`<function name> workers`). */
    workers?: Record<string, { processes: number; rssMiB: number }>;
  }[];
  /**
   * CPU milliseconds per event from the first send until drained, by process group (the runtime's
   * main thread, its other threads, each function's workers, the load generator): where the work goes.
   */
  cpuMsPerEvent?: Record<string, number>;
  /** Whether the local IAM authorized every call (off: only for its side-by-side cost). */
  authorization?: boolean;
  /** The local IAM's allowed and denied calls per principal and service over the run. */
  iamCounts?: { principal: string; service: string; allowed: number; denied: number }[];
}

export interface PipelineBenchResult {
  name: 'pipeline';
  rows: PipelineBenchRow[];
  /**
   * Bytes on the bus per request for the same requests (the first of the largest run's, mixed
   * tasks and tenants): one entry each, packed as JSON, packed with zstd; and billed units per
   * million requests.
   */
  busBytes?: BusBytes;
}

export interface BusBytes {
  requests: number;
  plain: { bytesPerRequest: number; unitsPerMillion: number };
  packedJson: { bytesPerRequest: number; unitsPerMillion: number; requestsPerEntry: number };
  packedZstd: { bytesPerRequest: number; unitsPerMillion: number; requestsPerEntry: number };
}

const PROJECT_ROOT = join(import.meta.dirname, '..');

/**
 * RSS bytes of every descendant process (the Lambda workers), `exclude` and its descendants left
 * out; 0 where there is no /proc.
 */
export function descendantsRss(root = process.pid, exclude?: number): number {
  return descendantsRssOf(scanTree(root, exclude), root);
}

export async function runPipelineBench({ quick = false } = {}): Promise<PipelineBenchResult> {
  const sizes = process.env.PIPELINE_SIZES
    ? process.env.PIPELINE_SIZES.split(',').map(Number)
    : quick
      ? [500]
      : [1_000, 10_000, 100_000];
  const modes = (process.env.PIPELINE_MODES?.split(',') ?? ['packed', 'single']) as PipelineMode[];
  const rows: PipelineBenchRow[] = [];
  for (const events of sizes) for (const mode of modes) rows.push(await runOnce(events, { mode }));
  return { name: 'pipeline', rows, busBytes: await measureBusBytes(Math.min(20_000, Math.max(...sizes))) };
}

/** Entries as the load generator sends them: `Resources` dropped, packed or one per request. */
async function entriesFor(
  requests: readonly PutEventsEntry[],
  policy: ProducerPackPolicy | undefined,
): Promise<PutEventsEntry[]> {
  const plain = requests.map(({ Resources: _, ...e }) => e);
  if (!policy) return plain;
  const encoder = policy.codec === 'zstd' ? await createPackCodec() : undefined;
  return packRequests(
    plain.map((entry) => ({ entry, envelope: envelopeOfEntry(entry) })),
    policy,
    encoder,
  ).map((u) => u.entry);
}

/** Sample traffic as the pipeline runs send it (three tenants, the dev stage's tasks in turn). */
async function sampleRequests(count: number, busName: string, tasks: string[]): Promise<PutEventsEntry[]> {
  const tenants = ['acme', 'globex', 'initech'].map((id) => ({ id, weight: 1 / 3 }));
  return sampleEntries({
    count,
    busName,
    tenants,
    tasks: await loadTaskSamples(tasks),
    poisonShare: 0.001,
    rejected: 0,
  }).map((s) => s.entry);
}

/** Bytes on the bus per request: plain, packed JSON, packed zstd, on the same sample requests. */
async function measureBusBytes(count: number): Promise<BusBytes> {
  const { eventBridgeEvents } = await import('../functions/core/billing-units');
  const requests = await sampleRequests(count, 'inferbus-dev', ['spam', 'sensor']);
  const measure = (entries: PutEventsEntry[]) => ({
    bytesPerRequest: round(entries.reduce((s, e) => s + entrySize(e), 0) / count, 1),
    unitsPerMillion: Math.round(
      (entries.reduce((s, e) => s + eventBridgeEvents(entrySize(e)), 0) / count) * 1e6,
    ),
    requestsPerEntry: round(count / entries.length, 2),
  });
  const { requestsPerEntry: _, ...plain } = measure(await entriesFor(requests, undefined));
  return {
    requests: count,
    plain,
    packedJson: measure(await entriesFor(requests, { ...DEFAULT_PRODUCER_PACK_POLICY, codec: 'json' })),
    packedZstd: measure(await entriesFor(requests, { ...DEFAULT_PRODUCER_PACK_POLICY, codec: 'zstd' })),
  };
}

/** Metered units of a run priced at list prices, per million requests, as run and at the dev rate. */
function pricedRun(runtime: LocalRuntime, requests: number): PipelineBenchRow['metered'] {
  const usage = runtime.meter.usage();
  const byService = priceUsage(usage);
  const perMillion = (dollars: number) => round((dollars / requests) * 1e6, 4);
  const asRun = byService.reduce((sum, s) => sum + s.dollars, 0);
  const pcAsRun = usage.lambdaProvisionedConcurrencyGbSeconds * AWS_PRICES.lambdaArmProvisionedGbSecond;
  // Provisioned concurrency is paid by the hour: at the dev rate a million requests take 1e6/20 s.
  const pcGbSecondsPerMillion = runtime.model.functions.reduce(
    (sum, fn) =>
      sum + (fn.provisionedConcurrency ?? 0) * (fn.memoryMiB / 1024) * (1e6 / DEV_REQUESTS_PER_SECOND),
    0,
  );
  const pcAtDevRate = pcGbSecondsPerMillion * AWS_PRICES.lambdaArmProvisionedGbSecond;
  return {
    usage,
    perMillionAsRun: perMillion(asRun),
    perMillionAtDevRate: round(perMillion(asRun - pcAsRun) + pcAtDevRate, 4),
    perMillionByService: Object.fromEntries(byService.map((s) => [s.service, perMillion(s.dollars)])),
    provisionedConcurrencyPerMillionAtDevRate: round(pcAtDevRate, 4),
    devRequestsPerSecond: DEV_REQUESTS_PER_SECOND,
  };
}

/** One pipeline run of `count` requests; authorization as PIPELINE_AUTHORIZATION says unless given. */
export async function runOnce(
  count: number,
  {
    authorization = process.env.PIPELINE_AUTHORIZATION !== 'off',
    mode = 'single',
  }: { authorization?: boolean; mode?: PipelineMode } = {},
): Promise<PipelineBenchRow> {
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-bench-'));
  const latencies: number[] = [];
  let escalated = 0;
  const runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log: () => {},
    ...(process.env.PIPELINE_FUNCTION_LOG
      ? {
          functionLog: (line: string) =>
            appendFileSync(process.env.PIPELINE_FUNCTION_LOG as string, `${Date.now()} ${line}\n`),
        }
      : {}),
    // Off only to measure what authorization costs, side by side (PIPELINE_AUTHORIZATION=off).
    authorization,
    onProcessed: (deleted) => {
      if (deleted.latencyMs === undefined) return;
      if (TIER1_QUEUE.test(deleted.queueArn)) latencies.push(deleted.latencyMs);
      else escalated++;
    },
  });
  // The load generator is a separate process, so it neither runs on the runtime's event loop nor
  // counts in its RSS or its workers'.
  const loadgen = startLoadGenerator();
  const rss: number[] = [process.memoryUsage().rss];
  const workersRss: number[] = [descendantsRss(process.pid, loadgen.pid)];
  const mib = (bytes: number) => round(bytes / 1024 ** 2, 1);
  const series: PipelineBenchRow['rssSeries'] = [];
  let sendStarted = performance.now();
  let eluPrev = performance.eventLoopUtilization();
  const sample = () => {
    const eluNow = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(eluNow, eluPrev).utilization;
    eluPrev = eluNow;
    const memory = process.memoryUsage();
    rss.push(memory.rss);
    // One scan of /proc for the total and the per-function RSS: it runs on the runtime's main thread.
    const tree = scanTree(process.pid, loadgen.pid);
    workersRss.push(descendantsRssOf(tree));
    series.push({
      t: round((performance.now() - sendStarted) / 1000, 2),
      done: latencies.length,
      rssMiB: mib(memory.rss),
      workersRssMiB: mib(workersRss[workersRss.length - 1] ?? 0),
      heapUsedMiB: mib(memory.heapUsed),
      heapTotalMiB: mib(memory.heapTotal),
      externalMiB: mib(memory.external),
      elu: round(elu, 2),
      workers: Object.fromEntries(
        Object.entries(workersRssByGroup(tree, process.pid)).map(([group, w]) => [
          group,
          { processes: w.processes, rssMiB: mib(w.rssBytes) },
        ]),
      ),
    });
  };
  const sampler = setInterval(sample, 500);
  try {
    const busName = runtime.model.buses.find((b) => b.name !== 'default')?.name ?? 'default';
    const job: LoadJob = {
      endpoint: runtime.endpoint,
      region: runtime.model.region,
      busName,
      count,
      tasks: servedTasks(runtime.model.functions),
      pack: mode === 'packed',
    };
    const prepared = (await loadgen.request({ type: 'prepare', job }, 'prepared')) as Extract<
      LoadReply,
      { type: 'prepared' }
    >;
    // Tier-1 messages to wait for: one per entry (a pack is one message however many it carries).
    const messages = prepared.entries;
    const started = performance.now();
    sendStarted = started;
    // The series covers the run only (t counts from the first send): samples taken while the load
    // generator prepared its requests would move the series' 10% mark before the run began.
    series.length = 0;
    sample();
    const cpuBefore = snapshotCpu(process.pid, loadgen.pid);
    await loadgen.request({ type: 'send' }, 'sent');
    while (latencies.length + Math.round(messages * 0.001) < messages * 0.999 || !runtime.idle()) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuBetween(cpuBefore, snapshotCpu(process.pid, loadgen.pid));
    sample();
    const stats = summarize(latencies);
    const peakTotal = Math.max(...series.map((p) => p.rssMiB + p.workersRssMiB));
    return {
      events: count,
      mode,
      entries: prepared.entries,
      ...(mode === 'packed'
        ? {
            packing: {
              maxRequests: DEFAULT_PRODUCER_PACK_POLICY.maxItems,
              maxEntryBytes: DEFAULT_PRODUCER_PACK_POLICY.maxEntryBytes,
              codec: DEFAULT_PRODUCER_PACK_POLICY.codec,
              waitMs: DEFAULT_PRODUCER_PACK_POLICY.waitMs,
            },
          }
        : {}),
      busBytesPerRequest: round(prepared.busBytes / count, 1),
      peakTotalRssMiB: round(peakTotal, 1),
      metered: pricedRun(runtime, count),
      seconds: round(seconds, 2),
      eventsPerSecond: Math.round(count / seconds),
      latencyP50Ms: round(stats.median, 1),
      latencyP99Ms: round(stats.p99, 1),
      rssStartMiB: mib(rss[0] ?? 0),
      rssMaxMiB: mib(Math.max(...rss)),
      rssEndMiB: mib(process.memoryUsage().rss),
      escalated,
      workersRssStartMiB: mib(workersRss[0] ?? 0),
      workersRssMaxMiB: mib(Math.max(...workersRss)),
      workersRssEndMiB: mib(workersRss[workersRss.length - 1] ?? 0),
      rssSeries: series,
      authorization,
      iamCounts: runtime.iam?.counts() ?? [],
      cpuMsPerEvent: Object.fromEntries(
        Object.entries(cpu).map(([group, cpuSeconds]) => [group, round((cpuSeconds * 1000) / count, 3)]),
      ),
    };
  } finally {
    clearInterval(sampler);
    loadgen.stop();
    await runtime.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

interface LoadJob {
  endpoint: string;
  region: string;
  busName: string;
  /** The tasks the stage serves: requests take turns between them. */
  tasks: string[];
  count: number;
  /** Pack the requests with the producers' default policy before sending. */
  pack: boolean;
}

type LoadMessage = { type: 'prepare'; job: LoadJob } | { type: 'send' };
type LoadReply =
  | { type: 'prepared'; entries: number; busBytes: number }
  | { type: 'sent' }
  | { type: 'error'; message: string };

const LOADGEN_ENV = 'INFERBUS_PIPELINE_LOADGEN';

/** This file, forked with tsx, as the load generator: 8 raw-HTTP senders of 10-entry PutEvents. */
function startLoadGenerator() {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, [LOADGEN_ENV]: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const request = (message: LoadMessage, expect: LoadReply['type']) =>
    new Promise<LoadReply>((resolve, reject) => {
      const onMessage = (reply: LoadReply) => {
        cleanup();
        if (reply.type === expect) resolve(reply);
        else reject(new Error(`load generator: ${reply.type === 'error' ? reply.message : reply.type}`));
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`load generator exited (${code})`));
      };
      const cleanup = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send(message);
    });
  return { pid: child.pid, request, stop: () => child.kill() };
}

const SENDERS = 8;

async function runLoadGenerator(): Promise<void> {
  let bodies: Buffer[] = [];
  let target: URL | undefined;
  const reply = (message: LoadReply) => process.send?.(message);
  process.on('message', (message: LoadMessage) => {
    void (async () => {
      if (message.type === 'prepare') {
        const { job } = message;
        const requests = await sampleRequests(job.count, job.busName, job.tasks);
        const entries = await entriesFor(requests, job.pack ? DEFAULT_PRODUCER_PACK_POLICY : undefined);
        bodies = [];
        // Requests of at most 10 entries and 1 MB: ten packs near 64 KB and a large lone e-mail would not fit.
        for (const request of planRequests(entries)) {
          bodies.push(Buffer.from(JSON.stringify({ Entries: request.map((i) => entries[i]) })));
        }
        target = new URL(job.endpoint);
        const busBytes = entries.reduce((sum, e) => sum + entrySize(e), 0);
        reply({ type: 'prepared', entries: entries.length, busBytes });
        return;
      }
      const agent = new Agent({ keepAlive: true, maxSockets: SENDERS });
      let next = 0;
      const sender = async () => {
        while (next < bodies.length) {
          const body = bodies[next++] as Buffer;
          await putEvents(target as URL, agent, body);
        }
      };
      await Promise.all(Array.from({ length: SENDERS }, sender));
      agent.destroy();
      reply({ type: 'sent' });
    })().catch((error: unknown) =>
      reply({ type: 'error', message: (error as Error).stack ?? String(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/** One PutEvents request; fails on an HTTP error or any failed entry (the bench would never drain). */
async function putEvents(endpoint: URL, agent: Agent, body: Buffer): Promise<void> {
  const { status, text } = await postAwsJson(
    endpoint,
    agent,
    'AWSEvents.PutEvents',
    'application/x-amz-json-1.1',
    body,
  );
  const failed = status === 200 ? (JSON.parse(text) as { FailedEntryCount?: number }).FailedEntryCount : 1;
  if (failed) throw new Error(`PutEvents answered ${status}: ${text.slice(0, 500)}`);
}

if (process.env[LOADGEN_ENV] === '1') {
  await runLoadGenerator();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runPipelineBench({ quick: process.argv.includes('--quick') });
  if (process.env.PIPELINE_JSON) writeFileSync(process.env.PIPELINE_JSON, JSON.stringify(result));
  console.table(result.rows.map(({ rssSeries: _, cpuMsPerEvent: __, ...row }) => row));
  for (const row of result.rows) {
    const cpu = row.cpuMsPerEvent ?? {};
    const total = Object.values(cpu).reduce((a, b) => a + b, 0);
    console.log(`${row.events} events: CPU ms per event, total ${round(total, 3)}`);
    console.table(cpu);
  }
}
