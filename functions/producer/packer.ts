import type { Envelope } from '../core/envelope';
import { tenantSource } from '../core/events';
import { type PackEncoder, type PackInput, planPacks } from '../core/packing/pack';
import type { ProducerPackPolicy } from '../core/packing/policy';
import type { PutEventsEntry } from '../core/put-events';

/** One request as a plain entry, with its envelope when the entry is an inferbus request. */
export interface RequestEntry {
  readonly entry: PutEventsEntry;
  readonly envelope?: Envelope;
}

/** An entry to send and the requests (indexes into the input) it carries, in order. */
export interface PackedUnit {
  readonly entry: PutEventsEntry;
  readonly members: readonly number[];
}

/**
 * Packs request entries with {@link planPacks}: envelopes of one tenant, task and detail-type go
 * into packs; an entry that is not a tenant's request (a raw entry with another source, or one with
 * `Time` or `Resources`, which a pack has no place for) and a request alone in its group go as they
 * are, byte for byte. Units come back in the order of their first request.
 */
export function packRequests(
  requests: readonly RequestEntry[],
  policy: ProducerPackPolicy,
  encoder: PackEncoder | undefined,
  now?: () => Date,
): PackedUnit[] {
  const units: PackedUnit[] = [];
  const byBus = new Map<string | undefined, number[]>();
  requests.forEach((request, index) => {
    if (!packable(request)) units.push({ entry: request.entry, members: [index] });
    else {
      const bus = request.entry.EventBusName;
      const group = byBus.get(bus);
      if (group) group.push(index);
      else byBus.set(bus, [index]);
    }
  });
  for (const [bus, indexes] of byBus) {
    const inputs: PackInput[] = indexes.map((i) => {
      const { entry, envelope } = requests[i] as RequestEntry;
      return { envelope: envelope as Envelope, source: entry.Source, detailType: entry.DetailType };
    });
    for (const planned of planPacks(inputs, policy, encoder, now)) {
      const members = planned.indexes.map((k) => indexes[k] as number);
      const entry =
        members.length === 1
          ? (requests[members[0] as number] as RequestEntry).entry
          : { ...planned.entry, ...(bus === undefined ? {} : { EventBusName: bus }) };
      units.push({ entry, members });
    }
  }
  return units.sort((a, b) => (a.members[0] as number) - (b.members[0] as number));
}

function packable(request: RequestEntry): boolean {
  const { entry, envelope } = request;
  return (
    envelope !== undefined &&
    entry.Time === undefined &&
    (entry.Resources === undefined || entry.Resources.length === 0) &&
    entry.Source === tenantSource(envelope.tenant)
  );
}

/** The envelope in a plain request entry's detail, read loosely (the entry was checked when made). */
export function envelopeOfEntry(entry: PutEventsEntry): Envelope | undefined {
  if (entry.Detail === undefined) return undefined;
  try {
    const detail = JSON.parse(entry.Detail) as Partial<Envelope>;
    const ok =
      typeof detail === 'object' &&
      detail !== null &&
      typeof detail.id === 'string' &&
      typeof detail.tenant === 'string' &&
      typeof detail.stream === 'string' &&
      typeof detail.seq === 'number' &&
      !('packId' in detail);
    return ok ? (detail as Envelope) : undefined;
  } catch {
    return undefined;
  }
}
