import type { SQSRecord } from 'aws-lambda';
import { archiveRowOf } from '../core/archive/rows';
import type { Envelope } from '../core/envelope';
import { RESULT_SOURCE } from '../core/events';
import { parseQueueArn } from '../core/queue-names';
import type { ReceivedPack } from './pack-records';
import type { PackedEntries } from './result-packs';

/**
 * The archive rows the tier handlers write themselves: the archive rules leave packs out
 * (functions/core/archive/rules.ts), so the rows of what travels in packs come from here, one per
 * request, each exactly the row its rule makes for the request as a single event. Who writes a
 * pack's rows is whoever knows it is complete: the entry tier for the request packs producers
 * send, and every tier for the result and escalation packs it publishes (so an escalation pack's
 * rows come from the tier that published it, never again from the tier that takes it).
 */
export interface OwnedRow {
  readonly row: string;
  /** The records retried when the row cannot be written. */
  readonly owners: readonly SQSRecord[];
}

/** `2026-11-28T12:00:00Z`: EventBridge's event time has no milliseconds. */
const eventTime = (date: Date) => `${date.toISOString().slice(0, 19)}Z`;

/**
 * The rows of the requests of packs producers sent (not the escalation packs handlers publish).
 * Their ingestion time is the pack's event time, the closest the handler knows.
 */
export function receivedPackRows(packs: readonly ReceivedPack[]): OwnedRow[] {
  const rows: OwnedRow[] = [];
  for (const pack of packs) {
    if (pack.event.source === RESULT_SOURCE) continue;
    const time = new Date(String(pack.event.time));
    const ingestion = Number.isNaN(time.getTime()) ? new Date().toISOString() : time.toISOString();
    for (const { record, event } of pack.requests) {
      rows.push({ row: archiveRowOf(event, ingestion), owners: [record] });
    }
  }
  return rows;
}

/**
 * The rows of the packs among `published` that EventBridge accepted (`eventIds`), as the events
 * it delivered would have been had each item gone alone: the pack's event id, source, detail-type,
 * account and region (the work queue's: the bus is in the same account and region), its time.
 * A published pack whose event id is unknown gets no row: it is reported in `missing`.
 */
export function publishedPackRows(
  published: PackedEntries,
  eventIds: ReadonlyMap<number, string>,
  failed: ReadonlyMap<number, string>,
): { rows: OwnedRow[]; missing: { owners: readonly SQSRecord[]; error: string }[] } {
  const rows: OwnedRow[] = [];
  const missing: { owners: readonly SQSRecord[]; error: string }[] = [];
  published.packed.forEach((envelopes, index) => {
    if (!envelopes || failed.has(index)) return;
    const entry = published.entries[index];
    const owners = published.owners[index] ?? [];
    const id = eventIds.get(index);
    const queue = owners[0] ? parseQueueArn(owners[0].eventSourceARN) : undefined;
    if (!entry?.Time || !id || !queue) {
      missing.push({
        owners,
        error: `published pack ${index} has no ${!id ? 'event id' : !queue ? 'work queue ARN' : 'time'} to name its archive rows by`,
      });
      return;
    }
    const base = {
      version: '0',
      id,
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: queue.account,
      time: eventTime(entry.Time),
      region: queue.region,
      resources: [],
    };
    const ingestion = entry.Time.toISOString();
    for (const envelope of envelopes as readonly Envelope[]) {
      rows.push({ row: archiveRowOf({ ...base, detail: envelope }, ingestion), owners });
    }
  });
  return { rows, missing };
}
