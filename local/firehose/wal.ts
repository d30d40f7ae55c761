import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Deferred, deferred } from '../deferred.js';
import { readFully, writeFully } from '../fs-sync.js';
import { isWellFormed } from '../unicode.js';

/**
 * Write-ahead log of one local Firehose stream: what makes an accepted record survive a killed
 * runtime, as records in real Firehose do once PutRecord returns.
 *
 * - Every accepted record is appended as one line to the active segment (`<dir>/<number>.wal`):
 *   `<arrival ms>\t<data>` when the data has no newline or lone surrogate (the usual case: JSON
 *   records), else the JSON line `{"t":<arrival ms>,"d":<data>}`. Segments written before the first
 *   form existed hold only the second and are read the same way.
 * - Appends of one event-loop turn go out in one `write()` (group commit); `commit()` resolves once
 *   they are in the OS. That survives SIGKILL; it is not fsynced, so
 *   a power loss can lose the last seconds (the local SQS log makes the same trade by default).
 * - A flush seals the active segment (`rotate`); the next append opens a new one. A segment is
 *   deleted once every record in it has been released, i.e. written to S3.
 * - On start every leftover segment is replayed into the buffer and flushed as usual. A crash between
 *   an S3 write and the release of its records delivers them again: an extra object with the same
 *   rows (at-least-once, like Firehose itself; readers de-duplicate by source event id).
 * - A torn last line (a kill mid-append; its PutRecord never returned) is skipped with a warning.
 */
export class FirehoseWal {
  private active: WalSegment | undefined;
  private readonly segments = new Set<WalSegment>();
  private pending: Buffer[] = [];
  private batch: Deferred<void> | undefined;
  private scheduled = false;
  private failure: Error | undefined;

  private constructor(
    readonly dir: string,
    private nextNumber: number,
  ) {}

  /** Opens the log in `dir` (created if missing) and reads back the records of leftover segments. */
  static open(
    dir: string,
    warn: (message: string) => void,
  ): { wal: FirehoseWal; replayed: ReplayedRecord[] } {
    mkdirSync(dir, { recursive: true });
    const names = readdirSync(dir)
      .filter((name) => SEGMENT_NAME.test(name))
      .sort();
    const last = names.at(-1);
    const wal = new FirehoseWal(dir, last ? Number.parseInt(last, 10) + 1 : 1);
    const replayed: ReplayedRecord[] = [];
    for (const name of names) {
      const segment = new WalSegment(join(dir, name));
      segment.sealed = true;
      const records = readSegment(segment, warn);
      if (records.length === 0) {
        rmSync(segment.file, { force: true });
        continue;
      }
      segment.live = records.length;
      wal.segments.add(segment);
      replayed.push(...records);
    }
    return { wal, replayed };
  }

  /** Buffers a record for this turn's write; durable once `commit()` resolves. */
  append(arrival: Date, data: string): WalLocation {
    if (this.failure) throw this.failure;
    const segment = this.active ?? this.openSegment();
    const line = encodeLine(arrival, data);
    const location = { segment, offset: segment.size, length: line.length };
    segment.size += line.length;
    segment.live++;
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.writePending());
    }
    return location;
  }

  /** Resolves when every record appended so far is written. */
  commit(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.length === 0) return Promise.resolve();
    this.batch ??= deferred<void>();
    return this.batch.promise;
  }

  /** Seals the active segment (a flush starts): later appends go to a new segment. */
  rotate(): void {
    this.writePending();
    const segment = this.active;
    if (!segment) return;
    this.active = undefined;
    segment.sealed = true;
    this.deleteIfDone(segment);
  }

  /** A record not kept in memory, read back from its segment. */
  read(location: WalLocation): WalRecord {
    const { segment, offset, length } = location;
    segment.fd ??= openSync(segment.file, 'a+');
    const buf = readFully(
      segment.fd,
      length,
      offset,
      () =>
        new Error(
          `Firehose write-ahead log ${segment.file} ends before byte ${offset + length}: was it truncated or deleted while the runtime ran?`,
        ),
    );
    return parseLine(buf.toString('utf8', 0, length - 1));
  }

  /** `count` records of `segment` are delivered; a sealed segment with none left is deleted. */
  release(segment: WalSegment, count: number): void {
    segment.live -= count;
    this.deleteIfDone(segment);
  }

  /** Segment files on disk (each holds records not yet delivered). */
  segmentCount(): number {
    return this.segments.size;
  }

  /** Writes what is pending and closes the files; segments with undelivered records stay for the next start. */
  close(): void {
    this.rotate();
    for (const segment of this.segments) {
      if (segment.fd !== undefined) closeSync(segment.fd);
      segment.fd = undefined;
    }
  }

  private openSegment(): WalSegment {
    const segment = new WalSegment(join(this.dir, `${String(this.nextNumber++).padStart(10, '0')}.wal`));
    // Read-write: records beyond the memory budget are read back from here at their flush.
    segment.fd = openSync(segment.file, 'a+');
    this.segments.add(segment);
    this.active = segment;
    return segment;
  }

  private writePending(): void {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = undefined;
    const pending = this.pending;
    if (pending.length === 0) {
      batch?.resolve();
      return;
    }
    this.pending = [];
    // Pending records always belong to the active segment: rotate() writes them before sealing it.
    const segment = this.active as WalSegment;
    try {
      const buf = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
      writeFully(segment.fd as number, buf);
      batch?.resolve();
    } catch (error) {
      segment.live -= pending.length;
      this.failure = new Error(
        `Writing the Firehose write-ahead log ${segment.file} failed (${(error as Error).message}). The local Firehose stops accepting records so that none is acknowledged and lost: free disk space or fix permissions, then restart (the log is replayed).`,
        { cause: error },
      );
      batch?.reject(this.failure);
    }
  }

  private deleteIfDone(segment: WalSegment): void {
    if (!segment.sealed || segment.live > 0 || !this.segments.has(segment)) return;
    this.segments.delete(segment);
    if (segment.fd !== undefined) closeSync(segment.fd);
    segment.fd = undefined;
    rmSync(segment.file, { force: true });
  }
}

/** One file of the log. */
export class WalSegment {
  fd: number | undefined;
  /** Bytes appended (written or pending). */
  size = 0;
  /** Records in it not yet released (delivered). */
  live = 0;
  /** Takes no more appends. */
  sealed = false;
  constructor(readonly file: string) {}
}

export interface WalRecord {
  readonly arrival: Date;
  readonly data: string;
}

/** Where a record lies in the log. */
export interface WalLocation {
  readonly segment: WalSegment;
  readonly offset: number;
  /** Bytes of the line, newline included. */
  readonly length: number;
}

export interface ReplayedRecord extends WalRecord {
  readonly location: WalLocation;
}

const SEGMENT_NAME = /^\d+\.wal$/;
const NEWLINE = 0x0a;

function readSegment(segment: WalSegment, warn: (message: string) => void): ReplayedRecord[] {
  const buf = readFileSync(segment.file);
  const records: ReplayedRecord[] = [];
  let start = 0;
  let lineNumber = 0;
  while (start < buf.length) {
    lineNumber++;
    const end = buf.indexOf(NEWLINE, start);
    if (end < 0) {
      warn(
        `firehose: skipped a torn last line in ${segment.file} (${buf.length - start} bytes without a newline): the runtime stopped mid-append, before that record was acknowledged`,
      );
      break;
    }
    try {
      const record = parseLine(buf.toString('utf8', start, end));
      records.push({ ...record, location: { segment, offset: start, length: end + 1 - start } });
    } catch (error) {
      warn(
        `firehose: skipped unreadable line ${lineNumber} of ${segment.file} (${(error as Error).message}); the file was changed outside the runtime`,
      );
    }
    start = end + 1;
  }
  segment.size = buf.length;
  return records;
}

/**
 * A record as a log line. The data goes in as it is, not as a JSON string: escaping (and parsing
 * back) a record that is JSON text itself cost more than the rest of accepting it.
 */
export function encodeLine(arrival: Date, data: string): Buffer {
  // Raw UTF-8 cannot carry a lone surrogate; JSON's \u escape can.
  const line =
    data.includes('\n') || !isWellFormed(data)
      ? JSON.stringify({ t: arrival.getTime(), d: data })
      : `${arrival.getTime()}\t${data}`;
  return Buffer.from(`${line}\n`, 'utf8');
}

const RAW_LINE = /^(\d{1,16})\t/;

/** A line without its newline, in either form `encodeLine` writes. */
export function parseLine(line: string): WalRecord {
  if (!line.startsWith('{')) {
    const prefix = RAW_LINE.exec(line);
    if (prefix === null) throw new Error('not a <ms>\\t<data> or {"t":<ms>,"d":<data>} record');
    return { arrival: new Date(Number(prefix[1])), data: line.slice(prefix[0].length) };
  }
  const value = JSON.parse(line) as { t?: unknown; d?: unknown };
  if (typeof value.t !== 'number' || typeof value.d !== 'string')
    throw new Error('not a {"t":<ms>,"d":<data>} record');
  return { arrival: new Date(value.t), data: value.d };
}
