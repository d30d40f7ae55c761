/**
 * PutEvents limits and entry sizes, computed the way AWS documents them ("Calculating Amazon
 * EventBridge PutEvents event entry size"): Time counts 14 bytes when set; Source, DetailType,
 * Detail and each Resources entry count their UTF-8 bytes. Used by the handlers, the CLI and the
 * local bus alike, so all three agree on what fits.
 */
export const MAX_ENTRIES_PER_REQUEST = 10;
/** EventBridge raised the entry and request limit from 256 KB to 1 MB in January 2026. */
export const MAX_ENTRY_BYTES = 1024 * 1024;
export const MAX_REQUEST_BYTES = 1024 * 1024;

export interface PutEventsEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail?: string;
  readonly Resources?: readonly string[];
  readonly Time?: Date;
  readonly EventBusName?: string;
}

export function entrySize(entry: PutEventsEntry): number {
  let size = entry.Time ? 14 : 0;
  size += Buffer.byteLength(entry.Source, 'utf8') + Buffer.byteLength(entry.DetailType, 'utf8');
  if (entry.Detail !== undefined) size += Buffer.byteLength(entry.Detail, 'utf8');
  for (const resource of entry.Resources ?? []) size += Buffer.byteLength(resource, 'utf8');
  return size;
}

export class EntryTooLargeError extends Error {
  override readonly name = 'EntryTooLargeError';
  constructor(
    readonly index: number,
    readonly size: number,
  ) {
    super(`entry ${index} is ${size} bytes; EventBridge accepts at most ${MAX_ENTRY_BYTES} bytes per entry`);
  }
}

/**
 * Splits entries into requests of at most 10 entries and 1 MB, keeping their order. Returns
 * indexes into `entries` so callers can map failures back. Throws for an entry that can never fit.
 */
export function planRequests(
  entries: readonly PutEventsEntry[],
  limits = { maxEntries: MAX_ENTRIES_PER_REQUEST, maxBytes: MAX_REQUEST_BYTES },
): number[][] {
  const requests: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  entries.forEach((entry, index) => {
    const size = entrySize(entry);
    if (size > Math.min(MAX_ENTRY_BYTES, limits.maxBytes)) throw new EntryTooLargeError(index, size);
    if (current.length === limits.maxEntries || bytes + size > limits.maxBytes) {
      requests.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length > 0) requests.push(current);
  return requests;
}
