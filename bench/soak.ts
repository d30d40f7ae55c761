/**
 * Soak: the local pipeline at a sustained rate for minutes. Every window reports the RSS of the
 * runtime process and of its Lambda workers, tier-1 send-to-done latency (p50/p99) and the backlog,
 * then the run drains and counts: every accepted request must have been processed by tier 1.
 *
 * Run: npm run soak [-- --quick]   (SOAK_MINUTES, default 3; SOAK_RATE events/s, default 300);
 * `npm run bench` runs it too and reports it in BENCHMARKS.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { loadTaskSamples, sampleEntries, servedTasks } from '../local/demo/sample-events';
import { LocalRuntime } from '../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../local/s3';
import { descendantsRss } from './pipeline';
import { round, summarize } from './stats';

/** Entry-tier work queues (`inferbus-<stage>-<task>-t1-<tenant>`, functions/core/queue-names.ts). */
const TIER1_QUEUE = /:inferbus-[a-z0-9-]+-[a-z][a-z0-9]{0,11}-t1-[^:]+$/;

export interface SoakWindow {
  /** Seconds since the first send, at the end of the window. */
  readonly t: number;
  readonly sent: number;
  readonly done: number;
  /** Accepted but not yet processed by tier 1, at the end of the window. */
  readonly backlog: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly rssMiB: number;
  readonly workersRssMiB: number;
}

export interface SoakBenchResult {
  readonly name: 'soak';
  readonly minutes: number;
  readonly rate: number;
  readonly windowSeconds: number;
  readonly windows: SoakWindow[];
  readonly accepted: number;
  /** Distinct tier-1 messages processed; equals `accepted` when nothing was lost. */
  readonly processed: number;
  readonly drainSeconds: number;
  readonly memory: { baselineMiB: number; peakMiB: number; endMiB: number; flat: boolean };
  readonly latency: { earlyP99Ms: number; lateP99Ms: number; stable: boolean };
}

const PROJECT_ROOT = join(import.meta.dirname, '..');
const mib = (bytes: number) => round(bytes / 1024 ** 2, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoakBench({ quick = false } = {}): Promise<SoakBenchResult> {
  const minutes = quick ? 1 / 3 : Number(process.env.SOAK_MINUTES ?? 3);
  const rate = Number(process.env.SOAK_RATE ?? (quick ? 100 : 300));
  if (!(minutes > 0) || !(rate > 0)) throw new Error('SOAK_MINUTES and SOAK_RATE must be positive numbers');
  const windowSeconds = quick ? 5 : 15;
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-soak-'));
  const processed = new Set<string>();
  let windowLatencies: number[] = [];
  const runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log: () => {},
    onProcessed: (deleted) => {
      if (!TIER1_QUEUE.test(deleted.queueArn)) return;
      processed.add(deleted.messageId);
      if (deleted.latencyMs !== undefined) windowLatencies.push(deleted.latencyMs);
    },
  });
  const client = new EventBridgeClient({
    endpoint: runtime.endpoint,
    region: runtime.model.region,
    credentials: LOCAL_S3_CREDENTIALS,
  });
  try {
    const busName = runtime.model.buses.find((b) => b.name !== 'default')?.name ?? 'default';
    const total = Math.round(rate * minutes * 60);
    const entries = sampleEntries({
      count: total,
      busName,
      tenants: ['acme', 'globex', 'initech'].map((id) => ({ id, weight: 1 / 3 })),
      tasks: await loadTaskSamples(servedTasks(runtime.model.functions)),
      poisonShare: 0,
      rejected: 0,
    }).map((s) => ({ ...s.entry, Resources: undefined }) as PutEventsRequestEntry);

    let accepted = 0;
    let failedCalls = 0;
    const windows: SoakWindow[] = [];
    const started = performance.now();
    let lastSent = 0;
    const closeWindow = () => {
      const latency = summarize(windowLatencies);
      windowLatencies = [];
      windows.push({
        t: round((performance.now() - started) / 1000, 1),
        sent: accepted - lastSent,
        done: latency.n,
        backlog: accepted - processed.size,
        latencyP50Ms: round(latency.median, 1),
        latencyP99Ms: round(latency.p99, 1),
        rssMiB: mib(process.memoryUsage().rss),
        workersRssMiB: mib(descendantsRss(process.pid)),
      });
      lastSent = accepted;
      const w = windows[windows.length - 1] as SoakWindow;
      process.stderr.write(
        `soak t=${w.t}s sent=${w.sent} done=${w.done} backlog=${w.backlog} p99=${w.latencyP99Ms}ms rss=${w.rssMiB}+${w.workersRssMiB} MiB\n`,
      );
    };
    const windowTimer = setInterval(closeWindow, windowSeconds * 1000);

    // Paced sender: every 100 ms, the entries due by now, in PutEvents calls of 10.
    let next = 0;
    while (next < entries.length) {
      const due = Math.min(entries.length, Math.floor(((performance.now() - started) / 1000) * rate));
      const calls: Promise<void>[] = [];
      while (next < due) {
        const end = Math.min(due, next + 10);
        const batch = entries.slice(next, end);
        next = end;
        calls.push(
          client.send(new PutEventsCommand({ Entries: batch })).then(
            (response) => {
              accepted += batch.length - (response.FailedEntryCount ?? 0);
            },
            () => {
              failedCalls++;
            },
          ),
        );
      }
      await Promise.all(calls);
      await sleep(100);
    }
    const drainStarted = performance.now();
    while ((processed.size < accepted || !runtime.idle()) && performance.now() - drainStarted < 300_000) {
      await sleep(100);
    }
    clearInterval(windowTimer);
    closeWindow();
    if (failedCalls > 0) process.stderr.write(`soak: ${failedCalls} PutEvents call(s) failed\n`);

    return {
      name: 'soak',
      minutes: round(minutes, 2),
      rate,
      windowSeconds,
      windows,
      accepted,
      processed: processed.size,
      drainSeconds: round((performance.now() - drainStarted) / 1000, 1),
      memory: memoryVerdict(windows),
      latency: latencyVerdict(windows),
    };
  } finally {
    client.destroy();
    await runtime.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * Flat = the peak of runtime + worker RSS after the warm-up (the first quarter of the windows)
 * stays within max(64 MiB, 10%) of the RSS at the end of the warm-up, the rule the pipeline
 * benchmark uses.
 */
export function memoryVerdict(windows: readonly SoakWindow[]): SoakBenchResult['memory'] {
  const totals = windows.map((w) => w.rssMiB + w.workersRssMiB);
  const warm = Math.max(0, Math.ceil(totals.length / 4) - 1);
  const baselineMiB = totals[warm] ?? 0;
  const peakMiB = Math.max(...totals.slice(warm));
  const endMiB = totals[totals.length - 1] ?? 0;
  return {
    baselineMiB: round(baselineMiB, 1),
    peakMiB: round(peakMiB, 1),
    endMiB: round(endMiB, 1),
    flat: peakMiB - baselineMiB <= Math.max(64, baselineMiB * 0.1),
  };
}

/**
 * Stable = the median window p99 of the last third of the send phase is at most 1.5x that of the
 * first third after warm-up (or within 50 ms of it, for small latencies). The final, draining
 * window is left out.
 */
export function latencyVerdict(windows: readonly SoakWindow[]): SoakBenchResult['latency'] {
  const sending = windows.slice(Math.ceil(windows.length / 4), -1).filter((w) => w.done > 0);
  const third = Math.max(1, Math.floor(sending.length / 3));
  const median = (ws: readonly SoakWindow[]) => summarize(ws.map((w) => w.latencyP99Ms)).median;
  const earlyP99Ms = round(median(sending.slice(0, third)), 1);
  const lateP99Ms = round(median(sending.slice(-third)), 1);
  return {
    earlyP99Ms,
    lateP99Ms,
    stable: lateP99Ms <= Math.max(earlyP99Ms * 1.5, earlyP99Ms + 50),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(
      [
        'usage: npm run soak [-- --quick]',
        '',
        'Runs the local pipeline at a steady rate, then drains it; prints whether anything was lost,',
        'whether RSS stayed flat and latency stable, and writes the windows to bench/results/soak-*.json.',
        'environment: SOAK_MINUTES (default 3), SOAK_RATE events/s (default 300); --quick: 20 s at 100/s',
        '',
      ].join('\n'),
    );
    process.exit(0);
  }
  const result = await runSoakBench({ quick: process.argv.includes('--quick') });
  const file = join(
    PROJECT_ROOT,
    'bench',
    'results',
    `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  const { memory, latency } = result;
  process.stdout.write(
    [
      `accepted ${result.accepted}, processed by tier 1 ${result.processed}: ${result.accepted === result.processed ? 'nothing lost' : 'LOST EVENTS'}`,
      `memory (runtime + workers RSS): ${memory.baselineMiB} MiB after warm-up, peak ${memory.peakMiB}, end ${memory.endMiB}: ${memory.flat ? 'flat' : 'NOT flat'}`,
      `latency (window p99): early ${latency.earlyP99Ms} ms, late ${latency.lateP99Ms} ms: ${latency.stable ? 'stable' : 'NOT stable'}`,
      `windows and details: ${file}`,
      '',
    ].join('\n'),
  );
  process.exitCode = result.accepted === result.processed ? 0 : 1;
}
