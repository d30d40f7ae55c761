import * as z from 'zod/mini';
import { type Envelope, envelopeSchema, tenantIdSchema } from '../envelope';
import { entrySize, type PutEventsEntry } from '../put-events';

/**
 * Packed envelopes: one EventBridge entry carrying many requests (or results) of one tenant, one
 * task and one detail-type. The routing fields stay outside the packed part (`tenant`, `task`,
 * `type`, and the entry's source and detail-type), so the rules route a pack exactly as they route
 * a single event. Every request inside keeps its own id, stream, seq and hlc: ordering,
 * de-duplication, tracing, DLQ reasons and redrive stay per request.
 *
 * The packed part is either `items` (plain JSON) or `data` (a string from a pack codec, e.g.
 * `zstd-json-1:<base64>`); `count` says how many items it holds, so a truncated part is noticed.
 */

/** EventBridge bills an entry per 64 KB chunk: packs fill one chunk unless told otherwise. */
export const BILLING_CHUNK_BYTES = 64 * 1024;

export const packedDetailSchema = z.object({
  /** The pack's own id: unique per tenant, for tracing the pack and naming what derives from it. */
  packId: z.string().check(z.minLength(1), z.maxLength(128)),
  tenant: tenantIdSchema,
  task: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  type: z.string().check(z.minLength(1), z.maxLength(128)),
  time: z.iso.datetime({ offset: true }),
  count: z.int().check(z.minimum(1), z.maximum(100_000)),
  items: z.optional(z.array(z.unknown())),
  data: z.optional(z.string()),
  /**
   * The routing fields of the items' payloads that every item shares (`task`, `tier`), at the
   * path a single event has them: the escalation rules match `detail.payload.task` and
   * `detail.payload.tier`, and route a pack of escalations with the very same pattern. Items keep
   * their own payloads; this is only what the rules read.
   */
  payload: z.optional(z.object({ task: z.optional(z.string()), tier: z.optional(z.int()) })),
});
export type PackedDetail = z.infer<typeof packedDetailSchema>;

/** The members of a request that stay per request inside a pack; the rest is the pack's. */
export type PackedItem = Omit<Envelope, 'tenant' | 'task' | 'type'> & { time?: string };

/** Decodes a `data` string; throws an Error naming what is wrong. */
export interface PackDecoder {
  decode(packed: unknown): unknown[];
}
export interface PackEncoder {
  encode(items: readonly unknown[]): string;
}

/** Whether an event's detail is a pack (rather than one envelope). */
export const isPackedDetail = (detail: unknown): boolean =>
  typeof detail === 'object' &&
  detail !== null &&
  'packId' in detail &&
  ('items' in detail || 'data' in detail);

export class PackError extends Error {
  override name = 'PackError';
}

export interface ExpandedPack {
  readonly pack: PackedDetail;
  /** The requests that are valid envelopes, with their position in the pack. */
  readonly envelopes: readonly { readonly index: number; readonly envelope: Envelope }[];
  /** The items that are not, each with its raw value and the reason, to dead-letter one by one. */
  readonly poison: readonly { readonly index: number; readonly raw: unknown; readonly reason: string }[];
}

/**
 * The envelopes of a pack, each completed with the pack's tenant, task and type (an item may not
 * override them: a pack is one tenant's). Throws a PackError when the pack itself is unreadable
 * (then the whole message is poison); a bad item only lands in `poison`.
 */
export function expandPack(detail: unknown, decoder?: PackDecoder): ExpandedPack {
  const parsed = packedDetailSchema.safeParse(detail);
  if (!parsed.success) {
    throw new PackError(
      `not a valid pack: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
    );
  }
  const pack = parsed.data;
  if ((pack.items === undefined) === (pack.data === undefined)) {
    throw new PackError('a pack carries exactly one of "items" (JSON) or "data" (encoded)');
  }
  let items: unknown[];
  if (pack.items) items = pack.items;
  else {
    if (!decoder) throw new PackError('the pack is encoded ("data") and no decoder was given');
    try {
      items = decoder.decode(pack.data);
    } catch (error) {
      throw new PackError((error as Error).message);
    }
  }
  if (items.length !== pack.count) {
    throw new PackError(`the pack says it holds ${pack.count} items, its packed part holds ${items.length}`);
  }
  const envelopes: { index: number; envelope: Envelope }[] = [];
  const poison: { index: number; raw: unknown; reason: string }[] = [];
  items.forEach((raw, index) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      poison.push({ index, raw, reason: `item ${index} of pack ${pack.packId} is not an object` });
      return;
    }
    const own = raw as Record<string, unknown>;
    const clash = (['tenant', 'task', 'type'] as const).find((k) => k in own && own[k] !== pack[k]);
    if (clash) {
      poison.push({
        index,
        raw,
        reason: `item ${index} of pack ${pack.packId} sets ${clash}=${JSON.stringify(own[clash])}, the pack's is ${JSON.stringify(pack[clash])}`,
      });
      return;
    }
    const candidate = {
      ...own,
      tenant: pack.tenant,
      type: pack.type,
      time: own.time ?? pack.time,
      ...(pack.task ? { task: pack.task } : {}),
    };
    const envelope = envelopeSchema.safeParse(candidate);
    if (!envelope.success) {
      poison.push({
        index,
        raw,
        reason: `item ${index} of pack ${pack.packId}: ${envelope.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
      });
      return;
    }
    envelopes.push({ index, envelope: envelope.data });
  });
  return { pack, envelopes, poison };
}

export interface PackPolicy {
  /** Most requests in one pack. */
  readonly maxItems: number;
  /** Most bytes of one entry (EventBridge's size rules); default one 64 KB billing chunk. */
  readonly maxEntryBytes: number;
}
export const DEFAULT_PACK_POLICY: PackPolicy = { maxItems: 500, maxEntryBytes: BILLING_CHUNK_BYTES };

export interface PackInput {
  readonly envelope: Envelope;
  /** The entry's source for this envelope's tenant (`inferbus.<tenant>` or the results source). */
  readonly source: string;
  readonly detailType: string;
}

export interface PlannedEntry {
  readonly entry: PutEventsEntry;
  /** Indexes into the inputs that this entry carries, in order. */
  readonly indexes: readonly number[];
}

/**
 * Packs envelopes into entries: consecutive runs of one (source, detail-type, tenant, task) go
 * into packs of at most `maxItems` whose entry stays within `maxEntryBytes`; an envelope that is
 * alone in its group, or too large to share an entry, goes as a plain single event (so producers
 * that send one request at a time see no change). Order inside a group is kept. `packIdOf` names
 * a pack from its first and last envelopes (deterministic, so a resent pack keeps its id).
 */
export function planPacks(
  inputs: readonly PackInput[],
  policy: PackPolicy = DEFAULT_PACK_POLICY,
  encoder?: PackEncoder,
  now: () => Date = () => new Date(),
): PlannedEntry[] {
  const groups = new Map<string, number[]>();
  inputs.forEach((input, index) => {
    const key = JSON.stringify([
      input.source,
      input.detailType,
      input.envelope.tenant,
      taskOf(input.envelope) ?? null,
      // Items of one pack share what the rules route on, in their payloads too.
      routingOf(input.envelope) ?? null,
    ]);
    const group = groups.get(key);
    if (group) group.push(index);
    else groups.set(key, [index]);
  });
  const planned: PlannedEntry[] = [];
  const build = (run: readonly number[]) => entryFor(run, inputs, encoder, now);
  for (const indexes of groups.values()) {
    // Bytes of each request's item as plain JSON, and the entry bytes per such byte of the group's
    // last pack: a first guess at how many fit, so a pack takes a few encodes, not log2(maxItems).
    const raw = indexes.map((i) =>
      Buffer.byteLength(JSON.stringify(itemOf((inputs[i] as PackInput).envelope))),
    );
    let ratio = encoder ? 0.5 : 1;
    let start = 0;
    while (start < indexes.length) {
      const hi = Math.min(policy.maxItems, indexes.length - start);
      const built = new Map<number, PlannedEntry>();
      const size = (k: number) => {
        const entry = build(indexes.slice(start, start + k));
        built.set(k, entry);
        return entrySize(entry.entry);
      };
      const best =
        hi === 1
          ? 1
          : longestFitting(
              size,
              policy.maxEntryBytes,
              guessCount(raw, start, hi, ratio, policy.maxEntryBytes),
              hi,
            );
      const pack = built.get(best) ?? build(indexes.slice(start, start + best));
      if (best > 1) {
        const rawBytes = raw.slice(start, start + best).reduce((sum, b) => sum + b, 0);
        ratio = entrySize(pack.entry) / rawBytes;
      }
      planned.push(pack);
      start += best;
    }
  }
  return planned;
}

/** How many requests from `start` an entry of `maxBytes` holds if each takes `ratio` of its JSON bytes. */
function guessCount(
  raw: readonly number[],
  start: number,
  hi: number,
  ratio: number,
  maxBytes: number,
): number {
  let bytes = 0;
  let k = 0;
  while (k < hi && bytes + (raw[start + k] as number) * ratio <= maxBytes)
    bytes += (raw[start + k++] as number) * ratio;
  return Math.max(1, k);
}

/**
 * The largest k in 1..hi whose `size(k)` is at most `max` (k = 1 always counts as fitting), from
 * a first `guess`. Sizes grow about in proportion to k, so each next try interpolates between the
 * nearest sizes known on either side (or scales from the origin while one side is unknown); a
 * close guess costs two or three calls, and bisection takes over when a side stops moving.
 * Assumes `size` grows with k.
 */
export function longestFitting(size: (k: number) => number, max: number, guess: number, hi: number): number {
  let lo = 1; // largest known to fit, and its size (0: not measured)
  let loBytes = 0;
  let bad = hi + 1; // smallest known not to fit, and its size
  let badBytes = Number.POSITIVE_INFINITY;
  let k = Math.min(Math.max(guess, 2), hi);
  let lastSide = 0;
  let sameSide = 0;
  while (bad - lo > 1) {
    const bytes = size(k);
    const side = bytes <= max ? 1 : -1;
    if (side > 0) [lo, loBytes] = [k, bytes];
    else [bad, badBytes] = [k, bytes];
    sameSide = side === lastSide ? sameSide + 1 : 0;
    lastSide = side;
    if (bad - lo <= 1) break;
    let next: number;
    if (sameSide >= 2 && loBytes > 0 && Number.isFinite(badBytes)) next = (lo + bad) >> 1;
    else if (loBytes > 0 && Number.isFinite(badBytes)) {
      next = lo + Math.floor(((max - loBytes) * (bad - lo)) / (badBytes - loBytes));
    } else next = Math.floor((k * max) / Math.max(bytes, 1)) + (side > 0 ? 1 : -1);
    k = Math.min(Math.max(next, lo + 1), bad - 1);
  }
  return lo;
}

function entryFor(
  indexes: readonly number[],
  inputs: readonly PackInput[],
  encoder: PackEncoder | undefined,
  now: () => Date,
): PlannedEntry {
  const first = inputs[indexes[0] as number] as PackInput;
  if (indexes.length === 1) {
    return {
      indexes,
      entry: { Source: first.source, DetailType: first.detailType, Detail: JSON.stringify(first.envelope) },
    };
  }
  const items = indexes.map((i) => itemOf((inputs[i] as PackInput).envelope));
  const last = (inputs[indexes[indexes.length - 1] as number] as PackInput).envelope;
  const { tenant, type } = first.envelope;
  const task = taskOf(first.envelope);
  const routing = routingOf(first.envelope);
  const detail: PackedDetail = {
    packId: `${first.envelope.id}..${last.id}#${indexes.length}`.slice(0, 128),
    tenant,
    ...(task ? { task } : {}),
    type,
    ...(routing ? { payload: routing } : {}),
    time: now().toISOString(),
    count: items.length,
    ...(encoder ? { data: encoder.encode(items) } : { items }),
  };
  return {
    indexes,
    entry: { Source: first.source, DetailType: first.detailType, Detail: JSON.stringify(detail) },
  };
}

/** The per-request part of an envelope: what a pack item carries. */
export function itemOf(envelope: Envelope): PackedItem {
  const { tenant: _tenant, task: _task, type: _type, ...item } = envelope as Envelope & { task?: string };
  return item;
}

const taskOf = (envelope: Envelope): string | undefined => envelope.task;

/** The payload fields rules route on (results and escalations carry both), when present. */
function routingOf(envelope: Envelope): { task?: string; tier?: number } | undefined {
  const { task, tier } = envelope.payload as { task?: unknown; tier?: unknown };
  const routing = {
    ...(typeof task === 'string' ? { task } : {}),
    ...(typeof tier === 'number' && Number.isInteger(tier) ? { tier } : {}),
  };
  return Object.keys(routing).length > 0 ? routing : undefined;
}
