import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { readChecksum } from '../checksum.js';
import { decodeLine, WalLineError, type WalRecord } from './wal-format.js';

/** A record of a segment and where its line lies. */
export interface SegmentRecord extends WalRecord {
  readonly offset: number;
  /** Bytes of the line, newline included. */
  readonly length: number;
}

export interface SegmentContents {
  readonly records: SegmentRecord[];
  /** Ends in its seal line (a rotated segment). */
  readonly sealed: boolean;
  /** Lines carry checksums (else a segment written before them). */
  readonly checked: boolean;
  /** Bytes after cutting a torn tail. */
  readonly size: number;
}

/** Bytes of a segment that are not what the runtime wrote: never trimmed, never rewritten. */
export class WalDamageError extends Error {
  override readonly name = 'WalDamageError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      `Firehose write-ahead log ${file} is damaged at byte ${offset}: ${reason}. The runtime left the file as it is. ` +
        `Copy every intact record into a new state folder with \`inferbus local salvage --state-dir ${dirname(dirname(dirname(file)))}\` ` +
        '(it lists what it could not read) and start from that folder, or restore the file from a backup.',
    );
  }
}

/** Longest line: a record of 1,000 KiB (Firehose's limit) escaped as JSON, six bytes a character at worst. */
const MAX_LINE_BYTES = 6 * 1_024_000 + 64;
const NEWLINE = 0x0a;

/**
 * Reads a segment. `last`: the highest-numbered segment, the only one a killed runtime can leave
 * unfinished (every other one was sealed before a later one was opened).
 *
 * Torn or damaged? An interrupted write leaves a prefix of what was being appended, and only in the
 * last segment: so an unfinished last line of the last segment, no longer than the longest line, is
 * a torn tail; it is cut off (its bytes kept in `<segment>.torn-at-<offset>`) and `warn` says where
 * and how much. Everything else is damage (WalDamageError): a checksum that does not match, a line
 * that is not a record, a seal that is not last or counts other than the records before it, an
 * unfinished line or a missing seal in any segment but the last. Segments written before checksums
 * are read by their lines alone.
 */
export function readSegment(file: string, last: boolean, warn: (message: string) => void): SegmentContents {
  const buf = readFileSync(file);
  const checked =
    buf.length > 0 && (readChecksum(buf, 0) !== undefined || (buf.length < 9 && buf.indexOf(NEWLINE) < 0));
  const records: SegmentRecord[] = [];
  let sealed = false;
  let start = 0;
  while (start < buf.length) {
    if (sealed) throw new WalDamageError(file, start, 'bytes follow the seal, which ends a segment');
    const end = buf.indexOf(NEWLINE, start);
    if (end < 0) {
      // Before checksums there were no seals: an older runtime killed mid-append left a torn line
      // in a segment that a later start then stopped appending to.
      if (!last && checked) {
        throw new WalDamageError(
          file,
          start,
          'an unfinished line in a segment that was sealed: bytes were cut off',
        );
      }
      if (buf.length - start > MAX_LINE_BYTES) {
        throw new WalDamageError(file, start, 'a line runs on past the longest record without its newline');
      }
      const kept = `${file}.torn-at-${start}`;
      writeFileSync(kept, buf.subarray(start));
      truncateSync(file, start);
      warn(
        `firehose: ${file} ended in an unfinished line at byte ${start} (${buf.length - start} bytes), what a write interrupted by a kill or crash leaves; that record was never acknowledged. Cut it off; the bytes are kept in ${kept}. If the file was cut short by something else, the records after it are lost: restore it from a backup.`,
      );
      return { records, sealed, checked, size: start };
    }
    let line: ReturnType<typeof decodeLine>;
    try {
      line = decodeLine(buf, start, end + 1, checked);
    } catch (error) {
      if (error instanceof WalLineError) throw new WalDamageError(file, start, error.message);
      throw error;
    }
    if (line.kind === 'seal') {
      if (line.records !== records.length) {
        throw new WalDamageError(
          file,
          start,
          `the seal counts ${line.records} records, the segment holds ${records.length}: whole lines were removed or added`,
        );
      }
      sealed = true;
    } else records.push({ ...line.record, offset: start, length: end + 1 - start });
    start = end + 1;
  }
  if (checked && !sealed && !last) {
    throw new WalDamageError(
      file,
      buf.length,
      'the segment ends without its seal, though a later one exists: bytes were cut off',
    );
  }
  if (!checked && buf.length === 0 && !last) {
    throw new WalDamageError(
      file,
      0,
      'the segment is empty, though a later one exists: its records were cut off',
    );
  }
  return { records, sealed, checked, size: buf.length };
}
