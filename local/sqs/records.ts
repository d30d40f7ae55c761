import type { SqsMessageAttribute } from '../model.js';

/**
 * Records of the SQS state log (`<stateDir>/sqs/queues.log`), one JSON object per line. Queues are
 * named by queue name (stable across restarts); times are wall-clock epoch milliseconds.
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
  v: 1;
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
