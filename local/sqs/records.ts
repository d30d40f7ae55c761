import { CHECKSUM_PREFIX_BYTES, writeChecksum } from '../checksum.js';
import type { SqsMessageAttribute } from '../model.js';

/**
 * Records of the SQS state log (`<stateDir>/sqs/queues.log`). Queues are named by queue name (stable
 * across restarts); times are wall-clock epoch milliseconds. On disk (version 3) every record is its
 * checksum (see local/checksum.ts) and one JSON line, except that a send record's body is not in its
 * JSON: the line carries the body's UTF-8 byte length in `bl`, and the body follows as raw bytes and a
 * newline (see {@link encodeRecord}). Versions 1 and 2 (no checksums) are read by record-decode.ts.
 */
export type LogRecord =
  | HeaderRecord
  | SendRecord
  | ReceiveRecord
  | ChangeVisibilityRecord
  | DeleteRecord
  | MoveRecord
  | PurgeRecord
  | TaskRecord
  | TaskEndRecord;

export interface HeaderRecord {
  t: 'h';
  format: 'inferbus-sqs-log';
  /**
   * 3: every record checksummed. 2: bodies framed as raw bytes. 1: bodies as JSON strings in `b`.
   * 1 and 2 are still read, then rewritten as 3.
   */
  v: 1 | 2 | 3;
}

/** A message enters a queue: a SendMessage, or (with `n`/`f`/`k`) a compaction snapshot of one. */
export interface SendRecord {
  t: 's';
  q: string;
  id: string;
  b: string;
  a?: Record<string, SqsMessageAttribute>;
  /** SentTimestamp. */
  ts: number;
  /** Visible-at time when delayed or in flight. */
  v?: number;
  /** Receive count, first receive time and current receipt token (snapshots only). */
  n?: number;
  f?: number;
  k?: string;
  /** ARN of the queue it was dead-lettered from. */
  o?: string;
}

export interface ReceiveRecord {
  t: 'r';
  q: string;
  id: string;
  /** Receipt token of this receive. */
  k: string;
  /** Visible-at time (end of the visibility timeout). */
  v: number;
  /** Receive time, when this is the first receive. */
  f?: number;
}

export interface ChangeVisibilityRecord {
  t: 'c';
  q: string;
  id: string;
  v: number;
}

export interface DeleteRecord {
  t: 'd';
  q: string;
  id: string;
}

/** A message leaves queue `q` for queue `to` in one record, so it is never in both or neither. */
export interface MoveRecord {
  t: 'm';
  q: string;
  id: string;
  to: string;
  /** Dead-letter source ARN to remember (redrive); absent clears it. */
  o?: string;
  /** 1: reset the receive count (message move task). */
  z?: 1;
  /** Message move task that moved it. */
  x?: string;
}

export interface PurgeRecord {
  t: 'p';
  q: string;
}

/** A message move task starts (or, in a snapshot, its current progress). */
export interface TaskRecord {
  t: 'T';
  h: string;
  src: string;
  dst?: string;
  rate?: number;
  at: number;
  toMove: number;
  /** Messages of the source with enqueue sequence <= this are the ones to move. */
  maxSeq: number;
  moved: number;
  st?: MoveTaskStatus;
  why?: string;
}

export interface TaskEndRecord {
  t: 'E';
  h: string;
  st: Exclude<MoveTaskStatus, 'RUNNING'>;
  why?: string;
}

export type MoveTaskStatus = 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';

/** The log format version written. */
export const LOG_VERSION = 3;
const NEWLINE = 0x0a;

/**
 * One record as log bytes: `<crc32 hex> <JSON line>\n`, the checksum covering every byte after it.
 * A send record's body goes out as raw UTF-8 after its JSON line (and is covered by the same
 * checksum) rather than as a JSON string inside it: a body is usually JSON text itself, and escaping
 * every quote of it (and parsing that back) was most of the cost of logging a message.
 */
export function encodeRecord(record: LogRecord): Buffer {
  const out = new RecordBuffer(0);
  out.push(record);
  return out.bytes();
}

const INITIAL_CAPACITY = 64 * 1024;
/** A buffer grown past this (by one huge batch) is not kept for the next one. */
const MAX_KEPT_CAPACITY = 16 << 20;

/**
 * Records encoded one after another into one reused, growing buffer (a group commit, a compaction
 * chunk): a record costs no buffer of its own, and a batch needs no concatenation.
 */
export class RecordBuffer {
  private buf: Buffer;
  /** Bytes encoded so far. */
  length = 0;

  constructor(private readonly initialCapacity = INITIAL_CAPACITY) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  /** Appends a record; returns the offset where it starts. */
  push(record: LogRecord): number {
    if (record.t === 's') {
      const { b: body, ...head } = record;
      return this.pushSend(head, body);
    }
    const line = JSON.stringify(record);
    const start = this.length;
    this.reserve(CHECKSUM_PREFIX_BYTES + maxUtf8Bytes(line) + 1);
    let at = start + CHECKSUM_PREFIX_BYTES;
    at += this.buf.write(line, at, 'utf8');
    this.buf[at++] = NEWLINE;
    writeChecksum(this.buf, start, at);
    this.length = at;
    return start;
  }

  /**
   * Appends a send record whose body is given apart, as text or as its UTF-8 bytes (copied from an
   * older log); `bodyBytes` is the body's UTF-8 length. Returns the offset where the record starts.
   */
  pushSend(
    head: Omit<SendRecord, 'b'>,
    body: string | Uint8Array,
    bodyBytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length,
  ): number {
    // Same bytes as JSON.stringify({ ...head, bl }), without copying the record.
    const line = `${JSON.stringify(head).slice(0, -1)},"bl":${bodyBytes}}`;
    const start = this.length;
    this.reserve(CHECKSUM_PREFIX_BYTES + maxUtf8Bytes(line) + bodyBytes + 2);
    let at = start + CHECKSUM_PREFIX_BYTES;
    at += this.buf.write(line, at, 'utf8');
    this.buf[at++] = NEWLINE;
    if (typeof body === 'string') this.buf.write(body, at, bodyBytes, 'utf8');
    else this.buf.set(body, at);
    at += bodyBytes;
    this.buf[at++] = NEWLINE;
    writeChecksum(this.buf, start, at);
    this.length = at;
    return start;
  }

  /** Bytes `start` to `end` encoded so far: a view, valid until the buffer is cleared or grows. */
  bytes(start = 0, end = this.length): Buffer {
    return this.buf.subarray(start, end);
  }

  clear(): void {
    this.length = 0;
    if (this.buf.length > MAX_KEPT_CAPACITY) this.buf = Buffer.allocUnsafe(this.initialCapacity);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.length + bytes));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }
}

/** An upper bound of the text's UTF-8 length that needs no scan of it. */
function maxUtf8Bytes(text: string): number {
  return 3 * text.length;
}
