import { randomUUID } from 'node:crypto';
import { memberShapeError } from '../aws-json-shapes.js';
import { scanJson } from '../json-members.js';
import { jsonString } from './json-text.js';

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
  entries.forEach(checkEntryShape);
  if (entriesOverLimit(entries)) {
    throw new EventBridgeApiError(
      'ValidationException',
      'Total size of the entries in the request is over the limit.',
    );
  }
}

const ENTRY_MEMBERS = [
  ['Source', 'String'],
  ['DetailType', 'String'],
  ['Detail', 'String'],
  ['EventBusName', 'String'],
  ['TraceHeader', 'String'],
  ['Time', 'Timestamp'],
  ['Resources', 'List'],
] as const;

/**
 * What AWS's deserializer refuses before any entry is looked at: a null entry (a validation error
 * naming `entries.N.member`, N from 1), an entry or a member of the wrong JSON type
 * (SerializationException). The whole request fails, as in AWS; no entry is put.
 */
function checkEntryShape(entry: unknown, index: number): void {
  if (entry === null || entry === undefined) {
    throw new EventBridgeApiError(
      'ValidationException',
      `1 validation error detected: Value null at 'entries.${index + 1}.member' failed to satisfy constraint: Member must not be null`,
    );
  }
  const problem =
    memberShapeError(`Entries[${index}]`, entry, 'Structure') ??
    ENTRY_MEMBERS.map(([name, shape]) =>
      memberShapeError(`Entries[${index}].${name}`, (entry as Record<string, unknown>)[name], shape),
    ).find((message) => message !== undefined);
  if (problem) throw new EventBridgeApiError('SerializationException', problem);
  const resources = (entry as PutEventsRequestEntry).Resources ?? [];
  resources.forEach((resource, r) => {
    const message = memberShapeError(`Entries[${index}].Resources[${r}]`, resource, 'String');
    if (message) throw new EventBridgeApiError('SerializationException', message);
    if (resource === null) {
      throw new EventBridgeApiError(
        'ValidationException',
        `1 validation error detected: Value null at 'entries.${index + 1}.member.resources.${r + 1}.member' failed to satisfy constraint: Member must not be null`,
      );
    }
  });
}

/** Whether the entries' total {@link entrySize} is over the request limit. */
function entriesOverLimit(entries: readonly PutEventsRequestEntry[]): boolean {
  let bound = 0;
  for (const entry of entries) bound += entrySizeBound(entry);
  // Counting UTF-8 bytes takes a pass over every text: only needed when the bound is over.
  if (bound <= MAX_REQUEST_ENTRY_BYTES) return false;
  let total = 0;
  for (const entry of entries) total += entrySize(entry);
  return total > MAX_REQUEST_ENTRY_BYTES;
}

/**
 * At least {@link entrySize}, as a UTF-16 code unit takes at most 3 bytes in UTF-8; NaN for an
 * entry of the wrong shape, left to `entrySize` to refuse as before.
 */
function entrySizeBound(entry: PutEventsRequestEntry): number {
  if (typeof entry !== 'object' || entry === null) return Number.NaN;
  let units = textLength(entry.Source) + textLength(entry.DetailType) + textLength(entry.Detail);
  const resources: unknown = entry.Resources;
  if (Array.isArray(resources)) for (const resource of resources) units += textLength(resource);
  else if (resources !== undefined) return Number.NaN;
  return TIME_ENTRY_BYTES + 3 * units;
}

function textLength(text: unknown): number {
  return typeof text === 'string' ? text.length : text === undefined ? 0 : Number.NaN;
}

export type EntryCheck =
  | {
      readonly ok: true;
      readonly detail: Record<string, unknown>;
      /** The Detail text itself when it is minified JSON: targets get it spliced in as is. */
      readonly detailJson?: string;
      /** With `detailJson`: where its object and array members lie (see {@link compositeMemberText}). */
      readonly detailMembers?: readonly number[];
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
  const parsed = detail as Record<string, unknown>;
  return shape.minified
    ? { ok: true, detail: parsed, detailJson: entry.Detail, detailMembers: shape.members }
    : { ok: true, detail: parsed };
}

/**
 * Deeper than any real event; past it, serialising the event for a target would exhaust the stack.
 * EventBridge documents no depth limit, so the local runtime names its own in the error.
 */
export const MAX_DETAIL_DEPTH = 1000;

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

let lastEventSecond = Number.NaN;
let lastEventTime = '';

/** `2026-11-28T12:00:00Z`: EventBridge's event time has no milliseconds. */
export function formatEventTime(date: Date): string {
  // Events come in bursts within a second: the last text is kept (an invalid date still throws).
  const second = Math.floor(date.getTime() / 1000);
  if (second !== lastEventSecond) {
    lastEventTime = `${date.toISOString().slice(0, 19)}Z`;
    lastEventSecond = second;
  }
  return lastEventTime;
}

export interface EventContext {
  readonly account: string;
  readonly region: string;
  readonly now: Date;
  readonly id?: string;
}

/**
 * The event as JSON text, what a target without an input transformer receives. Given the Detail's
 * own minified text, that text is spliced in rather than serialising the parsed detail again;
 * the envelope is written key by key, in {@link toEvent}'s order, as JSON.stringify would.
 */
export function eventJsonOf(event: EventBridgeEvent, detailJson: string | undefined): string {
  if (detailJson === undefined) return JSON.stringify(event);
  const resources = event.resources.length === 0 ? '[]' : JSON.stringify(event.resources);
  return `{"version":${jsonString(event.version)},"id":${jsonString(event.id)},"detail-type":${jsonString(event['detail-type'])},"source":${jsonString(event.source)},"account":${jsonString(event.account)},"time":${jsonString(event.time)},"region":${jsonString(event.region)},"resources":${resources},"detail":${detailJson}}`;
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
