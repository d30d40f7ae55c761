import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Deferred, deferred } from '../deferred.js';
import { readFully } from '../fs-sync.js';
import {
  type DurableWrites,
  diskWrites,
  type StorageHealth,
  StorageUnavailableError,
  writeErrorText,
} from '../storage-health.js';
import { decodeRecordLine, encodeLine, encodeSeal, type WalRecord } from './wal-format.js';
import { readSegment } from './wal-read.js';

export { encodeLine, parseLine, type WalRecord } from './wal-format.js';

/**
 * Write-ahead log of one local Firehose stream: what makes an accepted record survive a killed
 * runtime, as records in real Firehose do once PutRecord returns.
 *
 * - Every accepted record is appended as one checksummed line to the active segment
 *   (`<dir>/<number>.wal`), as wal-format.ts describes.
 * - Appends of one event-loop turn go out in one `write()` (group commit); `commit()` resolves once
 *   they are in the OS. That survives SIGKILL; it is not fsynced, so
 *   a power loss can lose the last seconds (the local SQS log makes the same trade by default).
 * - A flush seals the active segment (`rotate`: a last line counting its records); the next append
 *   opens a new one. A segment is deleted once every record in it has been released, i.e. written
 *   to S3.
 * - On start every leftover segment is replayed into the buffer and flushed as usual. A crash between
 *   an S3 write and the release of its records delivers them again: an extra object with the same
 *   rows (at-least-once, like Firehose itself; readers de-duplicate by source event id).
 * - A torn last line of the last segment (a kill mid-append; its PutRecord never returned) is cut
 *   off with a warning, and that segment sealed; any other damage stops the start (see wal-read.ts).
 * - A failed write (ENOSPC, EIO) is cut back off the segment, so the file ends at its last whole
 *   line, and its PutRecords fail having buffered nothing. For `WAL_RETRY_MS` appends then fail at
 *   once; then writes are tried again, so the log recovers by itself once the disk has room. A seal
 *   that fails is cut back too; the segment stays active and the next flush seals it.
 */
export class FirehoseWal {
  private active: WalSegment | undefined;
  private readonly segments = new Set<WalSegment>();
  private pending: Buffer[] = [];
  private batch: Deferred<void> | undefined;
  private scheduled = false;
  private failure: Error | undefined;
  /** Set by a failed write until a write succeeds: appends fail with it until `retryAt`. */
  private unavailable: Error | undefined;
  private retryAt = 0;

  private constructor(
    readonly dir: string,
    private nextNumber: number,
    private readonly io: WalIo,
  ) {}

  /** Opens the log in `dir` (created if missing) and reads back the records of leftover segments. */
  static open(
    dir: string,
    warn: (message: string) => void,
    io: Partial<WalIo> = {},
  ): { wal: FirehoseWal; replayed: ReplayedRecord[] } {
    mkdirSync(dir, { recursive: true });
    const names = readdirSync(dir)
      .filter((name) => SEGMENT_NAME.test(name))
      .sort();
    const last = names.at(-1);
    const wal = new FirehoseWal(dir, last ? Number.parseInt(last, 10) + 1 : 1, {
      writes: io.writes ?? diskWrites,
      health: io.health,
      now: io.now ?? Date.now,
    });
    const replayed: ReplayedRecord[] = [];
    for (const name of names) {
      const segment = new WalSegment(join(dir, name));
      const contents = readSegment(segment.file, name === last, warn);
      if (contents.records.length === 0) {
        rmSync(segment.file, { force: true });
        continue;
      }
      segment.sealed = true;
      segment.size = contents.size;
      segment.records = contents.records.length;
      // The last segment of a killed runtime: sealed now, so that only the last is ever unsealed.
      if (!contents.sealed && contents.checked && !wal.seal(segment)) throw wal.unavailable;
      segment.live = contents.records.length;
      wal.segments.add(segment);
      for (const r of contents.records) {
        replayed.push({
          arrival: r.arrival,
          data: r.data,
          location: { segment, offset: r.offset, length: r.length },
        });
      }
    }
    return { wal, replayed };
  }

  /** Buffers a record for this turn's write; durable once `commit()` resolves. */
  append(arrival: Date, data: string): WalLocation {
    if (this.failure) throw this.failure;
    if (this.unavailable !== undefined && this.io.now() < this.retryAt) throw this.unavailable;
    const segment = this.active ?? this.openSegment();
    const line = encodeLine(arrival, data);
    const location = { segment, offset: segment.size, length: line.length };
    segment.size += line.length;
    segment.records++;
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
    // Unsealed, the segment stays active (only the last segment may lack its seal).
    if (this.failure || !this.seal(segment)) return;
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
    return decodeRecordLine(buf, 0, length);
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

  /**
   * Appends the seal of a segment: the active one at rotation, or one a killed runtime left.
   * False when the write failed (and was cut back off the file).
   */
  private seal(segment: WalSegment): boolean {
    const seal = encodeSeal(segment.records);
    const fd = segment.fd ?? openSync(segment.file, 'a');
    try {
      return this.writeAt(segment, fd, seal, 'sealing');
    } finally {
      if (segment.fd === undefined) closeSync(fd);
    }
  }

  /**
   * Appends `buf` at `segment.size` (its size before `buf`); true once written. A failed write is
   * cut back off the file, reported, and makes appends fail for `WAL_RETRY_MS`.
   */
  private writeAt(segment: WalSegment, fd: number, buf: Buffer, what: string): boolean {
    try {
      this.io.writes.write(fd, buf);
    } catch (error) {
      this.writeFailed(segment, fd, error, what);
      return false;
    }
    segment.size += buf.length;
    if (this.unavailable !== undefined) {
      this.unavailable = undefined;
      this.io.health?.succeeded(this.writerName);
    }
    return true;
  }

  private get writerName(): string {
    return `the Firehose write-ahead log ${this.dir}`;
  }

  private writeFailed(segment: WalSegment, fd: number, error: unknown, what: string): void {
    this.io.health?.failed(this.writerName, error);
    this.retryAt = this.io.now() + WAL_RETRY_MS;
    this.unavailable = new StorageUnavailableError(
      `${what === 'sealing' ? 'Sealing' : 'Writing'} the Firehose write-ahead log ${segment.file} failed (${writeErrorText(error)}); the record was not accepted. Free disk space (or fix the device): the local Firehose retries its writes by itself.`,
      { cause: error },
    );
    try {
      ftruncateSync(fd, segment.size);
    } catch (cut) {
      // The file may end in part of a line: nothing more may be appended after it.
      this.failure = new StorageUnavailableError(
        `Writing the Firehose write-ahead log ${segment.file} failed (${writeErrorText(error)}) and cutting the partial write off failed too (${writeErrorText(cut)}). The local Firehose stops accepting records: free disk space or fix the device, then restart (the log is replayed).`,
        { cause: error },
      );
      this.io.health?.failed(this.writerName, error);
    }
  }

  private openSegment(): WalSegment {
    const segment = new WalSegment(join(this.dir, `${String(this.nextNumber).padStart(10, '0')}.wal`));
    // Read-write: records beyond the memory budget are read back from here at their flush.
    try {
      segment.fd = openSync(segment.file, 'a+');
    } catch (error) {
      this.io.health?.failed(this.writerName, error);
      this.retryAt = this.io.now() + WAL_RETRY_MS;
      this.unavailable = new StorageUnavailableError(
        `Creating the Firehose write-ahead log segment ${segment.file} failed (${writeErrorText(error)}); the record was not accepted. Free disk space (or fix the device): the local Firehose retries by itself.`,
        { cause: error },
      );
      throw this.unavailable;
    }
    this.nextNumber++;
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
    const buf = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
    // `append` counted the pending lines in already; the write starts where they start.
    segment.size -= buf.length;
    if (this.failure) {
      segment.records -= pending.length;
      segment.live -= pending.length;
      batch?.reject(this.failure);
      return;
    }
    if (this.writeAt(segment, segment.fd as number, buf, 'writing')) {
      batch?.resolve();
      return;
    }
    // Their PutRecords fail: the lines are not in the file and not in the seal's count.
    segment.records -= pending.length;
    segment.live -= pending.length;
    batch?.reject(this.failure ?? (this.unavailable as Error));
  }

  private deleteIfDone(segment: WalSegment): void {
    if (!segment.sealed || segment.live > 0 || !this.segments.has(segment)) return;
    this.segments.delete(segment);
    if (segment.fd !== undefined) closeSync(segment.fd);
    segment.fd = undefined;
    rmSync(segment.file, { force: true });
  }
}

/** After a failed write, appends fail at once for this long before a write is tried again. */
export const WAL_RETRY_MS = 250;

export interface WalIo {
  readonly writes: DurableWrites;
  /** Told of failed writes and of the first success after them (for `/health`). */
  readonly health: StorageHealth | undefined;
  readonly now: () => number;
}

/** One file of the log. */
export class WalSegment {
  fd: number | undefined;
  /** Bytes appended (written or pending). */
  size = 0;
  /** Records appended (its seal counts them). */
  records = 0;
  /** Records in it not yet released (delivered). */
  live = 0;
  /** Takes no more appends. */
  sealed = false;
  constructor(readonly file: string) {}
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
