import { describe, expect, it } from 'vitest';
import {
  applyDeadLettered,
  applyProcessed,
  EMPTY_TRACKED,
  type OrderingItem,
  planStream,
  type TrackedStream,
} from '../../functions/core/stream-gate';
import {
  EMPTY_IDS,
  idAt,
  idWindowOf,
  MAX_REMEMBERED_IDS,
  rememberIds,
} from '../../functions/core/stream-ids';

/**
 * The stream gate tells a redelivery of the same event (skipped) from another event that reuses
 * its number (processed and flagged): only a proven duplicate is ever skipped.
 */
const flag = { ordering: 'flag' as const, maxHoldSeconds: 60 };
const hold = { ordering: 'hold' as const, maxHoldSeconds: 60 };
const item = (eventId: string, seq: number, id = eventId): OrderingItem => ({ id, eventId, seq });
/** Processes `eventId` at `seq` in order, as a published batch would record it. */
const processed = (tracked: TrackedStream, ...events: [string, number][]) =>
  applyProcessed(
    tracked,
    events.map(([eventId, seq]) => ({ seq, eventId, decision: { kind: 'process' as const } })),
  );
const decide = (tracked: TrackedStream, it: OrderingItem, policy: typeof flag | typeof hold = flag) =>
  planStream(tracked, [it], policy, 0).get(it.id);

describe('reused sequence numbers', () => {
  const twoDone = processed(EMPTY_TRACKED, ['a', 1], ['b', 2]);

  it('skips only the same event at its number', () => {
    expect(decide(twoDone, item('a', 1))).toEqual({ kind: 'duplicate' });
  });

  it('processes another event at a used number, flagged with the earlier id', () => {
    expect(decide(twoDone, item('x', 1))).toEqual({
      kind: 'process',
      reused: { seq: 1, earlierId: 'a' },
    });
    // Under hold too: the number has passed, so there is nothing to wait for.
    expect(decide(twoDone, item('x', 2), hold)).toEqual({
      kind: 'process',
      reused: { seq: 2, earlierId: 'b' },
    });
  });

  it('moves nothing for a reuse: neither the stream nor the number owner', () => {
    const after = applyProcessed(twoDone, [
      { seq: 1, eventId: 'x', decision: { kind: 'process', reused: { seq: 1, earlierId: 'a' } } },
    ]);
    expect(after).toEqual(twoDone);
    expect(decide(after, item('a', 1))).toEqual({ kind: 'duplicate' });
  });

  it('never skips a number whose owner is not known: flagged with earlierId null', () => {
    // State written before ids were kept.
    const legacy: TrackedStream = { state: { contiguous: 5, ahead: [] }, givenUp: [] };
    expect(decide(legacy, item('a', 3))).toEqual({ kind: 'process', reused: { seq: 3, earlierId: null } });
    // Beyond the window of remembered ids.
    let long = EMPTY_TRACKED;
    for (let seq = 1; seq <= MAX_REMEMBERED_IDS + 10; seq++) long = processed(long, [`e${seq}`, seq]);
    expect(decide(long, item('e1', 1))).toEqual({ kind: 'process', reused: { seq: 1, earlierId: null } });
    expect(decide(long, item('e11', 11))).toEqual({ kind: 'duplicate' });
  });

  it('keeps a redrive late, and its redelivery a duplicate once it took its number', () => {
    const lettered = applyDeadLettered(processed(EMPTY_TRACKED, ['a', 1]), [2]);
    const late = decide(lettered, item('b', 2));
    expect(late).toEqual({ kind: 'process', late: true });
    const after = applyProcessed(lettered, [
      { seq: 2, eventId: 'b', decision: { kind: 'process', late: true } },
    ]);
    expect(after.state).toEqual(lettered.state);
    expect(decide(after, item('b', 2))).toEqual({ kind: 'duplicate' });
    expect(decide(after, item('c', 2))).toEqual({ kind: 'process', reused: { seq: 2, earlierId: 'b' } });
  });

  it('tells twins in one batch apart by id', () => {
    const decisions = planStream(
      twoDone,
      [item('c', 3, 'm1'), item('c', 3, 'm2'), item('d', 3, 'm3'), item('a', 1, 'm4'), item('y', 1, 'm5')],
      flag,
      0,
    );
    expect(Object.fromEntries(decisions)).toEqual({
      m1: { kind: 'process' },
      m2: { kind: 'duplicate' },
      m3: { kind: 'process', reused: { seq: 3, earlierId: 'c' } },
      m4: { kind: 'duplicate' },
      // Its twin m4 is the owner's redelivery: the owner is named.
      m5: { kind: 'process', reused: { seq: 1, earlierId: 'a' } },
    });
  });

  it('holds a twin with another id along with the record it came with', () => {
    const decisions = planStream(twoDone, [item('c', 5, 'm1'), item('d', 5, 'm2')], hold, 0);
    expect(decisions.get('m1')).toMatchObject({ kind: 'hold', missingFrom: 3, missingTo: 4 });
    expect(decisions.get('m2')).toEqual(decisions.get('m1'));
  });
});

describe('remembered ids', () => {
  it('keeps the first owner of a number and a bounded window ending at the highest number', () => {
    const window = rememberIds(EMPTY_IDS, [
      { seq: 3, id: 'c' },
      { seq: 1, id: 'a' },
      { seq: 3, id: 'other' },
    ]);
    expect(window).toEqual({ from: 1, ids: ['a', null, 'c'] });
    expect(idAt(window, 2)).toBeUndefined();
    const slid = rememberIds(window, [{ seq: 1000, id: 'z' }]);
    expect(slid.ids).toHaveLength(MAX_REMEMBERED_IDS);
    expect(slid.from).toBe(1000 - MAX_REMEMBERED_IDS + 1);
    expect(idAt(slid, 3)).toBeUndefined();
    expect(idAt(slid, 1000)).toBe('z');
    // Too old for the window: not remembered, so never proven.
    expect(rememberIds(slid, [{ seq: 5, id: 'old' }])).toEqual(slid);
  });

  it('reads anything malformed back as no window', () => {
    expect(idWindowOf({ from: 4, ids: ['a', null] })).toEqual({ from: 4, ids: ['a', null] });
    for (const bad of [null, 'x', { from: 'a', ids: [] }, { from: 1, ids: [3] }, { from: 1 }]) {
      expect(idWindowOf(bad)).toEqual(EMPTY_IDS);
    }
    expect(idWindowOf({ from: 1, ids: Array(MAX_REMEMBERED_IDS + 1).fill('a') })).toEqual(EMPTY_IDS);
  });
});
