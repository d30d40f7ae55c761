/**
 * The local pipeline end to end: N requests through the real endpoint (PutEvents over HTTP with the
 * SDK), the bus, durable queues, tier-1/tier-2 handler bundles in worker processes, results back on
 * the bus and the Parquet archive. Reports events/s from first send to the last record processed,
 * tier-1 send-to-done latency (SQS SentTimestamp to delete), and RSS of the runtime process.
 *
 * Run: npx tsx bench/pipeline.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
}

export interface PipelineBenchResult {
  name: 'pipeline';
  rows: PipelineBenchRow[];
}

const PROJECT_ROOT = join(import.meta.dirname, '..');

export async function runPipelineBench({ quick = false } = {}): Promise<PipelineBenchResult> {
  const sizes = process.env.PIPELINE_SIZES ? process.env.PIPELINE_SIZES.split(",").map(Number) : quick ? [500] : [1_000, 10_000, 100_000];
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
  const rss: number[] = [process.memoryUsage().rss];
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 500);
  try {
    const busName = runtime.model.buses.find((b) => b.name !== 'default')?.name ?? 'default';
    const tenants = ['acme', 'globex', 'initech'].map((id) => ({ id, weight: 1 / 3 }));
    const entries = sampleEntries({ count, busName, tenants, poisonShare: 0.001, rejected: 0 }).map((s) => s.entry);
    const client = new EventBridgeClient({ endpoint: runtime.endpoint, region: runtime.model.region, credentials: LOCAL_S3_CREDENTIALS });
    const started = performance.now();
    let next = 0;
    const sender = async () => {
      while (next < entries.length) {
        const batch = entries.slice(next, next + 10);
        next += 10;
        await client.send(new PutEventsCommand({ Entries: batch.map((e) => ({ ...e, Resources: undefined })) }));
      }
    };
    await Promise.all(Array.from({ length: 8 }, sender));
    while (latencies.length + Math.round(count * 0.001) < count * 0.999 || !runtime.idle()) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    const stats = summarize(latencies);
    const mib = (bytes: number) => round(bytes / 1024 ** 2, 1);
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
    };
  } finally {
    clearInterval(sampler);
    await runtime.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runPipelineBench({ quick: process.argv.includes('--quick') });
  console.table(result.rows);
}
