// Fault scenario "tornTail": what a kill mid-write leaves. After the SIGKILL of sigkill+restart, the
// last record of the SQS log and the last line of each Firehose stream's last write-ahead-log segment
// end cut short mid-record: a copy of the file's last record, cut in half, as an append that the kill
// interrupted (that write was never acknowledged, so nothing accepted may go with it). Cutting an
// acknowledged record itself would lose it; the runtime cannot tell that from a torn write (README,
// State on disk), so the scenario does not pretend it could. The restart must cut each torn tail off
// with a warning naming the file and the byte offset, keep the bytes in `<file>.torn-at-<offset>`,
// and the reconciliation must find every accepted request.
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanLog } from '../../local/sqs/log-scan';

/** A torn write added to a state file: the file and the offset where it starts. */
export interface Tear {
  readonly file: string;
  readonly offset: number;
  readonly bytes: Buffer;
  /** How the restart's warning starts, after the file name. */
  readonly warning: string;
}

const SEGMENT = /^\d+\.wal$/;
const SEAL = /^[0-9a-f]{8} !seal \d+\n$/;

/** Tears the SQS log and each Firehose stream's last segment; returns the tears made. */
export function tearTails(stateDir: string): Tear[] {
  const tears: Tear[] = [];
  const log = join(stateDir, 'sqs', 'queues.log');
  const buf = readFileSync(log);
  let last: { start: number; end: number } | undefined;
  const records = scanLog(buf);
  for (let next = records.next(); !next.done; next = records.next()) last = next.value;
  if (!last) throw new Error(`${log} holds no record to tear`);
  tears.push(tear(log, buf.length, buf.subarray(last.start, last.end), 'ended in an incomplete record'));

  const firehose = join(stateDir, 'firehose');
  for (const stream of existsSync(firehose) ? readdirSync(firehose) : []) {
    const dir = join(firehose, stream);
    const segments = readdirSync(dir)
      .filter((n) => SEGMENT.test(n))
      .sort();
    const name = segments.at(-1);
    if (!name) continue;
    const file = join(dir, name);
    const lines = readFileSync(file)
      .toString('utf8')
      .split(/(?<=\n)/);
    const line = [...lines].reverse().find((l) => l.endsWith('\n') && !SEAL.test(l));
    if (!line) continue;
    // A torn append goes after the last line of an unsealed segment, or opens the next segment
    // (a kill during the first append to it) when the last one was sealed.
    const sealed = SEAL.test(lines.at(-1) ?? '');
    const target = sealed
      ? join(dir, `${String(Number.parseInt(name, 10) + 1).padStart(name.length - 4, '0')}.wal`)
      : file;
    if (sealed) writeFileSync(target, '');
    tears.push(
      tear(target, sealed ? 0 : readFileSync(file).length, Buffer.from(line), 'ended in an unfinished line'),
    );
  }
  return tears;
}

function tear(file: string, offset: number, record: Buffer, warning: string): Tear {
  const bytes = record.subarray(0, Math.max(1, Math.floor(record.length / 2)));
  appendFileSync(file, bytes);
  return { file, offset, bytes, warning };
}

/** What the restart got wrong about the tears: each must be warned about and kept aside. */
export function checkTears(tears: readonly Tear[], restartLog: string): string[] {
  const problems: string[] = [];
  for (const t of tears) {
    if (!restartLog.includes(`${t.file} ${t.warning} at byte ${t.offset}`))
      problems.push(`no warning naming ${t.file} at byte ${t.offset}`);
    const kept = `${t.file}.torn-at-${t.offset}`;
    if (!existsSync(kept) || !readFileSync(kept).equals(t.bytes))
      problems.push(`${kept} does not hold the torn bytes`);
  }
  return problems;
}
