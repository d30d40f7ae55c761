import { isFramed } from '../sqs/log-scan.js';
import { decodeRecord, nextRecordStart } from '../sqs/record-decode.js';
import { encodeRecord, LOG_VERSION, RecordBuffer } from '../sqs/records.js';
import type { LostRange } from './report.js';

export interface SalvagedLog {
  /** A whole version 3 log: a new header and every intact record. */
  readonly bytes: Buffer;
  readonly kept: number;
  readonly lost: LostRange[];
}

/**
 * Every intact record of an SQS state log (any version), re-encoded as a version 3 log. Past bytes
 * that are not a record it goes on at the next whole record (for version 3, one whose checksum
 * matches), and reports the bytes in between.
 */
export function salvageSqsLog(buf: Buffer): SalvagedLog {
  const framed = isFramed(buf);
  const out = new RecordBuffer();
  out.push({ t: 'h', format: 'inferbus-sqs-log', v: LOG_VERSION });
  const lost: LostRange[] = [];
  let kept = 0;
  for (let start = 0; start < buf.length; ) {
    let reason: string;
    try {
      const decoded = decodeRecord(buf, start, framed);
      if (decoded.kind === 'record' && typeof decoded.record.t === 'string') {
        if (decoded.record.t !== 'h') {
          out.push(decoded.record);
          kept++;
        }
        start = decoded.end;
        continue;
      }
      reason = decoded.kind === 'incomplete' ? 'an incomplete record' : 'not a log record';
    } catch (error) {
      reason = (error as Error).message;
    }
    const next = nextRecordStart(buf, start + 1, framed) ?? buf.length;
    lost.push({ offset: start, bytes: next - start, reason });
    start = next;
  }
  return { bytes: Buffer.from(out.bytes()), kept, lost };
}

/** An empty log, for a state folder whose log could not be read at all. */
export function emptySqsLog(): Buffer {
  return encodeRecord({ t: 'h', format: 'inferbus-sqs-log', v: LOG_VERSION });
}
