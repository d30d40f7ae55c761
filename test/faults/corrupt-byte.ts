// Fault scenario "corruptByte": one byte of the state changed while the runtime was stopped (a bad
// sector, a stray write). Run with every Firehose S3 write failing, so the archive records wait in
// sealed write-ahead-log segments, and stop mid-load, so messages wait in the SQS log. Then change
// one byte in the middle of a sealed segment's InferenceCompleted line, and one body byte of a queued
// tier-1 message in the middle of `sqs/queues.log`. Each start must fail naming the file and the
// byte, and leave the file as it was; `inferbus local salvage` (the real CLI) copies what is intact;
// the restart from its folder must account for every accepted request except those whose records lay
// in the ranges salvage listed as unreadable, and those are named, read from the damaged bytes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PROJECT_ROOT } from '../../lib/app';
import type { LocalRuntime } from '../../local/runtime';
import { scanLog } from '../../local/sqs/log-scan';
import {
  collect,
  type Reconciliation,
  reconcile,
  requestKey,
  sendSamples,
  startRuntime,
  waitUntilIdle,
} from './reconcile';

const SEAL = /^[0-9a-f]{8} !seal \d+$/;

/** One changed byte: the file, the start of the record it lies in, and the file's bytes after the change. */
interface Change {
  readonly file: string;
  readonly recordStart: number;
  readonly bytes: Buffer;
}

/** Changes one letter of the message text of a queued tier-1 request near the middle of the SQS log. */
function changeQueuedBody(stateDir: string, workQueues: ReadonlySet<string>): Change {
  const file = join(stateDir, 'sqs', 'queues.log');
  const bytes = readFileSync(file);
  const sends = new Map<string, { start: number; end: number }>();
  const records = scanLog(bytes);
  for (let next = records.next(); !next.done; next = records.next()) {
    const { record, start, end } = next.value;
    if (record.t === 's' && workQueues.has(record.q)) sends.set(record.id, { start, end });
    else if (record.t === 'd' || record.t === 'm') sends.delete(record.id);
  }
  if (sends.size === 0) throw new Error(`${file} holds no queued tier-1 message: stop earlier in the load`);
  const middle = bytes.length / 2;
  const [chosen] = [...sends.values()].sort(
    (a, b) => Math.abs(a.start - middle) - Math.abs(b.start - middle),
  );
  const { start, end } = chosen as { start: number; end: number };
  const text = bytes.indexOf('"text":"', start);
  if (text < 0 || text >= end) throw new Error(`the queued message at byte ${start} has no text`);
  flipLetter(bytes, text + 12);
  writeFileSync(file, bytes);
  return { file, recordStart: start, bytes };
}

/** Changes one byte of the event time of the middle InferenceCompleted line of the sealed segment holding the most. */
function changeSealedLine(stateDir: string): Change {
  const firehose = join(stateDir, 'firehose');
  const segments = readdirSync(firehose).flatMap((stream) =>
    readdirSync(join(firehose, stream))
      .filter((n) => /^\d+\.wal$/.test(n))
      .map((n) => join(firehose, stream, n)),
  );
  const completed = (bytes: Buffer) =>
    bytes.toString('utf8').split('"detail_type":"InferenceCompleted"').length;
  const sealed = segments
    .map((file) => ({ file, bytes: readFileSync(file) }))
    .filter(({ bytes }) => SEAL.test(bytes.toString('utf8').trimEnd().split('\n').at(-1) ?? ''))
    .sort((a, b) => completed(b.bytes) - completed(a.bytes))[0];
  if (!sealed) throw new Error(`no sealed write-ahead-log segment under ${firehose}`);
  const { file, bytes } = sealed;
  const lines: number[] = [];
  for (let at = 0; at < bytes.length; at = bytes.indexOf('\n', at) + 1) {
    const end = bytes.indexOf('\n', at);
    if (bytes.toString('utf8', at, end).includes('"detail_type":"InferenceCompleted"')) lines.push(at);
  }
  const lineStart = lines[Math.floor(lines.length / 2)];
  if (lineStart === undefined) throw new Error(`${file} holds no InferenceCompleted line`);
  flipLetter(bytes, bytes.indexOf('"event_time":"', lineStart) + 16);
  writeFileSync(file, bytes);
  return { file, recordStart: lineStart, bytes };
}

/** A different character of the same class, so the damage is one byte and the text stays text. */
function flipLetter(bytes: Buffer, at: number): void {
  const c = bytes[at] as number;
  bytes[at] = c === 0x30 ? 0x31 : c >= 0x30 && c <= 0x39 ? 0x30 : c === 0x61 ? 0x62 : 0x61;
}

/** Starts on `stateDir`, which must fail naming `change`'s file and record; the file must stay as it was. */
async function startMustFail(stateDir: string, change: Change, problems: string[]): Promise<string> {
  let runtime: LocalRuntime | undefined;
  try {
    runtime = await startRuntime(stateDir, undefined, () => {});
  } catch (error) {
    const message = (error as Error).message;
    if (!message.includes(`${change.file} is damaged at byte ${change.recordStart}`))
      problems.push(`start failed without naming ${change.file} at byte ${change.recordStart}: ${message}`);
    if (!message.includes('inferbus local salvage')) problems.push('the start error does not name salvage');
    if (!readFileSync(change.file).equals(change.bytes))
      problems.push(`the failed start changed ${change.file}`);
    return message;
  }
  await runtime.stop();
  problems.push(`the runtime started on ${relative(stateDir, change.file)} with a changed byte`);
  return '';
}

/** The real CLI: `inferbus local salvage --state-dir <from> --out <to>`. */
function salvage(from: string, to: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/inferbus.mjs'), 'local', 'salvage', '--state-dir', from, '--out', to],
      { env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1' } },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** Unreadable ranges as salvage printed them: `<file>: ...` then `  byte <offset>, <n> bytes: <reason>`. */
export function lostRanges(stdout: string): { file: string; offset: number; bytes: number }[] {
  const ranges: { file: string; offset: number; bytes: number }[] = [];
  let file = '';
  for (const line of stdout.split('\n')) {
    const range = /^ {2}byte (\d+), (\d+) bytes: /.exec(line);
    if (range) ranges.push({ file, offset: Number(range[1]), bytes: Number(range[2]) });
    else if (line.includes(': ')) file = line.slice(0, line.indexOf(': '));
  }
  return ranges;
}

/**
 * The requests whose records lay in damaged bytes: a queued event (`"detail":{"id":...,"tenant":...}`,
 * an escalation by its `sourceEventId`) or an archive line (`tenant`, `source_event_id`).
 */
export function requestsIn(damaged: string): string[] {
  const keys = new Set<string>();
  for (const chunk of damaged.split('\n')) {
    const tenant = /"tenant":"([^"]+)"/.exec(chunk)?.[1];
    const detail = chunk.includes('"detail":') ? chunk.slice(chunk.indexOf('"detail":')) : chunk;
    const id =
      /"(?:source_event_id|sourceEventId)":"([^"]+)"/.exec(chunk)?.[1] ?? /"id":"([^"]+)"/.exec(detail)?.[1];
    if (tenant && id) keys.add(requestKey(tenant, id));
  }
  return [...keys];
}

export async function runCorruptByteScenario(options: {
  requests: number;
  out: (line: string) => void;
}): Promise<Reconciliation> {
  const name = 'corruptByte+salvage';
  const root = mkdtempSync(join(tmpdir(), 'inferbus-faults-corrupt-'));
  const stateDir = join(root, 'state');
  const salvaged = join(root, 'salvaged');
  const problems: string[] = [];
  try {
    const first = await startRuntime(stateDir, undefined, () => {}, { firehoseWriteFailureRate: 1 });
    const workQueues = new Set(
      first.model.queues
        .filter((q) => first.model.eventSourceMappings.some((m) => m.queueArn === q.arn))
        .filter((q) => q.name.includes('-t1-'))
        .map((q) => q.name),
    );
    let accepted: string[];
    try {
      accepted = await sendSamples(
        { endpoint: first.endpoint, region: first.model.region },
        first.model,
        options.requests,
        { pause: { at: Math.floor(options.requests / 2), ms: 2000 } },
      );
    } finally {
      await first.stop();
    }

    // One damaged file at a time: the Firehose segments are read after the SQS log.
    const wal = changeSealedLine(stateDir);
    const walRefusal = await startMustFail(stateDir, wal, problems);
    const sqs = changeQueuedBody(stateDir, workQueues);
    const refusal = await startMustFail(stateDir, sqs, problems);

    const run = await salvage(stateDir, salvaged);
    if (run.code !== 1)
      problems.push(`salvage exited ${run.code}, not 1 (something was lost): ${run.stderr}`);
    if (!readFileSync(wal.file).equals(wal.bytes) || !readFileSync(sqs.file).equals(sqs.bytes))
      problems.push('salvage changed the damaged state folder');
    const ranges = lostRanges(run.stdout);
    const lost = new Set<string>();
    for (const range of ranges) {
      const bytes = readFileSync(range.file).subarray(range.offset, range.offset + range.bytes);
      const keys = requestsIn(bytes.toString('utf8'));
      if (keys.length === 0)
        problems.push(`no request could be read from ${range.file} bytes ${range.offset}+${range.bytes}`);
      for (const key of keys) lost.add(key);
    }
    for (const change of [wal, sqs]) {
      if (!ranges.some((r) => r.file === change.file && r.offset === change.recordStart))
        problems.push(`salvage did not list ${change.file} byte ${change.recordStart} as unreadable`);
    }

    const runtime = await startRuntime(salvaged, undefined, () => {});
    try {
      const target = { endpoint: runtime.endpoint, region: runtime.model.region };
      const settled = await waitUntilIdle(runtime);
      const collected = await collect(target, runtime.model);
      const outcomes = new Set([...collected.completedRows, ...collected.deadLetters.map((d) => d.id)]);
      const lostNamed = [...lost].sort();
      const lostWithoutOutcome = lostNamed.filter((key) => !outcomes.has(key));
      options.out(
        `[${name}] start refused: ${walRefusal.split('. ')[0]}\n[${name}] start refused: ${refusal.split('. ')[0]}\n[${name}] salvage listed ${ranges.length} unreadable range(s): ${ranges
          .map((r) => `${relative(stateDir, r.file)} byte ${r.offset} (${r.bytes} bytes)`)
          .join(', ')}; requests in them: ${lostNamed.join(', ')}`,
      );
      const note = [
        `salvage lost ${ranges.length} range(s) holding ${lostNamed.join(', ')} (${lostWithoutOutcome.length} of them without an outcome: accepted, then lost with the damage)`,
        ...(settled ? [] : ['did not settle in time']),
      ].join('; ');
      // Accepted requests are reconciled except those the damaged ranges held without an outcome
      // left elsewhere, which are named above.
      return reconcile(
        name,
        accepted.filter((key) => !lostWithoutOutcome.includes(key)),
        collected,
        note,
        undefined,
        ranges.length > 0,
        problems,
      );
    } finally {
      await runtime.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
