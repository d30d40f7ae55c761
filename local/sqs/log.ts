import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { type Deferred, deferred } from '../deferred.js';
import { SqsStateError, SqsStorageError } from './errors.js';
import type { BodyLocation } from './queue.js';
import type { LogRecord } from './records.js';

export interface StateLogOptions {
  /** fdatasync after every group commit: survives power loss, not only a killed process. Default false. */
  fsync?: boolean;
  /** Rewrite the log as a snapshot once it exceeds this size and twice the live state. Default 16 MiB. */
  compactMinBytes?: number;
  warn?: (message: string) => void;
}

export interface StateLogHooks {
  /** Applies one replayed record; throws SqsStateError (or any error) for an impossible record. */
  apply(record: LogRecord, line: number): void;
  /** Approximate bytes a snapshot of the current state takes. */
  liveBytes(): number;
  /** The current state as records (messages in enqueue order, then tasks). */
  snapshot(): Iterable<LogRecord>;
  /**
   * During a compaction, once a snapshot record is written: a key for `placed`, so the record
   * itself (with its body) need not be kept until the compaction ends.
   */
  placementKey?(record: LogRecord): object | undefined;
  /** After a compaction: where the record with this key now lies in the new log file. */
  placed?(key: object, location: BodyLocation): void;
}

/** Told where an appended record was written, once it is. */
export type PlacedCallback = (location: BodyLocation) => void;

const HEADER: LogRecord = { t: 'h', format: 'inferbus-sqs-log', v: 1 };
const CHUNK = 1 << 20;

/**
 * Append-only log with group commit: `append` buffers a record; one `writeSync` per event-loop turn
 * writes the whole batch, and `commit()` resolves once the batch is in the OS (and on disk with
 * `fsync`). Callers are answered only after that, so a SIGKILL loses nothing that was acknowledged;
 * a torn last line from a kill mid-write is cut off at the next start.
 */
export class StateLog {
  readonly file: string;
  private fd: number;
  private bytes: number;
  private pending: string[] = [];
  /** Callbacks for pending records, by index in `pending`. */
  private watchers: { index: number; placed: PlacedCallback }[] = [];
  private batch: Deferred<void> | undefined;
  private scheduled = false;
  private failure: Error | undefined;
  private readonly fsync: boolean;
  private readonly compactMinBytes: number;
  private readonly warn: (message: string) => void;

  constructor(
    dir: string,
    private readonly hooks: StateLogHooks,
    options: StateLogOptions = {},
  ) {
    this.fsync = options.fsync ?? false;
    this.compactMinBytes = options.compactMinBytes ?? 16 << 20;
    this.warn = options.warn ?? ((m) => console.warn(m));
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'queues.log');
    // A leftover temp file means a compaction died before its rename: the old log is still whole.
    rmSync(`${this.file}.tmp`, { force: true });
    const fresh = this.replay();
    // Read-write: message bodies dropped from memory are read back from their records.
    this.fd = openSync(this.file, 'a+');
    this.bytes = statSync(this.file).size;
    if (fresh) this.writeNow(`${JSON.stringify(HEADER)}\n`);
    else this.maybeCompact();
  }

  /** Buffers a record for the next group commit; `placed` learns where it was written. */
  append(record: LogRecord, placed?: PlacedCallback): void {
    if (this.failure) throw this.failure;
    if (placed) this.watchers.push({ index: this.pending.length, placed });
    this.pending.push(`${JSON.stringify(record)}\n`);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushBatch());
    }
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
    const pending = this.pending;
    const watchers = this.watchers;
    this.pending = [];
    this.watchers = [];
    // One buffer per record (no joined string copy), then one write for the whole group.
    const buffers = pending.map((line) => Buffer.from(line, 'utf8'));
    const start = this.bytes;
    this.writeNow(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers));
    if (watchers.length === 0) return;
    let offset = start;
    let next = 0;
    for (let i = 0; i < buffers.length && next < watchers.length; i++) {
      const length = (buffers[i] as Buffer).length;
      const watcher = watchers[next] as { index: number; placed: PlacedCallback };
      if (watcher.index === i) {
        watcher.placed({ offset, length });
        next++;
      }
      offset += length;
    }
  }

  /** The record written at `location` (a body dropped from memory, read back). */
  read(location: BodyLocation): LogRecord {
    const buf = Buffer.allocUnsafe(location.length);
    let off = 0;
    while (off < location.length) {
      const n = readSync(this.fd, buf, off, location.length - off, location.offset + off);
      if (n === 0)
        throw new SqsStorageError(`${this.file} ends before the record at byte ${location.offset}`);
      off += n;
    }
    return JSON.parse(buf.toString('utf8')) as LogRecord;
  }

  close(): void {
    this.flushBatch();
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
      const reason = e instanceof Error ? e.message : String(e);
      this.failure = new SqsStorageError(
        `Writing the local SQS state to ${this.file} failed (${reason}). The local SQS stops accepting work so that no acknowledged message is lost: free disk space or fix permissions, then restart.`,
      );
      batch?.reject(this.failure);
    }
  }

  private writeNow(data: string | Buffer): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    if (this.fsync) fdatasyncSync(this.fd);
    this.bytes += buf.length;
  }

  private maybeCompact(): void {
    if (this.bytes < this.compactMinBytes || this.bytes < 2 * this.hooks.liveBytes()) return;
    // Pending records are already part of the in-memory state the snapshot is taken from.
    this.pending = [];
    this.watchers = [];
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    const header = Buffer.from(`${JSON.stringify(HEADER)}\n`, 'utf8');
    let size = header.length;
    const placements: [object, BodyLocation][] = [];
    try {
      let chunk: Buffer[] = [header];
      let chunkBytes = header.length;
      const flush = () => {
        const buf = Buffer.concat(chunk, chunkBytes);
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
        chunk = [];
        chunkBytes = 0;
      };
      for (const record of this.hooks.snapshot()) {
        // Snapshot reads of dropped bodies go through this.fd: the old file, still open.
        const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
        const key = record.t === 's' ? this.hooks.placementKey?.(record) : undefined;
        if (key !== undefined) placements.push([key, { offset: size, length: line.length }]);
        chunk.push(line);
        chunkBytes += line.length;
        size += line.length;
        if (chunkBytes >= CHUNK) flush();
      }
      flush();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a+');
    this.bytes = size;
    if (this.hooks.placed) for (const [key, location] of placements) this.hooks.placed(key, location);
    try {
      const dirFd = openSync(join(this.file, '..'), 'r');
      fsyncSync(dirFd);
      closeSync(dirFd);
    } catch {
      // Directory fsync is not supported everywhere; the rename is still atomic.
    }
  }

  /** Replays the log; returns true when there was none (a fresh state folder). */
  private replay(): boolean {
    if (!existsSync(this.file)) return true;
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch (e) {
      throw new SqsStateError(this.file, 0, `cannot be read (${e instanceof Error ? e.message : String(e)})`);
    }
    if (buf.length === 0) return true;
    const end = buf.lastIndexOf(0x0a);
    if (end < buf.length - 1) {
      // A kill in the middle of a write leaves a partial last line; that batch was never acknowledged.
      this.warn(
        `Local SQS: ignoring a truncated last line (${buf.length - end - 1} bytes) in ${this.file}, left by an interrupted write.`,
      );
      truncateSync(this.file, end + 1);
      if (end < 0) return true;
    }
    const text = buf.toString('utf8', 0, end + 1);
    let start = 0;
    let line = 0;
    while (start < text.length) {
      const nl = text.indexOf('\n', start);
      const raw = text.slice(start, nl);
      start = nl + 1;
      line++;
      let record: LogRecord;
      try {
        record = JSON.parse(raw) as LogRecord;
      } catch {
        throw new SqsStateError(this.file, line, 'not a JSON record');
      }
      if (line === 1) {
        if (record?.t !== 'h' || record.format !== 'inferbus-sqs-log') {
          throw new SqsStateError(
            this.file,
            line,
            'missing the inferbus-sqs-log header (is this the right folder?)',
          );
        }
        const version = (record as { v?: unknown }).v;
        if (version !== 1)
          throw new SqsStateError(this.file, line, `unsupported log version ${String(version)}`);
        continue;
      }
      if (typeof record !== 'object' || record === null || typeof record.t !== 'string') {
        throw new SqsStateError(this.file, line, 'not a log record');
      }
      try {
        this.hooks.apply(record, line);
      } catch (e) {
        if (e instanceof SqsStateError) throw e;
        throw new SqsStateError(this.file, line, e instanceof Error ? e.message : String(e));
      }
    }
    return false;
  }
}
