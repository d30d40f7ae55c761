import type { SQSRecord } from 'aws-lambda';
import type { Envelope } from '../core/envelope';
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

/** A pack received, with the events of its valid requests (for the archive's rows). */
export interface ReceivedPack {
  readonly record: SQSRecord;
  readonly event: Record<string, unknown>;
  readonly envelopes: readonly Envelope[];
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
    const requestRecord = (index: number, body: unknown): SQSRecord => ({
      ...record,
      messageId: `${record.messageId}${SEPARATOR}${index}`,
      body: JSON.stringify(singleEventOf(event, body)),
    });
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
      envelopes: expanded.envelopes.map((e) => e.envelope),
      encoded: expanded.pack.data !== undefined,
    });
  }
  return out;
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
