import { CHECKSUM_PREFIX_BYTES, checksumOf, hex8, readChecksum, writeChecksum } from '../checksum.js';
import { isWellFormed } from '../unicode.js';

/**
 * Lines of a Firehose write-ahead log segment. Since checksums (local/checksum.ts) every line is
 * `<crc32 hex> <content>\n`, the checksum covering `<content>\n`; the content is a record,
 * `<arrival ms>\t<data>` when the data has no newline or lone surrogate (the usual case: JSON
 * records), else the JSON `{"t":<arrival ms>,"d":<data>}`, or, last in a sealed segment, the seal
 * `!seal <records>`. Segments written before checksums hold records without the prefix; they are
 * still read (see wal-read.ts).
 */

export interface WalRecord {
  readonly arrival: Date;
  readonly data: string;
}

/**
 * A record as a log line. The data goes in as it is, not as a JSON string: escaping (and parsing
 * back) a record that is JSON text itself cost more than the rest of accepting it.
 */
export function encodeLine(arrival: Date, data: string): Buffer {
  // Raw UTF-8 cannot carry a lone surrogate; JSON's \u escape can.
  const content =
    data.includes('\n') || !isWellFormed(data)
      ? JSON.stringify({ t: arrival.getTime(), d: data })
      : `${arrival.getTime()}\t${data}`;
  return framed(content);
}

/** The last line of a sealed segment: how many records it holds. */
export function encodeSeal(records: number): Buffer {
  return framed(`${SEAL}${records}`);
}

const SEAL = '!seal ';
const PREFIX_SPACE = ' '.repeat(CHECKSUM_PREFIX_BYTES);

function framed(content: string): Buffer {
  const buf = Buffer.from(`${PREFIX_SPACE}${content}\n`, 'utf8');
  writeChecksum(buf, 0, buf.length);
  return buf;
}

/** What a line of a segment holds. */
export type WalLine =
  | { readonly kind: 'record'; readonly record: WalRecord }
  | { readonly kind: 'seal'; readonly records: number };

/** Why bytes of a segment are not a line the runtime wrote. */
export class WalLineError extends Error {
  override readonly name = 'WalLineError';
}

/**
 * The line of `buf` from `start` to `end` (just past its newline). `checked`: the line must carry
 * its checksum, which must match; otherwise it is a line of a segment written before checksums.
 */
export function decodeLine(buf: Buffer, start: number, end: number, checked: boolean): WalLine {
  let from = start;
  if (checked) {
    const stored = readChecksum(buf, start);
    if (stored === undefined) throw new WalLineError('no checksum where a line starts');
    from += CHECKSUM_PREFIX_BYTES;
    const computed = checksumOf(buf.subarray(from, end));
    if (computed !== stored) {
      throw new WalLineError(
        `checksum mismatch in a line of ${end - start} bytes (stored ${hex8(stored)}, computed ${hex8(computed)}): its bytes were changed`,
      );
    }
  }
  const content = buf.toString('utf8', from, end - 1);
  if (checked && content.startsWith(SEAL)) {
    const records = Number(content.slice(SEAL.length));
    if (!Number.isSafeInteger(records) || records < 0)
      throw new WalLineError('a seal without its record count');
    return { kind: 'seal', records };
  }
  try {
    return { kind: 'record', record: parseLine(content) };
  } catch (error) {
    throw new WalLineError((error as Error).message);
  }
}

/** A record line read back at its location: checked when it carries a checksum. */
export function decodeRecordLine(buf: Buffer, start: number, end: number): WalRecord {
  const line = decodeLine(buf, start, end, readChecksum(buf, start) !== undefined);
  if (line.kind !== 'record') throw new WalLineError('a seal where a record should be');
  return line.record;
}

const RAW_LINE = /^(\d{1,16})\t/;

/** A record's content (no checksum, no newline), in either form `encodeLine` writes. */
export function parseLine(line: string): WalRecord {
  if (!line.startsWith('{')) {
    const prefix = RAW_LINE.exec(line);
    if (prefix === null) throw new Error('not a <ms>\\t<data> or {"t":<ms>,"d":<data>} record');
    return { arrival: new Date(Number(prefix[1])), data: line.slice(prefix[0].length) };
  }
  const value = JSON.parse(line) as { t?: unknown; d?: unknown };
  if (typeof value.t !== 'number' || typeof value.d !== 'string')
    throw new Error('not a {"t":<ms>,"d":<data>} record');
  return { arrival: new Date(value.t), data: value.d };
}
