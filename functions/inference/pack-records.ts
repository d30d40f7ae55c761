import type { SQSRecord } from 'aws-lambda';
import { expandPack, type PackDecoder, PackError } from '../core/packing/pack';

/**
 * SQS records whose event carries a pack, turned into one record per request, so that everything
 * after (gate, claims, scoring, results, dead letters, re-queues) runs per request exactly as for
 * single events. A request's record keeps its message's receipt and attributes, takes the id
 * `<messageId>#<index>` (unique in the batch, so the stream gate and the failure bookkeeping see
 * each request on its own), and its body is the request as a plain single event: what its dead
 * letter or its re-queued copy carries, so redrive and `dlq show` work unchanged.
 *
 * Batch item failures stay per SQS message: {@link messageIdOf} maps a request back to it, and a
 * pack's message is handed back when any of its requests must be retried.
 */

/** A request found unreadable while expanding, dead-lettered at once with the reason. */
export interface ExpansionPoison {
  readonly record: SQSRecord;
  readonly errorCode: 'InvalidPack' | 'InvalidEnvelope';
  readonly errorMessage: string;
  readonly tenant?: string;
  readonly sourceId?: string;
}

/** A pack received, with each of its requests as a single event (for the archive's rows). */
export interface ReceivedPack {
  readonly record: SQSRecord;
  readonly event: Record<string, unknown>;
  /** Every item, valid or poison, in the pack's order, with the record it became. */
  readonly requests: readonly { readonly record: SQSRecord; readonly event: Record<string, unknown> }[];
  /** Whether its requests came encoded (`data`): its results go out encoded too. */
  readonly encoded: boolean;
}

export interface ExpandedRecords {
  /** One record per request, plain records unchanged, in the batch's order. */
  readonly records: SQSRecord[];
  readonly poison: ExpansionPoison[];
  readonly packs: ReceivedPack[];
}

const SEPARATOR = '#';

/** The SQS message a (possibly expanded) record came from: what a batch item failure names. */
export const messageIdOf = (record: Pick<SQSRecord, 'messageId'>): string => {
  const at = record.messageId.lastIndexOf(SEPARATOR);
  return at < 0 ? record.messageId : record.messageId.slice(0, at);
};

/** The request as a single event: the pack's event with this request as its detail. */
export const singleEventOf = (event: Record<string, unknown>, detail: unknown): Record<string, unknown> => ({
  ...event,
  detail,
});

export function expandRecords(records: readonly SQSRecord[], decoder?: PackDecoder): ExpandedRecords {
  const out: ExpandedRecords = { records: [], poison: [], packs: [] };
  for (const record of records) {
    const event = packEventOf(record.body);
    if (!event) {
      out.records.push(record);
      continue;
    }
    const detail = event.detail as Record<string, unknown>;
    let expanded: ReturnType<typeof expandPack>;
    try {
      expanded = expandPack(detail, decoder);
    } catch (error) {
      if (!(error instanceof PackError)) throw error;
      out.poison.push({
        record,
        errorCode: 'InvalidPack',
        errorMessage: `detail: ${error.message}; nothing in it was processed, fix the pack and redrive it`,
        ...(typeof detail.tenant === 'string' ? { tenant: detail.tenant } : {}),
      });
      continue;
    }
    const requests: { index: number; record: SQSRecord; event: Record<string, unknown> }[] = [];
    const requestRecord = (index: number, detail: unknown): SQSRecord => {
      const single = singleEventOf(event, detail);
      const own = requestRecordOf(record, `${record.messageId}${SEPARATOR}${index}`, single);
      requests.push({ index, record: own, event: single });
      return own;
    };
    const byIndex = new Map<number, SQSRecord>();
    for (const { index, envelope } of expanded.envelopes) byIndex.set(index, requestRecord(index, envelope));
    for (const { index, raw, reason } of expanded.poison) {
      // The item as sent, completed with the pack's routing fields where it left them out, so
      // its dead letter is a single event that reads (and redrives) like any other request.
      const body =
        typeof raw === 'object' && raw !== null && !Array.isArray(raw)
          ? { tenant: expanded.pack.tenant, type: expanded.pack.type, ...(raw as object) }
          : raw;
      const poisonRecord = requestRecord(index, body);
      const id = (raw as { id?: unknown } | null)?.id;
      out.poison.push({
        record: poisonRecord,
        errorCode: 'InvalidEnvelope',
        errorMessage: reason,
        tenant: expanded.pack.tenant,
        ...(typeof id === 'string' ? { sourceId: id } : {}),
      });
    }
    // Requests keep their order in the pack: the stream gate sees them as it would single events.
    for (const index of [...byIndex.keys()].sort((a, b) => a - b))
      out.records.push(byIndex.get(index) as SQSRecord);
    out.packs.push({
      record,
      event,
      requests: requests.sort((a, b) => a.index - b.index).map(({ record, event }) => ({ record, event })),
      encoded: expanded.pack.data !== undefined,
    });
  }
  return out;
}

/** Each request's event, parsed: the handler reads it from here rather than parsing its body. */
const eventsOfRecords = new WeakMap<SQSRecord, Record<string, unknown>>();

/** The event of a request expanded from a pack; undefined for a record as SQS delivered it. */
export const expandedEventOf = (record: SQSRecord): Record<string, unknown> | undefined =>
  eventsOfRecords.get(record);

/**
 * A request's own record. Its body (the single event as JSON text) is written only when something
 * reads it (a dead letter, a re-queue): most requests never need it.
 */
function requestRecordOf(record: SQSRecord, messageId: string, event: Record<string, unknown>): SQSRecord {
  let body: string | undefined;
  const own = { ...record, messageId } as SQSRecord;
  Object.defineProperty(own, 'body', {
    enumerable: true,
    get: () => {
      body ??= JSON.stringify(event);
      return body;
    },
  });
  eventsOfRecords.set(own, event);
  return own;
}

/** The record's event when its detail is a pack; undefined for anything else (parsed as today). */
function packEventOf(body: string): Record<string, unknown> | undefined {
  // Cheap test first: most single events' bodies do not hold the key at all.
  if (!body.includes('"packId"')) return undefined;
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof event !== 'object' || event === null) return undefined;
  // Anything with a packId is read as a pack (and refused whole when it is not a valid one): the
  // archive rules leave every event with a packId to the handlers' rows.
  const detail = (event as { detail?: unknown }).detail;
  return typeof detail === 'object' && detail !== null && 'packId' in detail
    ? (event as Record<string, unknown>)
    : undefined;
}
