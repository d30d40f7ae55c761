import { randomUUID } from 'node:crypto';

/**
 * PutEvents entries → EventBridge events, with the per-entry answers AWS gives. The messages are
 * the ones AWS returns (recorded against AWS in LocalStack's snapshot tests, tests/aws/services/
 * events/test_events.snapshot.json); sizes follow "Calculating Amazon EventBridge PutEvents event
 * entry size" in the EventBridge user guide.
 */

/** Most entries in one PutEvents request. */
export const MAX_ENTRIES_PER_REQUEST = 10;
/** Total entry size a request may carry: 1 MiB since January 2026 (256 KiB before). */
export const MAX_REQUEST_ENTRY_BYTES = 1024 * 1024;
/** What a present `Time` counts for in the entry size. */
export const TIME_ENTRY_BYTES = 14;

export interface PutEventsRequestEntry {
  readonly Time?: string | number | Date;
  readonly Source?: string;
  readonly Resources?: readonly string[];
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
  readonly TraceHeader?: string;
}

export interface PutEventsResultEntry {
  readonly EventId?: string;
  readonly ErrorCode?: string;
  readonly ErrorMessage?: string;
}

/** The event as EventBridge delivers it to targets. */
export interface EventBridgeEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

/** A whole-request failure, answered as `{ __type, message }` with HTTP 400. */
export class EventBridgeApiError extends Error {
  override readonly name = 'EventBridgeApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const utf8 = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));

export function entrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time !== undefined && entry.Time !== null ? TIME_ENTRY_BYTES : 0;
  size += utf8(entry.Source) + utf8(entry.DetailType) + utf8(entry.Detail);
  for (const resource of entry.Resources ?? []) size += utf8(resource);
  return size;
}

/** Request-level checks AWS makes before looking at single entries. */
export function validateRequest(entries: unknown): asserts entries is PutEventsRequestEntry[] {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new EventBridgeApiError(
      'ValidationException',
      "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null",
    );
  }
  if (entries.length > MAX_ENTRIES_PER_REQUEST) {
    throw new EventBridgeApiError(
      'ValidationException',
      `1 validation error detected: Value '[...${entries.length} entries]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES_PER_REQUEST}`,
    );
  }
  const total = entries.reduce((sum: number, e) => sum + entrySize(e as PutEventsRequestEntry), 0);
  if (total > MAX_REQUEST_ENTRY_BYTES) {
    throw new EventBridgeApiError(
      'ValidationException',
      'Total size of the entries in the request is over the limit.',
    );
  }
}

export type EntryCheck =
  | {
      readonly ok: true;
      readonly detail: Record<string, unknown>;
      /** The Detail text itself when it is minified JSON: targets get it spliced in as is. */
      readonly detailJson?: string;
    }
  | { readonly ok: false; readonly result: PutEventsResultEntry };

const invalid = (field: string): EntryCheck => ({
  ok: false,
  result: {
    ErrorCode: 'InvalidArgument',
    ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
  },
});
const MALFORMED: EntryCheck = {
  ok: false,
  result: { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
};

/** Per-entry validation, in the order AWS applies it: Source, DetailType, Detail, then its JSON. */
export function checkEntry(entry: PutEventsRequestEntry): EntryCheck {
  if (!entry.Source) return invalid('Source');
  if (!entry.DetailType) return invalid('DetailType');
  if (!entry.Detail) return invalid('Detail');
  const shape = scanJson(entry.Detail);
  if (shape.depth > MAX_DETAIL_DEPTH) {
    return {
      ok: false,
      result: {
        ErrorCode: 'MalformedDetail',
        ErrorMessage: `Detail is malformed: it nests deeper than ${MAX_DETAIL_DEPTH} levels.`,
      },
    };
  }
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    return MALFORMED;
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return MALFORMED;
  if (entry.Time !== undefined && parseEntryTime(entry.Time) === null) {
    return {
      ok: false,
      result: { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Time is not valid.' },
    };
  }
  return {
    ok: true,
    detail: detail as Record<string, unknown>,
    ...(shape.minified ? { detailJson: entry.Detail } : {}),
  };
}

/**
 * Deeper than any real event; past it, serialising the event for a target would exhaust the stack.
 * EventBridge documents no depth limit, so the local runtime names its own in the error.
 */
export const MAX_DETAIL_DEPTH = 1000;

/** Deepest nesting of objects and arrays in JSON text, ignoring brackets inside strings. */
export function nestingDepth(json: string): number {
  return scanJson(json).depth;
}

/**
 * One pass over JSON text: its deepest nesting, and whether it is minified (no whitespace outside
 * strings), i.e. what JSON.stringify of the parsed value would write, up to equivalent escapes and
 * number spellings.
 */
function scanJson(json: string): { depth: number; minified: boolean } {
  let depth = 0;
  let deepest = 0;
  let minified = true;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      // A string: jump to its closing quote (one preceded by an even number of backslashes).
      let end = json.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(json, end)) end = json.indexOf('"', end + 1);
      if (end === -1) break; // unterminated: JSON.parse reports it
      i = end;
    } else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) minified = false;
  }
  return { depth: deepest, minified };
}

/**
 * The text of member `key` of the JSON object in minified `json` (the last one, as JSON.parse keeps
 * the last of duplicate keys); undefined when absent, or when a member name has an escape (its
 * text could spell `key` differently). Lets a target splice a detail member in as it was sent
 * instead of serialising the parsed value again.
 */
export function memberText(json: string, key: string): string | undefined {
  if (json.charCodeAt(0) !== 0x7b) return undefined;
  const name = `"${key}"`;
  let depth = 0;
  let valueStart = -1;
  let found: string | undefined;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      let end = json.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(json, end)) end = json.indexOf('"', end + 1);
      if (end === -1) return undefined;
      if (depth === 1 && json.charCodeAt(end + 1) === 0x3a) {
        for (let k = i + 1; k < end; k++) if (json.charCodeAt(k) === 0x5c) return undefined;
        if (end - i + 1 === name.length && json.startsWith(name, i)) valueStart = end + 2;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d || (c === 0x2c && depth === 1)) {
      if (c !== 0x2c) depth--;
      if (depth <= 1 && valueStart !== -1 && (c === 0x2c || depth === 0)) {
        found = json.slice(valueStart, i);
        valueStart = -1;
      }
    }
  }
  return found;
}

function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  for (let i = at - 1; i >= 0 && text.charCodeAt(i) === 0x5c; i--) backslashes++;
  return backslashes % 2 === 1;
}

/** The SDK sends Time as epoch seconds (JSON 1.1); an ISO string is accepted too. */
export function parseEntryTime(time: string | number | Date): Date | null {
  const date =
    time instanceof Date
      ? time
      : typeof time === 'number' || /^\d+(\.\d+)?$/.test(time)
        ? new Date(Number(time) * 1000)
        : new Date(time);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** `2026-11-28T12:00:00Z`: EventBridge's event time has no milliseconds. */
export function formatEventTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

export interface EventContext {
  readonly account: string;
  readonly region: string;
  readonly now: Date;
  readonly id?: string;
}

/**
 * The event as JSON text, what a target without an input transformer receives. Given the Detail's
 * own minified text, that text is spliced in rather than serialising the parsed detail again
 * (`detail` is the last key, as in {@link toEvent}).
 */
export function eventJsonOf(event: EventBridgeEvent, detailJson: string | undefined): string {
  if (detailJson === undefined) return JSON.stringify(event);
  const { detail: _detail, ...envelope } = event;
  return `${JSON.stringify(envelope).slice(0, -1)},"detail":${detailJson}}`;
}

export function toEvent(
  entry: PutEventsRequestEntry,
  detail: Record<string, unknown>,
  context: EventContext,
): EventBridgeEvent {
  const time = entry.Time === undefined ? context.now : (parseEntryTime(entry.Time) ?? context.now);
  return {
    version: '0',
    id: context.id ?? randomUUID(),
    'detail-type': entry.DetailType as string,
    source: entry.Source as string,
    account: context.account,
    time: formatEventTime(time),
    region: context.region,
    resources: [...(entry.Resources ?? [])],
    detail,
  };
}
