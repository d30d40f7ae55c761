import { readFully } from '../fs-sync.js';
import type { BodyLocation } from './queue.js';

/** Records at most this far apart are read together: reading the gap costs less than another read call. */
const MAX_GAP_BYTES = 32 * 1024;
/** Most bytes read at once (a single larger record is still read whole). */
const MAX_SPAN_BYTES = 1 << 20;

/**
 * The bytes of the records at `locations` (views), in the order given. Records near each other in
 * the file are read with one read call: the messages of one receive, or of a compaction slice, were
 * mostly written one after another. `short` makes the error for a file that ends too soon.
 */
export function readRecords(
  fd: number,
  locations: readonly BodyLocation[],
  short: (offset: number) => Error,
): Buffer[] {
  const byOffset = locations
    .map((_, i) => i)
    .sort((a, b) => at(locations, a).offset - at(locations, b).offset);
  const out = new Array<Buffer>(locations.length);
  for (let i = 0; i < byOffset.length; ) {
    const spanStart = at(locations, byOffset[i] as number).offset;
    let spanEnd = spanStart;
    let j = i;
    for (; j < byOffset.length; j++) {
      const loc = at(locations, byOffset[j] as number);
      const end = loc.offset + loc.length;
      if (j > i && (loc.offset - spanEnd > MAX_GAP_BYTES || end - spanStart > MAX_SPAN_BYTES)) break;
      spanEnd = Math.max(spanEnd, end);
    }
    const span = readFully(fd, spanEnd - spanStart, spanStart, () => short(spanStart));
    for (; i < j; i++) {
      const index = byOffset[i] as number;
      const loc = at(locations, index);
      out[index] = span.subarray(loc.offset - spanStart, loc.offset - spanStart + loc.length);
    }
  }
  return out;
}

function at(locations: readonly BodyLocation[], index: number): BodyLocation {
  return locations[index] as BodyLocation;
}
