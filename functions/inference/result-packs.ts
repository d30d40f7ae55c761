import type { SQSRecord } from 'aws-lambda';
import type { Envelope } from '../core/envelope';
import { DetailType } from '../core/events';
import { DEFAULT_PACK_POLICY, type PackEncoder, type PackInput, planPacks } from '../core/packing/pack';
import type { PutEventsEntry } from '../core/put-events';
import { messageIdOf } from './pack-records';

/** Results and escalations go out packed; failure notices and sequence gaps stay single events. */
const PACKED_RESULT_TYPES: ReadonlySet<string> = new Set([
  DetailType.InferenceCompleted,
  DetailType.EscalationRequested,
]);

export interface OwnedEntries {
  readonly entries: PutEventsEntry[];
  /** The records behind each entry, index for index: all are retried if it is not published. */
  readonly owners: SQSRecord[][];
}

/** Entries with, for each pack among them, the envelopes it carries (undefined: a single event). */
export interface PackedEntries extends OwnedEntries {
  readonly packed: (readonly Envelope[] | undefined)[];
}

/**
 * The results of the requests of one received pack, packed again: per SQS message, one
 * InferenceCompleted pack and one EscalationRequested pack (more only past one 64 KB entry), each
 * item keeping its own result id. A pack that came encoded gets encoded results (`encodedMessages`
 * names those messages). Results of plain single events stay single events, so nothing changes
 * for producers that do not pack; so does a pack's lone result of a kind.
 */
export function packResults(
  { entries, owners }: OwnedEntries,
  encodedMessages: ReadonlySet<string>,
  encoder: PackEncoder | undefined,
  now: () => Date,
): PackedEntries {
  const out: PackedEntries = { entries: [], owners: [], packed: [] };
  const byMessage = new Map<string, number[]>();
  entries.forEach((entry, index) => {
    const entryOwners = owners[index] as SQSRecord[];
    const owner = entryOwners[0];
    const fromPack =
      entryOwners.length === 1 && owner !== undefined && messageIdOf(owner) !== owner.messageId;
    if (!fromPack || !PACKED_RESULT_TYPES.has(entry.DetailType)) {
      out.entries.push(entry);
      out.owners.push(entryOwners);
      out.packed.push(undefined);
      return;
    }
    const message = messageIdOf(owner);
    const group = byMessage.get(message);
    if (group) group.push(index);
    else byMessage.set(message, [index]);
  });
  for (const [message, indexes] of byMessage) {
    const inputs: PackInput[] = indexes.map((index) => {
      const entry = entries[index] as PutEventsEntry;
      return {
        envelope: JSON.parse(entry.Detail as string) as Envelope,
        source: entry.Source,
        detailType: entry.DetailType,
      };
    });
    const planned = planPacks(
      inputs,
      DEFAULT_PACK_POLICY,
      encodedMessages.has(message) ? encoder : undefined,
      now,
    );
    const time = now();
    for (const { entry, indexes: carried } of planned) {
      const isPack = carried.length > 1;
      // A pack's entry names its time, so its requests' archive rows can name the event's time.
      out.entries.push(isPack ? { ...entry, Time: time } : entry);
      out.owners.push(carried.flatMap((i) => owners[indexes[i] as number] as SQSRecord[]));
      out.packed.push(isPack ? carried.map((i) => (inputs[i] as PackInput).envelope) : undefined);
    }
  }
  return out;
}
