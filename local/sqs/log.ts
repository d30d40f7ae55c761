import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { type Deferred, deferred } from '../deferred.js';
import { writeFully } from '../fs-sync.js';
import { Compaction, type PlacedCallback, type SnapshotEntry } from './compaction.js';
import { SqsStateError, SqsStorageError } from './errors.js';
import type { BodyLocation, StoredBody } from './queue.js';
import { readRecords } from './record-reader.js';
import {
  decodeRecord,
  encodeRecord,
  type HeaderRecord,
  LOG_VERSION,
  type LogRecord,
  LogRecordError,
  RecordBuffer,
  type SendRecord,
  sendRecordBody,
} from './records.js';

export interface StateLogOptions {
  /** fdatasync after every group commit: survives power loss, not only a killed process. Default false. */
  fsync?: boolean;
  /** Rewrite the log as a snapshot once it exceeds this size and has enough dead records (see `maybeCompact`). Default 16 MiB. */
  compactMinBytes?: number;
  /** Longest a compaction holds the event loop in one turn, in ms (tests use 0: one record a turn). Default 5. */
  compactSliceMs?: number;
  warn?: (message: string) => void;
}

export interface StateLogHooks {
  /** Applies one replayed record; throws SqsStateError (or any error) for an impossible record. */
  apply(record: LogRecord): void;
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
 * `fsync`). Callers are answered only after that, so a SIGKILL loses nothing that was acknowledged;
 * a torn last record from a kill mid-write is cut off at the next start. Records are encoded as
 * `encodeRecord` describes; a log in the older version 1 format is read, then rewritten at once.
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
  /** The compaction in progress, if any. */
  private compaction: Compaction | undefined;
  private readonly fsync: boolean;
  private readonly compactMinBytes: number;
  private readonly compactSliceMs: number;
  private readonly warn: (message: string) => void;

  constructor(
    dir: string,
    private readonly hooks: StateLogHooks,
    options: StateLogOptions = {},
  ) {
    this.fsync = options.fsync ?? false;
    this.compactMinBytes = options.compactMinBytes ?? 16 << 20;
    this.compactSliceMs = options.compactSliceMs ?? 5;
    this.warn = options.warn ?? ((m) => console.warn(m));
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'queues.log');
    // A leftover temp file means a compaction died before its rename: the old log is still whole.
    rmSync(`${this.file}.tmp`, { force: true });
    const version = this.replay();
    // Read-write: message bodies dropped from memory are read back from their records.
    this.fd = openSync(this.file, 'a+');
    this.bytes = statSync(this.file).size;
    if (version === undefined) this.writeNow(encodeRecord(HEADER));
    // An older format is rewritten at once, so appends never mix two formats in one file.
    else if (version !== LOG_VERSION) this.compactNow();
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
      const body = sendRecordBody(bytes, m.id);
      if (body === undefined) {
        throw new SqsStorageError(
          `${this.file} holds no whole record of message ${m.id} at byte ${m.loc?.offset}: was it changed while the runtime ran? Restart the runtime to replay it.`,
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
    try {
      this.flushSync();
      this.maybeCompact();
      batch?.resolve();
    } catch (e) {
      batch?.reject(this.fail(e));
    }
  }

  /** Stops the log after a failed write; returns the error every later call gets. */
  private fail(e: unknown): Error {
    const reason = e instanceof Error ? e.message : String(e);
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
    writeFully(this.fd, buf);
    if (this.fsync) fdatasyncSync(this.fd);
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
    const live = this.hooks.liveBytes();
    const dead = this.bytes - live;
    if (dead < DEAD_TO_LIVE_RATIO * live && dead < Math.max(live, MAX_DEAD_BYTES)) return;
    this.compaction = this.startCompaction();
    setImmediate(() => this.continueCompaction());
  }

  /** Takes the snapshot; only between group commits, when the state and the log agree. */
  private startCompaction(): Compaction {
    return new Compaction(`${this.file}.tmp`, encodeRecord(HEADER), [...this.hooks.snapshot()], (bodies) =>
      this.readBodies(bodies),
    );
  }

  /** One slice of the running compaction per turn; the last one swaps the new file in. */
  private continueCompaction(): void {
    const compaction = this.compaction;
    if (compaction === undefined || this.failure) return;
    try {
      if (compaction.step(this.compactSliceMs)) this.swapIn(compaction);
      else setImmediate(() => this.continueCompaction());
    } catch (e) {
      this.fail(e);
    }
  }

  /** A whole compaction at once (at start, to rewrite an older format). */
  private compactNow(): void {
    const compaction = this.startCompaction();
    this.compaction = compaction;
    while (!compaction.step(Number.POSITIVE_INFINITY));
    this.swapIn(compaction);
  }

  private swapIn(compaction: Compaction): void {
    const { size, placements, followed } = compaction.finish();
    this.compaction = undefined;
    renameSync(compaction.tmp, this.file);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a+');
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

  /** Replays the log; returns the version it was written in, or undefined when there was none. */
  private replay(): number | undefined {
    if (!existsSync(this.file)) return undefined;
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch (e) {
      throw new SqsStateError(this.file, 0, `cannot be read (${e instanceof Error ? e.message : String(e)})`);
    }
    let version: number | undefined;
    for (let start = 0; start < buf.length; ) {
      const line = () => lineAt(buf, start);
      let decoded: ReturnType<typeof decodeRecord>;
      try {
        decoded = decodeRecord(buf, start);
      } catch (e) {
        if (e instanceof LogRecordError) throw new SqsStateError(this.file, line(), e.message);
        throw e;
      }
      if (decoded === undefined) {
        // A kill in the middle of a write leaves a partial last record; that batch was never acknowledged.
        this.warn(
          `Local SQS: ignoring a truncated last line (${buf.length - start} bytes) in ${this.file}, left by an interrupted write.`,
        );
        truncateSync(this.file, start);
        break;
      }
      const record = decoded.record;
      if (start === 0) version = headerVersion(record, this.file);
      else if (typeof record.t !== 'string') throw new SqsStateError(this.file, line(), 'not a log record');
      else {
        try {
          this.hooks.apply(record);
        } catch (e) {
          if (e instanceof SqsStateError) throw e;
          throw new SqsStateError(this.file, line(), e instanceof Error ? e.message : String(e));
        }
      }
      start = decoded.end;
    }
    return version;
  }
}

const SUPPORTED_VERSIONS: readonly unknown[] = [1, LOG_VERSION];

/** The version the header record names; throws SqsStateError for anything else. */
function headerVersion(record: LogRecord, file: string): number {
  if (record.t !== 'h' || record.format !== 'inferbus-sqs-log') {
    throw new SqsStateError(file, 1, 'missing the inferbus-sqs-log header (is this the right folder?)');
  }
  const version = (record as { v?: unknown }).v;
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new SqsStateError(
      file,
      1,
      `unsupported log version ${String(version)} (this runtime reads versions ${SUPPORTED_VERSIONS.join(' and ')}; was it written by a newer inferbus?)`,
    );
  }
  return version as number;
}

/** 1-based line number of byte `offset` (error messages only: it scans from the start). */
function lineAt(buf: Buffer, offset: number): number {
  let line = 1;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < offset; i = buf.indexOf(0x0a, i + 1)) line++;
  return line;
}
