import { readChecksum } from '../checksum.js';
import { decodeLine, encodeLine, encodeSeal } from '../firehose/wal-format.js';
import type { LostRange } from './report.js';

/**
 * Every intact record line of a Firehose write-ahead log segment (either format), as a new sealed
 * segment; lines that do not decode (or whose checksum does not match) are reported.
 */
export function salvageWalSegment(buf: Buffer): { bytes: Buffer; kept: number; lost: LostRange[] } {
  const checked = buf.length >= 9 && readChecksum(buf, 0) !== undefined;
  const lines: Buffer[] = [];
  const lost: LostRange[] = [];
  for (let start = 0; start < buf.length; ) {
    const newline = buf.indexOf(0x0a, start);
    const end = newline < 0 ? buf.length : newline + 1;
    if (newline < 0) lost.push({ offset: start, bytes: end - start, reason: 'an unfinished last line' });
    else {
      try {
        const line = decodeLine(buf, start, end, checked);
        if (line.kind === 'record') lines.push(encodeLine(line.record.arrival, line.record.data));
      } catch (error) {
        lost.push({ offset: start, bytes: end - start, reason: (error as Error).message });
      }
    }
    start = end;
  }
  lines.push(encodeSeal(lines.length));
  return { bytes: Buffer.concat(lines), kept: lines.length - 1, lost };
}
