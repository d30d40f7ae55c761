import { CHECKSUM_PREFIX_BYTES, checksumOf, couldBePrefixStart, hex8, readChecksum } from '../checksum.js';
import type { LogRecord } from './records.js';
import { MAX_MESSAGE_BYTES } from './validate.js';

const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;

/**
 * Longest JSON line a record can have: message attributes take at most MAX_MESSAGE_BYTES, and JSON
 * escapes at most six bytes for one. A line (or an unfinished one) longer than this is damage.
 */
export const MAX_RECORD_LINE_BYTES = 6 * MAX_MESSAGE_BYTES + 4096;

/** A whole record read from log bytes, and the offset just past it. */
export interface DecodedRecord {
  readonly kind: 'record';
  readonly record: LogRecord;
  readonly end: number;
}

/** The bytes end before the record does; `head` is its JSON line when that much is there. */
export interface IncompleteRecord {
  readonly kind: 'incomplete';
  readonly head?: LogRecord;
  /** Offset just past the record, when its line says how long it is. */
  readonly declaredEnd?: number;
}

/** Why bytes of the log are not a record. */
export class LogRecordError extends Error {
  override readonly name = 'LogRecordError';
}

/**
 * Decodes the record starting at `start`. `framed`: version 3, each record behind its checksum
 * (see local/checksum.ts); otherwise versions 1 and 2, without. Returns `incomplete` when `buf` ends
 * before the record does (a torn write, or damage: the caller decides, see log-scan.ts); throws
 * LogRecordError when the bytes are not a record (a checksum that does not match, a body not followed
 * by its newline, a line that is not a JSON object, an impossible length).
 */
export function decodeRecord(
  buf: Buffer,
  start: number,
  framed: boolean,
  /** false: leave a framed body out of the record (the caller takes its bytes). */
  withBody = true,
): DecodedRecord | IncompleteRecord {
  let lineStart = start;
  let stored: number | undefined;
  if (framed) {
    if (buf.length - start < CHECKSUM_PREFIX_BYTES) {
      if (couldBePrefixStart(buf.subarray(start))) return { kind: 'incomplete' };
      throw new LogRecordError('no record checksum where a record starts');
    }
    stored = readChecksum(buf, start);
    if (stored === undefined) throw new LogRecordError('no record checksum where a record starts');
    lineStart += CHECKSUM_PREFIX_BYTES;
  }
  const nl = buf.indexOf(NEWLINE, lineStart);
  if (nl < 0) {
    if (buf.length - lineStart > MAX_RECORD_LINE_BYTES) {
      throw new LogRecordError(
        `a record line runs on for ${buf.length - lineStart} bytes without its newline`,
      );
    }
    return { kind: 'incomplete' };
  }
  const record = parseLine(buf, lineStart, nl);
  let end = nl + 1;
  const framedSend = record as { t: string; bl?: unknown; b?: unknown };
  if (framedSend.t === 's' && framedSend.bl !== undefined) {
    const length = framedSend.bl;
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > MAX_MESSAGE_BYTES) {
      throw new LogRecordError(
        `a message record has an impossible body length ${JSON.stringify(length)} (a body has 0 to ${MAX_MESSAGE_BYTES} bytes)`,
      );
    }
    const bodyEnd = end + length;
    if (bodyEnd >= buf.length) return { kind: 'incomplete', head: record, declaredEnd: bodyEnd + 1 };
    if (buf[bodyEnd] !== NEWLINE) {
      throw new LogRecordError(`a message body is not followed by a newline after its ${length} bytes`);
    }
    if (withBody) framedSend.b = buf.toString('utf8', end, bodyEnd);
    end = bodyEnd + 1;
  }
  if (stored !== undefined) {
    const computed = checksumOf(buf.subarray(lineStart, end));
    if (computed !== stored) {
      throw new LogRecordError(
        `checksum mismatch in a record of ${end - start} bytes (stored ${hex8(stored)}, computed ${hex8(computed)}): its bytes were changed`,
      );
    }
  }
  return { kind: 'record', record, end };
}

/**
 * Where the next whole record at or after `from` starts (on a line start), or undefined. For
 * version 3 only a record whose checksum matches counts; an older log has no checksums, so any
 * JSON object line with a string `t` does.
 */
export function nextRecordStart(buf: Buffer, from: number, framed: boolean): number | undefined {
  for (let nl = buf.indexOf(NEWLINE, Math.max(0, from - 1)); nl >= 0; nl = buf.indexOf(NEWLINE, nl + 1)) {
    const at = nl + 1;
    if (at >= buf.length) return undefined;
    if (framed) {
      if (readChecksum(buf, at) === undefined || buf[at + CHECKSUM_PREFIX_BYTES] !== OPEN_BRACE) continue;
    } else if (buf[at] !== OPEN_BRACE) continue;
    try {
      const decoded = decodeRecord(buf, at, framed);
      if (decoded.kind === 'record' && typeof decoded.record.t === 'string') return at;
    } catch {
      // Not a record: keep looking.
    }
  }
  return undefined;
}

/**
 * The body bytes of the send record of message `id` that fills `buf` exactly (a view into it);
 * undefined when `buf` is not that record (or, framed, its checksum does not match).
 */
export function sendRecordBody(buf: Buffer, id: string, framed: boolean): Buffer | undefined {
  let decoded: DecodedRecord | IncompleteRecord;
  try {
    decoded = decodeRecord(buf, 0, framed, false);
  } catch {
    return undefined;
  }
  if (decoded.kind !== 'record' || decoded.end !== buf.length) return undefined;
  const record = decoded.record;
  if (record.t !== 's' || record.id !== id) return undefined;
  const { bl, b } = record as { bl?: unknown; b?: unknown };
  // Versions 2 and 3: a view of the raw body; version 1: the body was a JSON string.
  if (typeof bl === 'number') return buf.subarray(buf.length - 1 - bl, buf.length - 1);
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : undefined;
}

function parseLine(buf: Buffer, start: number, end: number): LogRecord {
  let record: unknown;
  try {
    record = JSON.parse(buf.toString('utf8', start, end));
  } catch {
    throw new LogRecordError('not a JSON record');
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new LogRecordError('not a log record');
  }
  return record as LogRecord;
}
