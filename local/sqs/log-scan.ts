import {
  decodeRecord,
  type IncompleteRecord,
  LogRecordError,
  MAX_RECORD_LINE_BYTES,
  nextRecordStart,
} from './record-decode.js';
import { LOG_VERSION, type LogRecord } from './records.js';
import { MAX_MESSAGE_BYTES } from './validate.js';

/** A record of the log and where it lies. */
export interface ScannedRecord {
  readonly record: LogRecord;
  readonly start: number;
  readonly end: number;
}

/** An incomplete last record: what an interrupted write leaves. */
export interface TornTail {
  readonly offset: number;
  readonly bytes: number;
  /** What the record was, as far as its bytes tell. */
  readonly what: string;
}

/** Bytes of the log that are not what the runtime wrote: never trimmed, never rewritten. */
export class LogDamage extends Error {
  override readonly name = 'LogDamage';
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${reason} (byte ${offset})`);
  }
}

/** The longest record there is: a body of MAX_MESSAGE_BYTES after the longest line. */
const MAX_RECORD_BYTES = MAX_RECORD_LINE_BYTES + MAX_MESSAGE_BYTES + 16;

/** Whether the log's records carry checksums (version 3), from its first byte. */
export function isFramed(buf: Buffer): boolean {
  return buf.length > 0 && buf[0] !== 0x7b;
}

/**
 * The records of a whole log, header first; returns the torn tail, if any. Throws LogDamage for
 * anything else that is wrong.
 *
 * Torn or damaged? A write interrupted by a kill or a crash can only leave the last records of one
 * group commit unfinished: a prefix of bytes that were being appended. So the log ends in a torn
 * tail only when the record at the end is incomplete AND
 *  - no whole, checksummed record starts anywhere after it (bytes written after it are proof that
 *    it was finished once: a length field made larger, or bytes cut out of the middle, look exactly
 *    like this), and
 *  - it is not longer than the longest record the runtime writes (a body length beyond that, or a
 *    line running on past the longest line, was never written).
 * Everything else is damage: a checksum that does not match, a body not followed by its newline, a
 * line that is not a record, an impossible length, wherever it lies, the last record included (a
 * torn write never leaves a whole record with a wrong checksum). Damage that exactly removes whole
 * records at the end (a file cut on a record boundary) cannot be told from a clean end by the log
 * alone. Logs of versions 1 and 2 have no checksums: for them only the lengths are checked.
 */
export function* scanLog(buf: Buffer): Generator<ScannedRecord, TornTail | undefined> {
  const framed = isFramed(buf);
  for (let start = 0; start < buf.length; ) {
    let decoded: ReturnType<typeof decodeRecord>;
    try {
      decoded = decodeRecord(buf, start, framed);
    } catch (e) {
      if (e instanceof LogRecordError) throw new LogDamage(start, e.message);
      throw e;
    }
    if (decoded.kind === 'incomplete') {
      // A log is created with its header in one rename (see log.ts): its header is never torn.
      if (start === 0)
        throw new LogDamage(0, 'the header record is unfinished, so this is not a log the runtime wrote');
      return tornTail(buf, start, framed, decoded);
    }
    if (start === 0) checkHeader(decoded.record, framed);
    else if (typeof decoded.record.t !== 'string') throw new LogDamage(start, 'not a log record');
    yield { record: decoded.record, start, end: decoded.end };
    start = decoded.end;
  }
  return undefined;
}

function tornTail(buf: Buffer, start: number, framed: boolean, incomplete: IncompleteRecord): TornTail {
  const bytes = buf.length - start;
  if (bytes > MAX_RECORD_BYTES || (incomplete.declaredEnd ?? 0) - start > MAX_RECORD_BYTES) {
    throw new LogDamage(
      start,
      `a record runs past the end of the file, longer than any record the runtime writes`,
    );
  }
  if (framed) {
    const later = nextRecordStart(buf, start + 1, true);
    if (later !== undefined) {
      throw new LogDamage(
        start,
        `the record here runs past the end of the file, yet a whole record starts after it at byte ${later}: a length was changed or bytes were cut out`,
      );
    }
  }
  return { offset: start, bytes, what: describe(incomplete, start, bytes) };
}

function describe(incomplete: IncompleteRecord, start: number, bytes: number): string {
  const head = incomplete.head;
  if (head?.t !== 's' || incomplete.declaredEnd === undefined)
    return `an unfinished record of ${bytes} bytes`;
  return `${bytes} of the ${incomplete.declaredEnd - start} bytes of the record of message ${head.id} (queue ${head.q})`;
}

function checkHeader(record: LogRecord, framed: boolean): void {
  if (record.t !== 'h' || record.format !== 'inferbus-sqs-log') {
    throw new LogDamage(0, 'missing the inferbus-sqs-log header (is this the right folder?)');
  }
  const version = (record as { v?: unknown }).v;
  if (framed && version !== LOG_VERSION && typeof version === 'number' && version < LOG_VERSION) {
    throw new LogDamage(
      0,
      `the header says version ${version}, whose records have no checksums, yet they have`,
    );
  }
  if (!framed && version === LOG_VERSION) {
    throw new LogDamage(
      0,
      `the header says version ${version}, whose records have checksums, yet it has none`,
    );
  }
}
