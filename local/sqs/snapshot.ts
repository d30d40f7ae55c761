import type { SnapshotEntry } from './compaction.js';
import type { MoveTasks } from './move-tasks.js';
import { DELAYED, IN_FLIGHT, type Queue } from './queue.js';
import type { SendRecord } from './records.js';

/**
 * The state as records for compaction to write (replaying them rebuilds it, see `LogReplay`); a body
 * is read only when its record is written. Renumbers enqueue sequences first, so replaying the
 * snapshot gives the same.
 */
export function* snapshotRecords(queues: readonly Queue[], tasks: MoveTasks): Iterable<SnapshotEntry> {
  tasks.renumber();
  for (const q of queues) {
    for (const m of q.messages.values()) {
      const r: Omit<SendRecord, 'b'> = { t: 's', q: q.model.name, id: m.id, ts: m.sentAt };
      if (m.attributes !== undefined) r.a = m.attributes;
      if (m.state === IN_FLIGHT || m.state === DELAYED) r.v = m.visibleAt;
      if (m.receiveCount > 0) r.n = m.receiveCount;
      if (m.firstReceiveAt > 0) r.f = m.firstReceiveAt;
      if (m.receipt !== '') r.k = m.receipt;
      if (m.origin !== undefined) r.o = m.origin;
      yield { send: r, body: m };
    }
  }
  yield* tasks.snapshot();
}
