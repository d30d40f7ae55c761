import { closeSync, fsyncSync, openSync, rmSync } from 'node:fs';
import { writeFully } from '../fs-sync.js';
import type { BodyLocation } from './queue.js';
import { encodeRecord, type LogRecord, type SendRecord } from './records.js';

/** A message in a snapshot: its body is read when the record is written, not when the snapshot is taken. */
export interface SnapshotSend {
  readonly send: Omit<SendRecord, 'b'>;
  readonly body: () => string;
}

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
  private size = 0;
  private next = 0;
  private readonly placements: [string, BodyLocation][] = [];
  private readonly followed: FollowedBatch[] = [];

  constructor(
    readonly tmp: string,
    header: Buffer,
    private readonly entries: readonly SnapshotEntry[],
  ) {
    this.fd = openSync(tmp, 'w');
    this.write([header], header.length);
  }

  /** Writes snapshot records (at least one) for about `budgetMs`; true once all are written. */
  step(budgetMs: number): boolean {
    const until = performance.now() + budgetMs;
    let chunk: Buffer[] = [];
    let bytes = 0;
    while (this.next < this.entries.length) {
      const entry = this.entries[this.next++] as SnapshotEntry;
      const record = 'send' in entry ? { ...entry.send, b: entry.body() } : entry;
      const encoded = encodeRecord(record);
      if (record.t === 's')
        this.placements.push([record.id, { offset: this.size + bytes, length: encoded.length }]);
      chunk.push(encoded);
      bytes += encoded.length;
      if (bytes >= CHUNK) {
        this.write(chunk, bytes);
        chunk = [];
        bytes = 0;
      }
      if (performance.now() >= until) break;
    }
    if (chunk.length > 0) this.write(chunk, bytes);
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
        this.write([batch.bytes], batch.bytes.length);
        for (const w of batch.watchers)
          followed.push([w.placed, { offset: start + w.offset, length: w.length }]);
      }
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
    return { size: this.size, placements: this.placements, followed };
  }

  /** Drops the new file: the old log is still whole. */
  abandon(): void {
    closeSync(this.fd);
    rmSync(this.tmp, { force: true });
  }

  private write(chunk: Buffer[], bytes: number): void {
    const buf = chunk.length === 1 ? (chunk[0] as Buffer) : Buffer.concat(chunk, bytes);
    writeFully(this.fd, buf);
    this.size += buf.length;
  }
}

const CHUNK = 1 << 20;
