// `npm run faults`: every fault scenario on a fresh local runtime, then a reconciliation of accepted
// request ids against archived results and DLQ messages. Exits non-zero when anything was lost.
// Faults reach the handlers through INFERBUS_FAULTS (functions/shared/faults.ts), and the runtime's
// own faults (failing Firehose S3 writes) through runtime options; queues and functions run on an
// accelerated clock (FAULT_VISIBILITY_SECONDS, FAULT_FUNCTION_TIMEOUT_SECONDS).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FaultConfig } from '../../functions/shared/faults';
import { PROJECT_ROOT } from '../../lib/app';
import type { TemplateModel } from '../../local/model';
import { ensureSynthesized, loadTemplateModel } from '../../local/template';
import { runCorruptByteScenario } from './corrupt-byte';
import { injectedDisk, runDiskFullScenario, tmpfsDisk } from './disk-full';
import { runForgedResultScenario } from './forged-result';
import { everyPackedRequestArchived, sendPacked } from './packed';
import {
  type Collected,
  collect,
  firehoseTotals,
  formatTable,
  type Reconciliation,
  type RuntimeFaults,
  reconcile,
  sendSamples,
  startRuntime,
  type Target,
  waitUntilIdle,
} from './reconcile';
import { runRedriveScenario } from './redrive';
import { everyIdOneOutcome, sendSampleTwice } from './sample-twice';
import { lineFrom, runSignalScenario, type StopSignal } from './signal';
import { checkTears, tearTails } from './torn-tail';

export interface Scenario {
  readonly name: string;
  /** Handler faults (INFERBUS_FAULTS). */
  readonly faults?: FaultConfig;
  readonly runtimeFaults?: RuntimeFaults;
  /** Traffic other than one sample send; resolves to the ids accepted. */
  readonly send?: (target: Target, model: TemplateModel, count: number) => Promise<string[]>;
  /** Checks beyond the reconciliation; each problem found fails the scenario. */
  readonly verify?: (
    target: Target,
    model: TemplateModel,
    accepted: readonly string[],
    collected: Collected,
  ) => Promise<string[]>;
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'baseline' },
  // Seeded: each worker process draws the same sequence, so a scenario's faults reproduce run to run.
  { name: 'handlerErrorRate=0.3', faults: { handlerErrorRate: 0.3, seed: 1 } },
  { name: 'publishFailureRate=0.3', faults: { publishFailureRate: 0.3, seed: 1 } },
  { name: 'initFailure', faults: { initFailure: true } },
  { name: 'handlerTimeoutRate=0.2', faults: { handlerTimeoutRate: 0.2, seed: 1 } },
  // Seed 7 draws 0.012 first: the first object write fails in every run, however few objects it writes.
  {
    name: 'firehoseWriteFailureRate=0.5',
    runtimeFaults: { firehoseWriteFailureRate: 0.5, firehoseWriteFailureSeed: 7 },
  },
  // No fault injected: sequence numbers used twice (test/faults/sample-twice.ts).
  { name: 'sampleSentTwice', send: sendSampleTwice, verify: everyIdOneOutcome },
  // The sample traffic in packs (test/faults/packed.ts): failed result packs hand whole packs back.
  {
    name: 'packedTraffic',
    faults: { publishFailureRate: 0.3, seed: 1 },
    send: sendPacked,
    verify: everyPackedRequestArchived,
  },
];

export interface RunOptions {
  readonly requests: number;
  readonly out: (line: string) => void;
  readonly verbose?: boolean;
}

/** One scenario in this process: fresh runtime and state, traffic, settle, reconcile. */
export async function runScenario(scenario: Scenario, options: RunOptions): Promise<Reconciliation> {
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-faults-'));
  const logs: string[] = [];
  const runtime = await startRuntime(
    stateDir,
    scenario.faults,
    (line) => logs.push(line),
    scenario.runtimeFaults,
  );
  try {
    const target = { endpoint: runtime.endpoint, region: runtime.model.region };
    const accepted = await (scenario.send ?? sendSamples)(target, runtime.model, options.requests);
    const settled = await waitUntilIdle(runtime);
    const collected = await collect(target, runtime.model);
    const problems = (await scenario.verify?.(target, runtime.model, accepted, collected)) ?? [];
    report(options, scenario.name, collected);
    const handedBack = runtime.pollers.reduce((n, p) => n + p.stats().failedRecords, 0);
    const { deliveryFailures } = firehoseTotals(runtime);
    const notes = [
      ...problems,
      ...(settled ? [] : ['did not settle in time']),
      ...(deliveryFailures > 0
        ? [`${deliveryFailures} Firehose S3 write(s) failed every attempt; their records were retried later`]
        : []),
    ];
    // Proof that the injected faults fired: records handed back or dead-lettered after retries, or
    // Firehose writes that failed. Without it a PASS would only say the baseline works.
    const injected = scenario.faults !== undefined || scenario.runtimeFaults !== undefined;
    const fired =
      handedBack > 0 ||
      deliveryFailures > 0 ||
      collected.deadLetters.some((d) => d.errorCode?.startsWith('RetriesExhausted.'));
    const result = reconcile(
      scenario.name,
      accepted,
      collected,
      notes.join('; ') || undefined,
      handedBack,
      !injected || fired,
    );
    return problems.length > 0 ? { ...result, ok: false } : result;
  } finally {
    await runtime.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function report(options: RunOptions, scenario: string, collected: Collected): void {
  if (!options.verbose) return;
  options.out(`\n[${scenario}] ${collected.deadLetters.length} DLQ message(s):`);
  for (const d of collected.deadLetters) options.out(`  ${d.id}  ${d.queue}  ${d.reason}`);
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

function spawnChild(mode: 'serve' | 'drain', stateDir: string, log: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, mode, stateDir], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: the SIGKILL takes the runtime and its Lambda workers down together.
    detached: true,
  }).on('error', (error) => log.push(`child: ${error.message}`));
}

/**
 * SIGKILL of the runtime (and its workers) while batches are in flight, then a restart on the same
 * state folder that drains the queues. Accepted ids missing afterwards were lost by the crash.
 */
export async function runKillScenario(
  options: RunOptions & {
    killAfterMs?: number;
    /** Tears the state files after the kill (tornTail); the restart must cut and report each tear. */
    tear?: boolean;
  },
): Promise<Reconciliation> {
  const name = options.tear ? 'sigkill+tornTail+restart' : 'sigkill+restart';
  const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-faults-kill-'));
  const log: string[] = [];
  const cdkOutDir = join(PROJECT_ROOT, 'cdk.out');
  await ensureSynthesized({ projectRoot: PROJECT_ROOT, cdkOutDir, stage: 'dev', log: (l) => log.push(l) });
  const model = loadTemplateModel(cdkOutDir, undefined, { endpoint: 'http://127.0.0.1:0' });
  const serve = spawnChild('serve', stateDir, log);
  serve.stderr?.on('data', (c: Buffer) => log.push(c.toString('utf8')));
  try {
    const target = JSON.parse(await lineFrom(serve, 'READY', 180_000));
    const accepted = await sendSamples(target, model, options.requests);
    await new Promise((r) => setTimeout(r, options.killAfterMs ?? 1500));
    process.kill(-(serve.pid as number), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const tears = options.tear ? tearTails(stateDir) : [];
    const drain = spawnChild('drain', stateDir, log);
    drain.stderr?.on('data', (c: Buffer) => log.push(c.toString('utf8')));
    const result = JSON.parse(await lineFrom(drain, 'RESULT', 300_000)) as Collected & {
      settled: boolean;
      backlog: number;
      replayed: number;
    };
    report(options, name, result);
    const problems = checkTears(tears, log.join(''));
    const torn = tears.map(
      (t) => `${relative(stateDir, t.file)} at byte ${t.offset} (${t.bytes.length} bytes)`,
    );
    const note = [
      `${result.backlog} work-queue message(s) and ${result.replayed} Firehose record(s) left at restart`,
      ...(tears.length > 0 ? [`torn tails cut and reported: ${torn.join(', ')}`] : []),
      ...(result.settled ? [] : ['did not settle in time']),
    ].join('; ');
    return reconcile(name, accepted, result, note, undefined, true, problems);
  } catch (error) {
    options.out(`[${name}] failed: ${(error as Error).message}\n${log.join('').slice(-2000)}`);
    throw error;
  } finally {
    try {
      process.kill(-(serve.pid as number), 'SIGKILL');
    } catch {}
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export function printReconciliation(rows: readonly Reconciliation[], out: (line: string) => void): void {
  out(`\n${formatTable(rows)}`);
  for (const r of rows) {
    out(`\n${r.scenario}: DLQ reasons`);
    for (const [reason, n] of r.reasons) out(`  ${String(n).padStart(4)}  ${reason}`);
    if (r.missing.length) out(`  MISSING (${r.missing.length}): ${r.missing.slice(0, 20).join(', ')}`);
    if (r.invented.length) out(`  INVENTED (${r.invented.length}): ${r.invented.slice(0, 20).join(', ')}`);
    out(
      `  invented per tenant: ${[...r.inventedByTenant].map(([tenant, n]) => `${tenant} ${n}`).join(', ') || '(no tenant)'}`,
    );
    if (r.conflicts.length)
      out(
        `  both completed and dead-lettered (${r.conflicts.length}): ${r.conflicts.slice(0, 10).join(', ')}`,
      );
    if (r.note) out(`  note: ${r.note}`);
  }
}

async function main(): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const only = process.argv[2];
  const signals: Record<string, { signal: StopSignal; twice?: boolean }> = {
    sigint: { signal: 'SIGINT' },
    sigterm: { signal: 'SIGTERM' },
    'sigint-twice': { signal: 'SIGINT', twice: true },
  };
  const names = [
    ...SCENARIOS.map((s) => s.name),
    'sigkill',
    'diskFull',
    'forgedResult',
    'tornTail',
    'corruptByte',
    'redriveGivenUp',
    ...Object.keys(signals),
  ];
  if (only === '--help' || only === '-h') {
    out(
      [
        'usage: npm run faults [-- SCENARIO]',
        '',
        'Runs every fault scenario on a fresh local runtime (or only SCENARIO), then reconciles accepted',
        'request ids against archived results and DLQ messages. Exits 1 if any scenario fails.',
        `scenarios: ${names.join(', ')}`,
        'environment: FAULTS_REQUESTS (requests per scenario, default 200)',
      ].join('\n'),
    );
    return;
  }
  if (only !== undefined && !names.includes(only)) {
    process.stderr.write(`unknown scenario "${only}"; known: ${names.join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const requests = Number(process.env.FAULTS_REQUESTS ?? 200);
  if (!Number.isInteger(requests) || requests < 1) {
    process.stderr.write(`FAULTS_REQUESTS must be a positive integer; got ${process.env.FAULTS_REQUESTS}\n`);
    process.exitCode = 2;
    return;
  }
  const rows: Reconciliation[] = [];
  for (const scenario of SCENARIOS) {
    if (only && scenario.name !== only) continue;
    out(`running ${scenario.name} ...`);
    rows.push(await runScenario(scenario, { requests, out, verbose: true }));
  }
  if (!only || only === 'sigkill') {
    out('running sigkill+restart ...');
    rows.push(await runKillScenario({ requests, out, verbose: true }));
  }
  if (!only || only === 'diskFull') {
    const tmpfs = tmpfsDisk();
    const disk = 'reason' in tmpfs ? injectedDisk() : tmpfs;
    if ('reason' in tmpfs) out(`diskFull: ${tmpfs.reason}; injecting write failures instead`);
    out(`running diskFull (${disk.how}) ...`);
    rows.push(await runDiskFullScenario(disk, { requests, out }));
  }
  if (!only || only === 'tornTail') {
    out('running sigkill+tornTail+restart ...');
    rows.push(await runKillScenario({ requests, out, verbose: true, tear: true }));
  }
  if (!only || only === 'corruptByte') {
    out('running corruptByte+salvage ...');
    rows.push(await runCorruptByteScenario({ requests, out }));
  }
  if (!only || only === 'redriveGivenUp') {
    out(`running redriveGivenUp (${3 * requests} requests in one stream) ...`);
    rows.push(await runRedriveScenario({ requests: 3 * requests, out }));
  }
  if (!only || only === 'forgedResult') {
    out('running forgedResult ...');
    rows.push(await runForgedResultScenario({ requests, out }));
  }
  for (const [key, how] of Object.entries(signals)) {
    if (only && only !== key) continue;
    out(`running ${key}+restart (stop under 300 events/s) ...`);
    rows.push((await runSignalScenario({ ...how, out, verbose: true })).reconciliation);
  }
  printReconciliation(rows, out);
  process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
