// Graceful shutdown under load: a real `inferbus local` child gets SIGINT (to its process group, as
// Ctrl-C in a terminal sends it) or SIGTERM (to its pid, as `kill` sends it) while a producer puts
// events at a steady rate through the real SDK; then a restart on the same state drains what is
// left, and every accepted id is reconciled. Self-contained: run.ts only lists the two scenarios.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { sampleEntries, type TaskSamples } from '../../functions/producer/samples';
import { PROJECT_ROOT } from '../../lib/app';
import type { TemplateModel } from '../../local/model';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { ensureSynthesized, loadTemplateModel } from '../../local/template';
import {
  busNameOf,
  type Collected,
  type Reconciliation,
  reconcile,
  requestKey,
  sampleTasksOf,
  tenantsOf,
} from './reconcile';

export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface SignalScenarioOptions {
  readonly signal: StopSignal;
  /** Events per second the producer puts (in PutEvents calls of 10). @default 300 */
  readonly rate?: number;
  /** How long after the first PutEvents the signal comes. @default 3500 */
  readonly signalAfterMs?: number;
  /**
   * Sends the signal again as soon as the stop has begun (a second Ctrl-C): the runtime must exit at
   * once (128 + the signal's number), hand back the messages in flight, and still lose nothing
   * accepted. Archive records may then wait in the Firehose log for the restart.
   */
  readonly twice?: boolean;
  readonly out: (line: string) => void;
  readonly verbose?: boolean;
}

/** What the stopped runtime and the producer showed, besides the reconciliation. */
export interface SignalOutcome {
  readonly reconciliation: Reconciliation;
  readonly exitCode: number | null;
  /** The stopping runtime's stderr. */
  readonly stopLog: string;
  /** PutEvents calls refused after the signal, by error name (e.g. ServiceUnavailable). */
  readonly refusals: Readonly<Record<string, number>>;
  /** Work-queue messages still in flight when the restarted runtime read its log (each would wait out its visibility timeout). */
  readonly inFlightAtRestart: number;
  /** Archive records the restart found in the Firehose log (a graceful stop flushes them all). */
  readonly firehoseReplayed: number;
  /** Messages in the rules' target DLQs: deliveries the bus gave up. */
  readonly ruleDeadLetters: number;
}

const CLI = fileURLToPath(new URL('../../bin/inferbus.ts', import.meta.url));
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

export async function runSignalScenario(options: SignalScenarioOptions): Promise<SignalOutcome> {
  const name = `${options.signal.toLowerCase()}${options.twice ? '-twice' : ''}+restart`;
  const stateDir = mkdtempSync(join(tmpdir(), `inferbus-faults-${options.signal.toLowerCase()}-`));
  const cdkOutDir = join(PROJECT_ROOT, 'cdk.out');
  const log: string[] = [];
  await ensureSynthesized({ projectRoot: PROJECT_ROOT, cdkOutDir, stage: 'dev', log: (l) => log.push(l) });
  const model = loadTemplateModel(cdkOutDir, undefined, { endpoint: 'http://127.0.0.1:0' });
  const port = await freePort();
  const local = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'local', '--port', String(port), '--state-dir', stateDir],
    // Its own process group, like a shell job: Ctrl-C reaches the runtime and its Lambda workers.
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let stopLog = '';
  local.stderr?.on('data', (c: Buffer) => {
    stopLog += c.toString('utf8');
  });
  local.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => local.once('exit', (code) => resolve(code)));
  try {
    const endpoint = `http://127.0.0.1:${port}`;
    await waitForHealth(endpoint, local, 180_000);
    const producer = produce(
      { endpoint, region: model.region },
      model,
      options.rate ?? 300,
      await sampleTasksOf(model),
    );
    await new Promise((r) => setTimeout(r, options.signalAfterMs ?? 3500));
    // SIGINT to the process group, as Ctrl-C in a terminal sends it; SIGTERM to the pid, as `kill` does.
    const signal = () =>
      process.kill(
        options.signal === 'SIGINT' ? -(local.pid as number) : (local.pid as number),
        options.signal,
      );
    signal();
    if (options.twice) {
      // The second Ctrl-C once the producer has seen the intake refuse it: sent the moment the
      // intake closes, it raced the refusals (calls cut off by the exit count as timeouts).
      await until(
        () => stopLog.includes('stopping: intake closed') && producer.refused('ServiceUnavailable') > 0,
        30_000,
      );
      signal();
    }
    const exitCode = await exited;
    const { accepted, refusals } = await producer.stop();

    // The template's own clock: nothing in a graceful stop needs the accelerated one, and under it a
    // restart's backlog on 2 cores times out batches (1.5 s) that are merely slow.
    const drain = spawn(process.execPath, ['--import', 'tsx', CHILD, 'restart', stateDir], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    drain.stderr?.on('data', (c: Buffer) => log.push(c.toString('utf8')));
    const result = JSON.parse(await lineFrom(drain, 'RESULT', 300_000)) as Collected & {
      settled: boolean;
      backlog: number;
      inFlight: number;
      replayed: number;
    };
    const ruleDlqs = new Set(model.rules.flatMap((r) => r.targets.flatMap((t) => t.deadLetterArn ?? [])));
    const ruleDlqNames = new Set(model.queues.filter((q) => ruleDlqs.has(q.arn)).map((q) => q.name));
    const ruleDeadLetters = result.deadLetters.filter((d) => ruleDlqNames.has(d.queue)).length;
    if (options.verbose) {
      options.out(`\n[${name}] what inferbus local said while stopping:`);
      for (const line of stopLog.split('\n').filter((l) => /^(SIG|stopp)/.test(l))) options.out(`  ${line}`);
      options.out(`\n[${name}] ${result.deadLetters.length} DLQ message(s):`);
      for (const d of result.deadLetters) options.out(`  ${d.id}  ${d.queue}  ${d.reason}`);
    }
    const dropped = (stopLog.match(/event dropped/g) ?? []).length;
    const refused = Object.values(refusals).reduce((n, c) => n + c, 0);
    const expectedExit = options.twice ? 128 + constants.signals[options.signal] : 0;
    const problems = [
      ...(exitCode === expectedExit ? [] : [`exit code ${exitCode}`]),
      ...(!options.twice || /again: exiting now/.test(stopLog) ? [] : ['no forced-exit report']),
      ...(dropped === 0 ? [] : [`${dropped} "event dropped"`]),
      ...(ruleDeadLetters === 0 ? [] : [`${ruleDeadLetters} in rule DLQs`]),
      ...(result.inFlight === 0 ? [] : [`${result.inFlight} in flight at restart`]),
      ...(result.replayed === 0 || options.twice ? [] : [`${result.replayed} Firehose records unflushed`]),
      ...(refusals.ServiceUnavailable ? [] : ['intake never refused']),
    ];
    const note = [
      `${options.signal}${options.twice ? ' twice' : ''} after ${options.signalAfterMs ?? 3500} ms at ${options.rate ?? 300}/s; exit ${exitCode}`,
      `${refused} PutEvents call(s) refused while stopping (${Object.entries(refusals)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`,
      `at restart: ${result.backlog} work-queue message(s), ${result.inFlight} in flight, ${result.replayed} Firehose record(s) in the log`,
      ...(result.settled ? [] : ['did not settle in time']),
    ].join('; ');
    return {
      reconciliation: reconcile(name, accepted, result, note, undefined, true, problems),
      exitCode,
      stopLog,
      refusals,
      inFlightAtRestart: result.inFlight,
      firehoseReplayed: result.replayed,
      ruleDeadLetters,
    };
  } catch (error) {
    options.out(`[${name}] failed: ${(error as Error).message}\n${(stopLog + log.join('')).slice(-3000)}`);
    throw error;
  } finally {
    try {
      process.kill(-(local.pid as number), 'SIGKILL');
    } catch {}
    rmSync(stateDir, { recursive: true, force: true });
  }
}

interface Producer {
  /** Waits for the calls under way; the ids PutEvents accepted and the refusals by error name. */
  stop(): Promise<{ accepted: string[]; refusals: Record<string, number> }>;
  /** Calls refused so far with this error name. */
  refused(name: string): number;
}

/**
 * Puts sample requests (about 3% poison) at `rate` events per second, ten per call, as a producer
 * with its own pacing would; one attempt per call (no SDK retries), so a refusal is seen as such.
 * Keeps going after a refusal until stopped: a refused entry is never accepted.
 */
export function produce(
  target: { endpoint: string; region: string },
  model: TemplateModel,
  rate: number,
  tasks: readonly TaskSamples[],
): Producer {
  const events = new EventBridgeClient({
    endpoint: target.endpoint,
    region: target.region,
    credentials: LOCAL_S3_CREDENTIALS,
    maxAttempts: 1,
  });
  const samples = sampleEntries({
    count: Math.ceil(rate * 60),
    busName: busNameOf(model),
    tenants: tenantsOf(model),
    tasks,
    poisonShare: 0.03,
    rejected: 0,
  });
  const accepted: string[] = [];
  const refusals: Record<string, number> = {};
  const calls = new Set<Promise<void>>();
  const started = Date.now();
  let sent = 0;
  let stopped = false;
  const tick = () => {
    const due = Math.min(samples.length, Math.floor(((Date.now() - started) / 1000) * rate));
    while (!stopped && sent < due) {
      const group = samples.slice(sent, sent + 10);
      sent += group.length;
      const call = events
        .send(new PutEventsCommand({ Entries: group.map((s) => ({ ...s.entry, Resources: undefined })) }))
        .then(
          (response) => {
            response.Entries?.forEach((result, j) => {
              const sample = group[j];
              if (result.EventId && sample?.id) accepted.push(requestKey(sample.tenant, sample.id));
            });
          },
          (error: Error & { code?: string }) => {
            const key = error.name === 'Error' ? (error.code ?? error.message) : error.name;
            refusals[key] = (refusals[key] ?? 0) + 1;
          },
        )
        .finally(() => calls.delete(call));
      calls.add(call);
    }
  };
  const timer = setInterval(tick, 20);
  return {
    refused: (name) => refusals[name] ?? 0,
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (calls.size > 0) await Promise.all([...calls]);
      events.destroy();
      return { accepted, refusals };
    },
  };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once /health answers with the stack (not `starting`); rejects if the child exits first. */
async function waitForHealth(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`inferbus local exited (${child.exitCode}) while starting`);
    try {
      const health = (await (await fetch(`${endpoint}/health`)).json()) as { stack?: string };
      if (health.stack) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`inferbus local did not answer ${endpoint}/health within ${timeoutMs} ms`);
}

/** The first whole stdout line of `child` that starts with `prefix` and a space, without the prefix. */
export function lineFrom(child: ChildProcess, prefix: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`child gave no ${prefix} line in ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      // Whole lines only: a RESULT line runs to tens of kilobytes, over several chunks.
      const line = buffer
        .split('\n')
        .slice(0, -1)
        .find((l) => l.startsWith(`${prefix} `));
      if (line) {
        clearTimeout(timer);
        resolve(line.slice(prefix.length + 1));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before its ${prefix} line`));
    });
  });
}
