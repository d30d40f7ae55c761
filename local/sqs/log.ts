import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { type Deferred, deferred } from '../deferred.js';
import { writeFully } from '../fs-sync.js';
import { type DurableWrites, diskWrites, type StorageHealth, writeErrorText } from '../storage-health.js';
import { Compaction, type PlacedCallback, type SnapshotEntry } from './compaction.js';
import { SqsLogMissingError, SqsStateError, SqsStorageError } from './errors.js';
import { isFramed, LogDamage, scanLog, type TornTail } from './log-scan.js';
import type { BodyLocation, StoredBody } from './queue.js';
import { sendRecordBody } from './record-decode.js';
import { readRecords } from './record-reader.js';
import {
  encodeRecord,
  type HeaderRecord,
  LOG_VERSION,
  type LogRecord,
  RecordBuffer,
  type SendRecord,
} from './records.js';

export interface StateLogOptions {
  /** fdatasync after every group commit: survives power loss, not only a killed process. Default false. */
  fsync?: boolean;
  /** Rewrite the log as a snapshot once it exceeds this size and has enough dead records (see `maybeCompact`). Default 16 MiB. */
  compactMinBytes?: number;
  /** Longest a compaction holds the event loop in one turn, in ms (tests use 0: one record a turn). Default 5. */
  compactSliceMs?: number;
  warn?: (message: string) => void;
  /**
   * Why a log must already exist, when it must (other state in the state folder that is only ever
   * created after the log): a missing log is then an error, not an empty start.
   */
  existingState?: () => string | undefined;
  /** The durable writes (tests inject failing ones). Default: the disk. */
  writes?: DurableWrites;
  /** Told of failed writes and of the first success after them (for `/health`). */
  health?: StorageHealth;
  /** Wall clock in epoch ms, for the retry delay after a failed write (tests inject one). */
  now?: () => number;
}

export interface StateLogHooks {
  /** Applies one replayed record; throws SqsStateError (or any error) for an impossible record. */
  apply(record: LogRecord): void;
  /**
   * A write failed and the file was cut back to its last written record: drop the whole in-memory
   * state (answering what waits on it with `error`); the log then replays the file into it again.
   */
  reset(error: Error): void;
  /** Approximate bytes a snapshot of the current state takes. */
  liveBytes(): number;
  /** The current state as records (messages in enqueue order, then tasks), taken at once. */
  snapshot(): Iterable<SnapshotEntry>;
  /** After a compaction: where the send record of message `id` now lies in the new log file. */
  placed?(id: string, location: BodyLocation): void;
}

export type { PlacedCallback } from './compaction.js';

/** Compaction triggers: see `maybeCompact`. */
const DEAD_TO_LIVE_RATIO = 3;
const MAX_DEAD_BYTES = 512 << 20;

/** After a failed write, requests fail at once for this long before a write is tried again. */
export const WRITE_RETRY_MS = 250;
/** After a compaction failed, the next one starts no sooner than this. */
const COMPACTION_RETRY_MS = 60_000;

const HEADER: HeaderRecord = { t: 'h', format: 'inferbus-sqs-log', v: LOG_VERSION };

interface Watcher {
  /** Offset of the record from the start of the pending batch. */
  readonly offset: number;
  readonly length: number;
  readonly placed: PlacedCallback;
}

/**
 * Append-only log with group commit: `append` buffers a record; one `writeSync` per event-loop turn
 * writes the whole batch, and `commit()` resolves once the batch is in the OS (and on disk with
 * `fsync`). Callers are answered only after that, so a SIGKILL loses nothing that was acknowledged.
 * A failed write (ENOSPC, EIO, a failed fsync) is rolled back: the file is cut back to its last
 * written record and the state replayed from it, so the requests of that batch fail having changed
 * nothing; for `WRITE_RETRY_MS` requests then fail at once (`checkWritable`), then writes are tried
 * again: the log recovers by itself once the disk has room.
 * Every record carries a checksum (`encodeRecord`). At start, a torn last record from a kill
 * mid-write is cut off (its bytes kept beside the log, see `cutTornTail`); any other damage stops the
 * start and leaves the file as it is (the rule: `scanLog`). A log in the older versions 1 and 2 (no
 * checksums) is read, then rewritten at once as version 3.
 */
export class StateLog {
  readonly file: string;
  private fd: number;
  private bytes: number;
  /** Encoded records of the next group commit. */
  private readonly pending = new RecordBuffer();
  private watchers: Watcher[] = [];
  private batch: Deferred<void> | undefined;
  private scheduled = false;
  private failure: Error | undefined;
  /** Set by a failed write until a write succeeds: requests fail with it until `retryAt`. */
  private unavailable: Error | undefined;
  private retryAt = 0;
  /** The cut back after a failed write failed too: the file may end in part of a batch. */
  private rollbackPending = false;
  /** No compaction starts before this time (one failed for want of space). */
  private compactAfter = 0;
  private readonly writes: DurableWrites;
  private readonly health: StorageHealth | undefined;
  private readonly now: () => number;
  /** The compaction in progress, if any. */
  private compaction: Compaction | undefined;
  private readonly fsync: boolean;
  private readonly compactMinBytes: number;
  private readonly compactSliceMs: number;
  private readonly warn: (message: string) => void;
  /** Whether the records of the current file carry checksums (version 3). */
  private framed = true;

  constructor(
    dir: string,
    private readonly hooks: StateLogHooks,
    options: StateLogOptions = {},
  ) {
    this.fsync = options.fsync ?? false;
    this.compactMinBytes = options.compactMinBytes ?? 16 << 20;
    this.compactSliceMs = options.compactSliceMs ?? 5;
    this.warn = options.warn ?? ((m) => console.warn(m));
    this.writes = options.writes ?? diskWrites;
    this.health = options.health;
    this.now = options.now ?? Date.now;
    this.file = join(dir, 'queues.log');
    if (!existsSync(this.file)) createLog(dir, this.file, options.existingState?.());
    // A leftover temp file means a compaction died before its rename: the old log is still whole.
    rmSync(`${this.file}.tmp`, { force: true });
    const version = this.replay();
    // Read-write: message bodies dropped from memory are read back from their records.
    this.fd = openSync(this.file, 'a+');
    this.bytes = statSync(this.file).size;
    // An older format is rewritten at once, so appends never mix two formats in one file.
    if (version !== LOG_VERSION) this.compactNow();
    else this.maybeCompact();
  }

  /** Buffers a record for the next group commit; `placed` learns where it was written. */
  append(record: LogRecord, placed?: PlacedCallback): void {
    if (this.failure) throw this.failure;
    this.buffered(this.pending.push(record), placed);
  }

  /**
   * Buffers a send record whose body (of `bodyBytes` UTF-8 bytes) is given apart. Returns the body
   * as encoded: a view into the pending batch, valid only until the batch is written (hash it at once).
   */
  appendSend(head: Omit<SendRecord, 'b'>, body: string, bodyBytes: number, placed?: PlacedCallback): Buffer {
    if (this.failure) throw this.failure;
    const start = this.pending.pushSend(head, body, bodyBytes);
    this.buffered(start, placed);
    return this.pending.bytes(this.pending.length - bodyBytes - 1, this.pending.length - 1);
  }

  /**
   * Throws the storage error while the last write failed and its retry delay runs: call it before a
   * request changes anything, so a full disk fails requests at once instead of each one being
   * applied, written, failed and rolled back.
   */
  checkWritable(): void {
    if (this.failure) throw this.failure;
    if (this.unavailable === undefined) return;
    if (this.now() < this.retryAt) throw this.unavailable;
    if (this.rollbackPending) this.rollBack(this.unavailable);
    if (this.rollbackPending) throw this.unavailable;
  }

  /** Whether a request may change the state now (see `checkWritable`). */
  get writable(): boolean {
    return this.failure === undefined && (this.unavailable === undefined || this.now() >= this.retryAt);
  }

  /** Resolves when every record appended so far is written. */
  commit(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.length === 0) return Promise.resolve();
    this.batch ??= deferred<void>();
    return this.batch.promise;
  }

  /** Writes pending records now (used by close and tests). */
  flushSync(): void {
    if (this.pending.length === 0) return;
    const watchers = this.watchers;
    this.watchers = [];
    const start = this.bytes;
    const bytes = this.pending.bytes();
    try {
      this.writeNow(bytes);
      // The compaction keeps the batch; the pending buffer is reused.
      this.compaction?.follow({ bytes: Buffer.from(bytes), watchers });
    } finally {
      this.pending.clear();
    }
    for (const w of watchers) w.placed({ offset: start + w.offset, length: w.length });
  }

  /** The bodies of messages not held in memory (UTF-8 views), read back from their send records. */
  readBodies(messages: readonly StoredBody[]): Buffer[] {
    const locations = messages.map((m) => {
      if (m.loc === undefined) throw new Error(`the local SQS state log has no body for message ${m.id}`);
      return m.loc;
    });
    const records = readRecords(
      this.fd,
      locations,
      (offset) => new SqsStorageError(`${this.file} ends before the record at byte ${offset}`),
    );
    return records.map((bytes, i) => {
      const m = messages[i] as StoredBody;
      const body = sendRecordBody(bytes, m.id, this.framed);
      if (body === undefined) {
        throw new SqsStorageError(
          `${this.file} holds no whole record of message ${m.id} at byte ${m.loc?.offset} (or its checksum does not match): it was changed while the runtime ran. Stop the runtime and restart it: the start checks the whole file.`,
        );
      }
      return body;
    });
  }

  close(): void {
    this.flushBatch();
    // The old log is whole: a compaction still running is simply dropped.
    this.compaction?.abandon();
    this.compaction = undefined;
    closeSync(this.fd);
  }

  private flushBatch(): void {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = undefined;
    if (this.failure) {
      batch?.reject(this.failure);
      return;
    }
    const writing = this.pending.length > 0;
    try {
      this.flushSync();
    } catch (e) {
      batch?.reject(this.writeFailed(e));
      return;
    }
    if (writing && this.unavailable !== undefined) {
      this.unavailable = undefined;
      this.health?.succeeded(this.writerName);
    }
    try {
      this.maybeCompact();
    } catch (e) {
      this.abandonCompaction(e);
    }
    batch?.resolve();
  }

  private get writerName(): string {
    return `the local SQS log ${this.file}`;
  }

  /** A group commit failed: roll it back, report it, and fail its requests. */
  private writeFailed(e: unknown): Error {
    const reason = writeErrorText(e);
    const error = new SqsStorageError(
      `Writing the local SQS state to ${this.file} failed (${reason}); nothing of this request was applied. Free disk space (or fix the device): the local SQS retries its writes by itself. Retry the request.`,
      { cause: e },
    );
    this.unavailable = error;
    this.retryAt = this.now() + WRITE_RETRY_MS;
    this.health?.failed(this.writerName, e);
    if (this.compaction !== undefined) this.abandonCompaction(e);
    this.rollBack(error);
    return error;
  }

  /**
   * Cuts the file back to its last written record (the failed batch may be partly written) and
   * rebuilds the state from the file. If the cut fails too, requests keep failing and it is
   * tried again at the next `checkWritable` after the retry delay.
   */
  private rollBack(error: Error): void {
    try {
      ftruncateSync(this.fd, this.bytes);
    } catch {
      this.rollbackPending = true;
      this.retryAt = this.now() + WRITE_RETRY_MS;
      return;
    }
    this.rollbackPending = false;
    this.hooks.reset(error);
    this.replay();
  }

  /** Drops a running compaction (the old log is still whole) and waits before starting another. */
  private abandonCompaction(e: unknown): void {
    const compaction = this.compaction;
    this.compaction = undefined;
    this.compactAfter = this.now() + COMPACTION_RETRY_MS;
    try {
      compaction?.abandon();
    } catch {
      // Best effort: a leftover temp file is removed at the next start.
    }
    this.warn(
      `Local SQS: compacting ${this.file} failed (${writeErrorText(e)}); the log stays as it is and compaction is tried again in a minute.`,
    );
  }

  /** Stops the log after a failed write; returns the error every later call gets. */
  private fail(e: unknown): Error {
    const reason = e instanceof Error ? e.message : String(e);
    this.health?.failed(this.writerName, e);
    this.failure ??= new SqsStorageError(
      `Writing the local SQS state to ${this.file} failed (${reason}). The local SQS stops accepting work so that no acknowledged message is lost: free disk space or fix permissions, then restart.`,
    );
    try {
      this.compaction?.abandon();
    } catch {
      // Best effort: a leftover temp file is removed at the next start.
    }
    this.compaction = undefined;
    return this.failure;
  }

  private writeNow(buf: Buffer): void {
    this.writes.write(this.fd, buf);
    if (this.fsync) this.writes.sync(this.fd);
    this.bytes += buf.length;
  }

  private buffered(start: number, placed: PlacedCallback | undefined): void {
    if (placed) this.watchers.push({ offset: start, length: this.pending.length - start, placed });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushBatch());
    }
  }

  /**
   * Compacts once dead records outweigh the live state 3 to 1, or reach both 512 MiB and the live
   * state's size. Each compaction rewrites every live body: under a backlog, the former trigger
   * (dead = live) rewrote a byte for each byte appended, 3 to 1 rewrites a third of that. The price
   * is disk and replay time at start, which reads the whole log: it grows to 4x the live state, but
   * at most to the larger of live + 512 MiB and the former 2x, so the largest backlog that replays
   * in one read of the file (Node caps it at 2 GiB) is the same as before.
   */
  private maybeCompact(): void {
    if (this.compaction !== undefined || this.bytes < this.compactMinBytes) return;
    if (this.unavailable !== undefined || this.now() < this.compactAfter) return;
    const live = this.hooks.liveBytes();
    const dead = this.bytes - live;
    if (dead < DEAD_TO_LIVE_RATIO * live && dead < Math.max(live, MAX_DEAD_BYTES)) return;
    this.compaction = this.startCompaction();
    setImmediate(() => this.continueCompaction());
  }

  /** Takes the snapshot; only between group commits, when the state and the log agree. */
  private startCompaction(): Compaction {
    return new Compaction(
      `${this.file}.tmp`,
      encodeRecord(HEADER),
      [...this.hooks.snapshot()],
      (bodies) => this.readBodies(bodies),
      this.writes,
    );
  }

  /** One slice of the running compaction per turn; the last one swaps the new file in. */
  private continueCompaction(): void {
    const compaction = this.compaction;
    if (compaction === undefined || this.failure) return;
    let done: boolean;
    try {
      done = compaction.step(this.compactSliceMs);
    } catch (e) {
      this.abandonCompaction(e);
      return;
    }
    if (!done) {
      setImmediate(() => this.continueCompaction());
      return;
    }
    try {
      this.swapIn(compaction);
    } catch (e) {
      this.fail(e);
    }
  }

  /** A whole compaction at once (at start, to rewrite an older format). */
  private compactNow(): void {
    const compaction = this.startCompaction();
    this.compaction = compaction;
    while (!compaction.step(Number.POSITIVE_INFINITY));
    // An older format must be rewritten before anything is appended: a failure stops the start.
    this.swapIn(compaction, true);
  }

  private swapIn(compaction: Compaction, atStart = false): void {
    let result: ReturnType<Compaction['finish']>;
    try {
      result = compaction.finish();
    } catch (e) {
      if (atStart) throw e;
      // The new file is incomplete; the old log is still whole and stays the log.
      this.abandonCompaction(e);
      return;
    }
    const { size, placements, followed } = result;
    this.compaction = undefined;
    renameSync(compaction.tmp, this.file);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a+');
    this.framed = true;
    this.bytes = size;
    if (this.hooks.placed) for (const [id, location] of placements) this.hooks.placed(id, location);
    for (const [placed, location] of followed) placed(location);
    try {
      const dirFd = openSync(join(this.file, '..'), 'r');
      fsyncSync(dirFd);
      closeSync(dirFd);
    } catch {
      // Directory fsync is not supported everywhere; the rename is still atomic.
    }
  }

  /** Replays the log; returns the version it was written in. */
  private replay(): number {
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch (e) {
      throw new SqsStateError(this.file, 0, `cannot be read (${e instanceof Error ? e.message : String(e)})`);
    }
    if (buf.length === 0) {
      throw new SqsStateError(this.file, 0, 'the file is empty, yet a log is created with its header record');
    }
    this.framed = isFramed(buf);
    let version: number | undefined;
    const records = scanLog(buf);
    try {
      for (let next = records.next(); ; next = records.next()) {
        if (next.done) {
          if (next.value !== undefined) this.cutTornTail(buf, next.value);
          break;
        }
        const { record, start } = next.value;
        if (start === 0) version = headerVersion(record, this.file);
        else {
          try {
            this.hooks.apply(record);
          } catch (e) {
            throw new LogDamage(start, e instanceof Error ? e.message : String(e));
          }
        }
      }
    } catch (e) {
      if (e instanceof LogDamage) throw new SqsStateError(this.file, e.offset, e.reason);
      throw e;
    }
    if (version === undefined) {
      throw new SqsStateError(
        this.file,
        0,
        'the header record is unfinished, so this is not a log the runtime wrote',
      );
    }
    return version;
  }

  /**
   * Cuts off an incomplete last record (an interrupted write: it was never acknowledged), after
   * keeping its bytes in `<log>.torn-at-<offset>` for whoever wants to look.
   */
  private cutTornTail(buf: Buffer, torn: TornTail): void {
    const kept = `${this.file}.torn-at-${torn.offset}`;
    writeFileSync(kept, buf.subarray(torn.offset));
    truncateSync(this.file, torn.offset);
    this.warn(
      `Local SQS: ${this.file} ended in an incomplete record at byte ${torn.offset} (${torn.what}), what a write interrupted by a kill or crash leaves; it was never acknowledged. Cut it off; its ${torn.bytes} bytes are kept in ${kept}. If the file was cut short by something else, records after it are lost: restore it from a backup.`,
    );
  }
}

const SUPPORTED_VERSIONS: readonly unknown[] = [1, 2, LOG_VERSION];

/** The version the header record names; throws SqsStateError for anything else. */
function headerVersion(record: LogRecord, file: string): number {
  const version = (record as { v?: unknown }).v;
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new SqsStateError(
      file,
      0,
      `unsupported log version ${String(version)} (this runtime reads versions ${SUPPORTED_VERSIONS.join(', ')}; was it written by a newer inferbus?)`,
    );
  }
  return version as number;
}

/**
 * Creates an empty log (its header) and its folder together: the folder appears, by a rename, only
 * with the log in it. So a folder without its log, or `existingState`, means the log was removed.
 */
function createLog(dir: string, file: string, existingState: string | undefined): void {
  if (existsSync(dir))
    throw new SqsLogMissingError(file, `its folder ${dir} exists, and is only ever created with it`);
  if (existingState !== undefined) throw new SqsLogMissingError(file, existingState);
  mkdirSync(dirname(dir), { recursive: true });
  const staging = mkdtempSync(`${dir}.new-`);
  const fd = openSync(join(staging, 'queues.log'), 'w');
  try {
    writeFully(fd, encodeRecord(HEADER));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(staging, dir);
}
