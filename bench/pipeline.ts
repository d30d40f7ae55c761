/**
 * The local pipeline end to end: N requests through the real endpoint (PutEvents over HTTP with the
 * SDK), the bus, durable queues, tier-1/tier-2 handler bundles in worker processes, results back on
 * the bus and the Parquet archive. Reports events/s from first send to the last record processed,
 * tier-1 send-to-done latency (SQS SentTimestamp to delete), and RSS of the runtime process.
 *
 * Run: npx tsx bench/pipeline.ts [--quick]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { sampleEntries } from '../local/demo/sample-events';
import { LocalRuntime } from '../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../local/s3';
import { round, summarize } from './stats';

export interface PipelineBenchRow {
  events: number;
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
  /** Every 500 ms: seconds since the first send, tier-1 records done, RSS of this process and of its workers. */
  rssSeries: { t: number; done: number; rssMiB: number; workersRssMiB: number }[];
}

export interface PipelineBenchResult {
  name: 'pipeline';
  rows: PipelineBenchRow[];
}

const PROJECT_ROOT = join(import.meta.dirname, '..');

/** RSS bytes of every descendant process (the Lambda workers), from /proc; 0 where there is no /proc. */
export function descendantsRss(root = process.pid, exclude?: number): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(pid), Number(fields[1]));
      rss.set(Number(pid), Number(fields[21]) * 4096);
    } catch {
      // exited meanwhile
    }
  }
  let total = 0;
  for (const [pid, bytes] of rss) {
    let p = parent.get(pid);
    if (pid === exclude) continue;
    while (p !== undefined && p > 1 && p !== root && p !== exclude) p = parent.get(p);
    if (p === root) total += bytes;
  }
  return total;
}

export async function runPipelineBench({ quick = false } = {}): Promise<PipelineBenchResult> {
  const sizes = process.env.PIPELINE_SIZES
    ? process.env.PIPELINE_SIZES.split(',').map(Number)
    : quick
      ? [500]
      : [1_000, 10_000, 100_000];
  const rows: PipelineBenchRow[] = [];
  for (const events of sizes) rows.push(await runOnce(events));
  return { name: 'pipeline', rows };
}

async function runOnce(count: number): Promise<PipelineBenchRow> {
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-bench-'));
  const latencies: number[] = [];
  let escalated = 0;
  const runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log: () => {},
    onProcessed: (deleted) => {
      if (deleted.latencyMs === undefined) return;
      if (deleted.queueArn.includes('Tier1')) latencies.push(deleted.latencyMs);
      else escalated++;
    },
  });
  // The load generator is a separate process (SDK client, request serialization and signing), so
  // it neither competes with the runtime's event loop nor counts in its RSS or its workers'.
  const loadgen = startLoadGenerator();
  const rss: number[] = [process.memoryUsage().rss];
  const workersRss: number[] = [descendantsRss(process.pid, loadgen.pid)];
  const mib = (bytes: number) => round(bytes / 1024 ** 2, 1);
  const series: PipelineBenchRow['rssSeries'] = [];
  let sendStarted = performance.now();
  const sample = () => {
    rss.push(process.memoryUsage().rss);
    workersRss.push(descendantsRss(process.pid, loadgen.pid));
    series.push({
      t: round((performance.now() - sendStarted) / 1000, 2),
      done: latencies.length,
      rssMiB: mib(rss[rss.length - 1] ?? 0),
      workersRssMiB: mib(workersRss[workersRss.length - 1] ?? 0),
    });
  };
  const sampler = setInterval(sample, 500);
  try {
    const busName = runtime.model.buses.find((b) => b.name !== 'default')?.name ?? 'default';
    const job: LoadJob = { endpoint: runtime.endpoint, region: runtime.model.region, busName, count };
    await loadgen.request({ type: 'prepare', job }, 'prepared');
    const started = performance.now();
    sendStarted = started;
    sample();
    await loadgen.request({ type: 'send' }, 'sent');
    while (latencies.length + Math.round(count * 0.001) < count * 0.999 || !runtime.idle()) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    sample();
    const stats = summarize(latencies);
    return {
      events: count,
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
  count: number;
}

type LoadMessage = { type: 'prepare'; job: LoadJob } | { type: 'send' };
type LoadReply = { type: 'prepared' } | { type: 'sent' } | { type: 'error'; message: string };

const LOADGEN_ENV = 'INFERBUS_PIPELINE_LOADGEN';

/** This file, forked with tsx, as the load generator: 8 SDK senders of 10-entry PutEvents. */
function startLoadGenerator() {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, [LOADGEN_ENV]: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const request = (message: LoadMessage, expect: LoadReply['type']) =>
    new Promise<void>((resolve, reject) => {
      const onMessage = (reply: LoadReply) => {
        cleanup();
        if (reply.type === expect) resolve();
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

async function runLoadGenerator(): Promise<void> {
  let entries: ReturnType<typeof sampleEntries>[number]['entry'][] = [];
  let client: EventBridgeClient | undefined;
  const reply = (message: LoadReply) => process.send?.(message);
  process.on('message', (message: LoadMessage) => {
    void (async () => {
      if (message.type === 'prepare') {
        const { job } = message;
        const tenants = ['acme', 'globex', 'initech'].map((id) => ({ id, weight: 1 / 3 }));
        entries = sampleEntries({
          count: job.count,
          busName: job.busName,
          tenants,
          poisonShare: 0.001,
          rejected: 0,
        }).map((s) => s.entry);
        client = new EventBridgeClient({
          endpoint: job.endpoint,
          region: job.region,
          credentials: LOCAL_S3_CREDENTIALS,
        });
        reply({ type: 'prepared' });
        return;
      }
      const sdk = client as EventBridgeClient;
      let next = 0;
      const sender = async () => {
        while (next < entries.length) {
          const batch = entries.slice(next, next + 10);
          next += 10;
          await sdk.send(
            new PutEventsCommand({ Entries: batch.map((e) => ({ ...e, Resources: undefined })) }),
          );
        }
      };
      await Promise.all(Array.from({ length: 8 }, sender));
      reply({ type: 'sent' });
    })().catch((error: unknown) =>
      reply({ type: 'error', message: (error as Error).stack ?? String(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.env[LOADGEN_ENV] === '1') {
  await runLoadGenerator();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runPipelineBench({ quick: process.argv.includes('--quick') });
  console.table(result.rows.map(({ rssSeries: _, ...row }) => row));
}
