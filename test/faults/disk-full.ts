// Fault scenario "diskFull": the state folder's disk fills up mid-load, then space returns. Every
// PutEvents entry must either fail (InternalFailure, and then have no outcome at all) or be accepted
// and end with one outcome (at least once: the same one may be stored twice, never two different
// ones); the runtime stays up, and /health shows the condition and clears.
// As root the state folder lies on a 16 MiB tmpfs that a ballast file fills (a real ENOSPC from
// every writer: SQS log, Firehose WAL, S3, DynamoDB); otherwise the SQS log and Firehose WAL writes
// fail through an injected layer (test/support/failing-disk.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { sampleEntries } from '../../functions/producer/samples';
import { PROJECT_ROOT } from '../../lib/app';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { FailingDisk } from '../support/failing-disk';
import {
  busNameOf,
  collect,
  FAULT_FUNCTION_TIMEOUT_SECONDS,
  FAULT_VISIBILITY_SECONDS,
  type Reconciliation,
  reconcile,
  requestKey,
  sampleTasksOf,
  tenantsOf,
  waitUntilIdle,
} from './reconcile';

/** Bytes left free when the tmpfs is filled (the report: 300 KB). */
const LEFT_FREE = 300 * 1024;

/**
 * Request bytes sent while the disk is full: enough that the writes (each accepted request lands in
 * the SQS log and the archive WAL at least) cannot fit in what was left free, whatever the traffic
 * mix. A count of requests would not do: a spam message is kilobytes, a sensor window about 160
 * bytes, so a third of 150 mixed requests (about 124 KB) fit in 300 KB and the fault never fired.
 */
const BYTES_WHILE_FULL = 2 * LEFT_FREE;

interface Disk {
  readonly how: string;
  readonly stateDir: string;
  readonly writes?: FailingDisk;
  fill(): void;
  free(): void;
  cleanup(): void;
}

/** A 16 MiB tmpfs when this process may mount one; undefined (with the reason) otherwise. */
export function tmpfsDisk(): Disk | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'not root: cannot mount a tmpfs' };
  const mount = mkdtempSync(join(tmpdir(), 'inferbus-diskfull-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount], { stdio: 'pipe' });
  } catch (error) {
    rmSync(mount, { recursive: true, force: true });
    return { reason: `mount -t tmpfs failed: ${String((error as Error).message).split('\n')[0]}` };
  }
  const ballast = join(mount, 'ballast');
  return {
    how: 'tmpfs 16 MiB filled to 300 KB free',
    stateDir: join(mount, 'state'),
    fill() {
      const { bavail, bsize } = statfsSync(mount);
      writeFileSync(ballast, Buffer.alloc(Math.max(0, bavail * bsize - LEFT_FREE)));
    },
    free: () => rmSync(ballast, { force: true }),
    cleanup() {
      execFileSync('umount', [mount]);
      rmSync(mount, { recursive: true, force: true });
    },
  };
}

export function injectedDisk(): Disk {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-diskfull-'));
  const writes = new FailingDisk();
  return {
    how: 'injected ENOSPC on SQS log and Firehose WAL writes',
    stateDir: join(dir, 'state'),
    writes,
    fill: () => {
      writes.failing = 'ENOSPC';
    },
    free: () => {
      writes.failing = undefined;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

interface Health {
  storage?: { ok: boolean; error?: string };
}

async function health(endpoint: string): Promise<Health> {
  return (await (await fetch(`${endpoint}/health`)).json()) as Health;
}

/** The samples from `from` on whose request details add up to `bytes` (all that are left if fewer). */
function samplesOfBytes(samples: ReturnType<typeof sampleEntries>, from: number, bytes: number) {
  let sum = 0;
  let end = from;
  while (end < samples.length && sum < bytes) {
    sum += Buffer.byteLength(samples[end]?.entry.Detail ?? '');
    end++;
  }
  return samples.slice(from, end);
}

/** Sends `count` samples in groups of 10: ids accepted and ids whose entry failed. */
async function send(
  events: EventBridgeClient,
  samples: ReturnType<typeof sampleEntries>,
): Promise<{ accepted: string[]; failed: string[]; codes: Set<string> }> {
  const accepted: string[] = [];
  const failed: string[] = [];
  const codes = new Set<string>();
  for (let i = 0; i < samples.length; i += 10) {
    const group = samples.slice(i, i + 10);
    const response = await events.send(
      new PutEventsCommand({ Entries: group.map((s) => ({ ...s.entry, Resources: undefined })) }),
    );
    response.Entries?.forEach((result, j) => {
      const sample = group[j];
      const id = requestKey(sample?.tenant as string, sample?.id as string);
      if (result.EventId) accepted.push(id);
      else {
        failed.push(id);
        codes.add(String(result.ErrorCode));
      }
    });
  }
  return { accepted, failed, codes };
}

/**
 * The scenario on `disk`: a third of `requests` before the disk fills, then while it is full as
 * many as carry BYTES_WHILE_FULL (or a third, if more), then a third after.
 */
export async function runDiskFullScenario(
  disk: Disk,
  options: { requests: number; out: (line: string) => void },
): Promise<Reconciliation & { failedEntries: number }> {
  const logs: string[] = [];
  const runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir: disk.stateDir,
    log: (line) => logs.push(line),
    ...(process.env.DISK_FULL_LOG ? { functionLog: (line: string) => logs.push(`fn: ${line}`) } : {}),
    firehoseIntervalSeconds: 1,
    visibilityTimeoutSeconds: FAULT_VISIBILITY_SECONDS,
    functionTimeoutSeconds: FAULT_FUNCTION_TIMEOUT_SECONDS,
    ...(disk.writes ? { durableWrites: disk.writes } : {}),
  });
  const problems: string[] = [];
  try {
    const target = { endpoint: runtime.endpoint, region: runtime.model.region };
    const events = new EventBridgeClient({ ...target, credentials: LOCAL_S3_CREDENTIALS, maxAttempts: 1 });
    const third = Math.ceil(options.requests / 3);
    // Enough samples for any traffic mix: the phase while full is sized in bytes.
    const samples = sampleEntries({
      count: options.requests * 10,
      busName: busNameOf(runtime.model),
      tenants: tenantsOf(runtime.model),
      tasks: await sampleTasksOf(runtime.model),
      poisonShare: 0.03,
      rejected: 0,
    });
    const before = await send(events, samples.slice(0, third));
    disk.fill();
    const whileFull = samplesOfBytes(samples, third, BYTES_WHILE_FULL);
    const duringSamples = whileFull.length >= third ? whileFull : samples.slice(third, 2 * third);
    const during = await send(events, duringSamples);
    const healthWhileFull = await health(runtime.endpoint);
    if (healthWhileFull.storage?.ok !== false) problems.push('/health did not show the storage condition');
    disk.free();
    // Past the writers' retry delay (250 ms): until then requests still fail at once.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const afterFrom = third + duringSamples.length;
    const after = await send(events, samples.slice(afterFrom, afterFrom + third));
    events.destroy();
    const failed = [...before.failed, ...during.failed, ...after.failed];
    const codes = new Set([...before.codes, ...during.codes, ...after.codes]);
    const other = [...codes].filter((c) => c !== 'InternalFailure');
    if (other.length > 0) problems.push(`entries failed with ${other.join(', ')}`);
    if (during.failed.length === 0) problems.push('no entry failed while the disk was full');
    const settled = await waitUntilIdle(runtime);
    const cleared = await health(runtime.endpoint);
    if (cleared.storage?.ok !== true) problems.push(`/health still shows ${JSON.stringify(cleared.storage)}`);
    const condition = logs.filter((l) => l.startsWith('storage: writing') && l.includes('failed ('));
    if (condition.length === 0) problems.push('the storage condition was never logged');
    const collected = await collect(target, runtime.model);
    const failedSet = new Set(failed);
    const outcomeOfFailed = [
      ...collected.completedRows.filter((id) => failedSet.has(id)),
      ...collected.deadLetters.map((d) => d.id).filter((id) => failedSet.has(id)),
    ];
    if (outcomeOfFailed.length > 0) {
      problems.push(
        `${outcomeOfFailed.length} failed entr(ies) have an outcome: ${outcomeOfFailed.slice(0, 5).join(', ')}`,
      );
    }
    const accepted = [...before.accepted, ...during.accepted, ...after.accepted];
    options.out(
      `[diskFull] ${disk.how}: ${accepted.length} accepted (${during.accepted.length} while full), ${failed.length} failed (InternalFailure); storage logged ${condition.length} time(s)`,
    );
    const notes = settled ? [] : ['did not settle in time'];
    const result = reconcile(
      'diskFull',
      accepted,
      collected,
      notes.join('; ') || undefined,
      undefined,
      failed.length > 0,
      problems,
    );
    return { ...result, failedEntries: failed.length };
  } finally {
    await runtime.stop();
    if (process.env.DISK_FULL_LOG) writeFileSync(process.env.DISK_FULL_LOG, logs.join('\n'));
    disk.cleanup();
  }
}
