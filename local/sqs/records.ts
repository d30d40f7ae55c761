import type { SqsMessageAttribute } from '../model.js';

/**
 * Records of the SQS state log (`<stateDir>/sqs/queues.log`). Queues are named by queue name (stable
 * across restarts); times are wall-clock epoch milliseconds. On disk (version 2) every record is one
 * JSON line, except that a send record's body is not in its JSON: the line carries the body's UTF-8
 * byte length in `bl`, and the body follows as raw bytes and a newline (see {@link encodeRecord}).
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
  /** 2: bodies framed as raw bytes. 1: bodies as JSON strings in `b`; still read, then rewritten as 2. */
  v: 1 | 2;
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
export const LOG_VERSION = 2;
const NEWLINE = 0x0a;

/**
 * One record as log bytes. A send record's body goes out as raw UTF-8 after its JSON line rather
 * than as a JSON string inside it: a body is usually JSON text itself, and escaping every quote of
 * it (and parsing that back) was most of the cost of logging a message.
 */
export function encodeRecord(record: LogRecord): Buffer {
  if (record.t !== 's') return Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
  const { b: body, ...rest } = record;
  const bodyBytes = Buffer.byteLength(body, 'utf8');
  const head = JSON.stringify({ ...rest, bl: bodyBytes });
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + bodyBytes + 2);
  out.write(head, 0, headBytes, 'utf8');
  out[headBytes] = NEWLINE;
  out.write(body, headBytes + 1, bodyBytes, 'utf8');
  out[out.length - 1] = NEWLINE;
  return out;
}

/** A record read from log bytes, and the offset just past it. */
export interface DecodedRecord {
  readonly record: LogRecord;
  readonly end: number;
}

/** Why bytes of the log are not a record. */
export class LogRecordError extends Error {
  override readonly name = 'LogRecordError';
}

/**
 * Decodes the record starting at `start`: undefined when `buf` ends before the record does (a torn
 * write); throws LogRecordError when the bytes are not a JSON object (the caller checks its type `t`
 * and fields). Reads both versions: a send record
 * carries its body either framed (`bl`, version 2) or inline (`b`, version 1).
 */
export function decodeRecord(buf: Buffer, start: number): DecodedRecord | undefined {
  const nl = buf.indexOf(NEWLINE, start);
  if (nl < 0) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(buf.toString('utf8', start, nl));
  } catch {
    throw new LogRecordError('not a JSON record');
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new LogRecordError('not a log record');
  }
  const framed = record as { t: string; bl?: unknown; b?: unknown };
  if (framed.t !== 's' || framed.bl === undefined) return { record: record as LogRecord, end: nl + 1 };
  const length = framed.bl;
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
    throw new LogRecordError('a message record has an invalid body length');
  }
  const bodyEnd = nl + 1 + length;
  if (bodyEnd >= buf.length) return undefined;
  if (buf[bodyEnd] !== NEWLINE) {
    throw new LogRecordError(`a message body is not followed by a newline after its ${length} bytes`);
  }
  framed.b = buf.toString('utf8', nl + 1, bodyEnd);
  return { record: framed as LogRecord, end: bodyEnd + 1 };
}
