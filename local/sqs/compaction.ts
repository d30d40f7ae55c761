import { closeSync, openSync, rmSync } from 'node:fs';
import { type DurableWrites, diskWrites } from '../storage-health.js';
import type { BodyLocation, StoredBody } from './queue.js';
import { type LogRecord, RecordBuffer, type SendRecord } from './records.js';

/** A message in a snapshot: its body is read when the record is written, not when the snapshot is taken. */
export interface SnapshotSend {
  readonly send: Omit<SendRecord, 'b'>;
  readonly body: StoredBody;
}

/** The UTF-8 bytes of bodies held only in the old log, in the order given. */
export type BodyReader = (bodies: readonly StoredBody[]) => Buffer[];

/** One record of a snapshot, taken all at once from the state so that it is consistent. */
export type SnapshotEntry = LogRecord | SnapshotSend;

/** Told where a record now lies, in the file the log continues in. */
export type PlacedCallback = (location: BodyLocation) => void;

/** A group commit written to the old log while the compaction ran. */
interface FollowedBatch {
  readonly bytes: Buffer;
  readonly watchers: readonly {
    readonly offset: number;
    readonly length: number;
    readonly placed: PlacedCallback;
  }[];
}

export interface CompactionResult {
  /** Bytes of the new file. */
  readonly size: number;
  /** Where each message of the snapshot now lies, by message id. */
  readonly placements: readonly (readonly [id: string, location: BodyLocation])[];
  /** Where each watched record written during the compaction now lies. */
  readonly followed: readonly (readonly [placed: PlacedCallback, location: BodyLocation])[];
}

/**
 * One compaction of the SQS state log, written a slice per event-loop turn so that a large state
 * never blocks the loop for long: the snapshot (taken at once) goes to `<file>.tmp`; group commits
 * written to the old log meanwhile are kept and follow it, so the new file replays to the state at
 * the moment it replaces the old one. Until then the old log stays the durable one.
 */
export class Compaction {
  private readonly fd: number;
  private closed = false;
  private size = 0;
  private next = 0;
  /** Records encoded but not yet written. */
  private readonly out = new RecordBuffer(CHUNK + INITIAL_SLACK);
  /** Bodies read ahead from the old log, by entry index. */
  private readAhead = new Map<number, Buffer>();
  private readonly placements: [string, BodyLocation][] = [];
  private readonly followed: FollowedBatch[] = [];

  constructor(
    readonly tmp: string,
    header: Buffer,
    private readonly entries: readonly SnapshotEntry[],
    private readonly readBodies: BodyReader,
    private readonly writes: DurableWrites = diskWrites,
  ) {
    this.fd = openSync(tmp, 'w');
    this.write(header);
  }

  /** Writes snapshot records (at least one) for about `budgetMs`; true once all are written. */
  step(budgetMs: number): boolean {
    const until = performance.now() + budgetMs;
    while (this.next < this.entries.length) {
      this.encode(this.next++);
      if (this.out.length >= CHUNK) this.writeOut();
      if (performance.now() >= until) break;
    }
    this.writeOut();
    return this.next >= this.entries.length;
  }

  /** A group commit just written to the old log; it follows the snapshot in the new file. */
  follow(batch: FollowedBatch): void {
    this.followed.push(batch);
  }

  /** Writes what followed the snapshot and makes the new file durable; the caller renames it over the old log. */
  finish(): CompactionResult {
    const followed: [PlacedCallback, BodyLocation][] = [];
    try {
      for (const batch of this.followed) {
        const start = this.size;
        this.write(batch.bytes);
        for (const w of batch.watchers)
          followed.push([w.placed, { offset: start + w.offset, length: w.length }]);
      }
      this.writes.sync(this.fd);
    } finally {
      this.closeFile();
    }
    return { size: this.size, placements: this.placements, followed };
  }

  /** Drops the new file: the old log is still whole. */
  abandon(): void {
    this.closeFile();
    rmSync(this.tmp, { force: true });
  }

  private closeFile(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private encode(index: number): void {
    const entry = this.entries[index] as SnapshotEntry;
    if (!('send' in entry)) {
      this.out.push(entry);
      return;
    }
    const start = this.out.pushSend(entry.send, this.bodyOf(index, entry.body));
    this.placements.push([entry.send.id, { offset: this.size + start, length: this.out.length - start }]);
  }

  /**
   * A body from memory, or its bytes copied from the old log (never decoded to text). Bodies of the
   * entries that follow are read along, so that records lying one after another take one read.
   */
  private bodyOf(index: number, body: StoredBody): string | Buffer {
    if (body.text !== undefined) return body.text;
    if (!this.readAhead.has(index)) this.readAheadFrom(index);
    return this.readAhead.get(index) as Buffer;
  }

  private readAheadFrom(first: number): void {
    const indexes: number[] = [];
    const bodies: StoredBody[] = [];
    let bytes = 0;
    for (let i = first; i < this.entries.length && bytes < CHUNK; i++) {
      const entry = this.entries[i] as SnapshotEntry;
      if (!('send' in entry) || entry.body.text !== undefined) continue;
      indexes.push(i);
      bodies.push(entry.body);
      bytes += entry.body.loc?.length ?? 0;
    }
    const read = this.readBodies(bodies);
    this.readAhead = new Map(indexes.map((index, i) => [index, read[i] as Buffer]));
  }

  private writeOut(): void {
    if (this.out.length === 0) return;
    this.write(this.out.bytes());
    this.out.clear();
  }

  private write(buf: Buffer): void {
    this.writes.write(this.fd, buf);
    this.size += buf.length;
  }
}

const CHUNK = 1 << 20;
/** Room for the record that takes the chunk past CHUNK, so that the buffer seldom grows. */
const INITIAL_SLACK = 256 * 1024;
