import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../functions/core/envelope';
import {
  BILLING_CHUNK_BYTES,
  expandPack,
  isPackedDetail,
  PackError,
  type PackInput,
  planPacks,
} from '../../functions/core/packing/pack';
import { entrySize } from '../../functions/core/put-events';
import { escalationPattern } from '../../functions/core/routing';
import { matchesPattern } from '../../local/eventbridge/match';

const NOW = () => new Date('2026-12-07T08:00:00.000Z');

function request(
  tenant: string,
  seq: number,
  text = `message ${seq}`,
  extra: Record<string, unknown> = {},
): PackInput {
  const envelope = {
    id: `${tenant}-${seq}`,
    tenant,
    stream: 's1',
    seq,
    hlc: `1765094400000-${seq}-n1`,
    type: 'InferenceRequested',
    payload: { text },
    metadata: {},
    time: '2026-12-07T08:00:00.000Z',
    ...extra,
  } as Envelope;
  return { envelope, source: `inferbus.${tenant}`, detailType: 'InferenceRequested' };
}

describe('planPacks', () => {
  it('packs a tenant run into one entry and leaves a lone request as a plain event', () => {
    const inputs = [request('acme', 1), request('acme', 2), request('acme', 3), request('globex', 1)];
    const planned = planPacks(inputs, undefined, undefined, NOW);
    expect(planned.map((p) => p.indexes)).toEqual([[0, 1, 2], [3]]);
    const lone = JSON.parse(planned[1]?.entry.Detail ?? '{}');
    expect(lone).toEqual(inputs[3]?.envelope);
    expect(isPackedDetail(lone)).toBe(false);
    const pack = JSON.parse(planned[0]?.entry.Detail ?? '{}');
    expect(isPackedDetail(pack)).toBe(true);
    expect(pack).toMatchObject({ tenant: 'acme', type: 'InferenceRequested', count: 3 });
    expect(pack.items[0]).not.toHaveProperty('tenant');
  });

  it('keeps every pack within one 64 KB billing chunk and every request in exactly one entry, in order', () => {
    const inputs = Array.from({ length: 400 }, (_, i) => request('acme', i, 'x'.repeat(700 + (i % 13) * 50)));
    const planned = planPacks(inputs, undefined, undefined, NOW);
    expect(planned.length).toBeGreaterThan(1);
    for (const { entry } of planned) expect(entrySize(entry)).toBeLessThanOrEqual(BILLING_CHUNK_BYTES);
    expect(planned.flatMap((p) => p.indexes)).toEqual(inputs.map((_, i) => i));
    // Filled, not timid: each full pack leaves less than one more request's room in its chunk.
    const full = planned.slice(0, -1).map((p) => entrySize(p.entry));
    for (const size of full) expect(BILLING_CHUNK_BYTES - size).toBeLessThan(1_500);
  });

  it('never packs two tenants, tasks or detail-types together', () => {
    const inputs = [
      request('acme', 1),
      request('acme', 2, 'a', { task: 'sensor' }),
      request('acme', 3),
      { ...request('acme', 4), detailType: 'EscalationRequested' },
    ];
    const planned = planPacks(inputs, undefined, undefined, NOW);
    expect(planned.map((p) => p.indexes)).toEqual([[0, 2], [1], [3]]);
  });

  it('sends a request larger than the chunk alone rather than failing it', () => {
    const planned = planPacks(
      [request('acme', 1, 'y'.repeat(70_000)), request('acme', 2)],
      undefined,
      undefined,
      NOW,
    );
    expect(planned.map((p) => p.indexes)).toEqual([[0], [1]]);
  });
});

describe('expandPack', () => {
  const packOf = (inputs: PackInput[]) =>
    JSON.parse(planPacks(inputs, undefined, undefined, NOW)[0]?.entry.Detail ?? '');

  it('gives back each request with its own id, stream, seq and hlc and the pack tenant', () => {
    const inputs = [request('acme', 7), request('acme', 8)];
    const expanded = expandPack(packOf(inputs));
    expect(expanded.poison).toEqual([]);
    expect(expanded.envelopes.map((e) => e.envelope)).toEqual(inputs.map((i) => i.envelope));
  });

  it('separates poison items and names them; the others stay valid', () => {
    const pack = packOf([request('acme', 1), request('acme', 2), request('acme', 3)]);
    pack.items[1].seq = -4;
    pack.items[2] = { ...pack.items[2], tenant: 'globex' };
    const expanded = expandPack(pack);
    expect(expanded.envelopes.map((e) => e.index)).toEqual([0]);
    expect(expanded.poison.map((p) => p.index)).toEqual([1, 2]);
    expect(expanded.poison[0]?.reason).toMatch(/item 1 .*seq/);
    expect(expanded.poison[1]?.reason).toMatch(/sets tenant="globex", the pack's is "acme"/);
  });

  it('refuses an unreadable pack as a whole, saying why', () => {
    const pack = packOf([request('acme', 1), request('acme', 2)]);
    expect(() => expandPack({ ...pack, count: 3 })).toThrow(PackError);
    expect(() => expandPack({ ...pack, count: 3 })).toThrow(/says it holds 3 items, its packed part holds 2/);
    expect(() => expandPack({ ...pack, data: 'x' })).toThrow(/exactly one of "items"/);
    const { items: _items, ...encoded } = { ...pack, data: 'zstd-json-1:AAAA' };
    expect(() => expandPack(encoded)).toThrow(/no decoder/);
    expect(() => expandPack({ packId: 'p' })).toThrow(/not a valid pack/);
  });

  it('decodes an encoded pack with the given decoder and reports its errors as the pack being unreadable', () => {
    const items = packOf([request('acme', 1), request('acme', 2)]).items;
    const encoder = { encode: (v: readonly unknown[]) => `json:${JSON.stringify(v)}` };
    const detail = JSON.parse(
      planPacks([request('acme', 1), request('acme', 2)], undefined, encoder, NOW)[0]?.entry.Detail ?? '',
    );
    const decoder = {
      decode: (s: unknown) => {
        if (typeof s !== 'string' || !s.startsWith('json:')) throw new Error('bad tag');
        return JSON.parse(s.slice(5)) as unknown[];
      },
    };
    expect(expandPack(detail, decoder).envelopes.map((e) => e.envelope.id)).toEqual(
      items.map((i: { id: string }) => i.id),
    );
    expect(() => expandPack({ ...detail, data: 'zz' }, decoder)).toThrow(/bad tag/);
  });
});

describe('packs route like the single events they carry', () => {
  const escalation = (seq: number, task: string, tier: number): PackInput => ({
    envelope: {
      id: `acme:r${seq}:t${tier}:escalated`,
      tenant: 'acme',
      task,
      stream: 's1',
      seq,
      hlc: `1765094400000-${seq}-n1`,
      type: 'EscalationRequested',
      payload: { sourceEventId: `r${seq}`, task, tier, label: 'ham', score: 0.6 },
      metadata: {},
      time: '2026-12-07T08:00:00.000Z',
    } as Envelope,
    source: 'inferbus.results',
    detailType: 'EscalationRequested',
  });
  const asEvent = (detail: string) => ({
    version: '0',
    id: 'e1',
    'detail-type': 'EscalationRequested',
    source: 'inferbus.results',
    account: '000000000000',
    time: '2026-12-07T08:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: JSON.parse(detail),
  });

  it("matches the next tier's escalation rule of its task, and no other tier's or task's", () => {
    const planned = planPacks(
      [escalation(1, 'spam', 1), escalation(2, 'spam', 1), escalation(3, 'spam', 1)],
      undefined,
      undefined,
      NOW,
    );
    expect(planned).toHaveLength(1);
    const event = asEvent(planned[0]?.entry.Detail ?? '');
    expect(isPackedDetail(event.detail)).toBe(true);
    expect(matchesPattern(escalationPattern('acme', 'spam', 2), event)).toBe(true);
    expect(matchesPattern(escalationPattern('acme', 'spam', 3), event)).toBe(false);
    expect(matchesPattern(escalationPattern('acme', 'sensor', 2), event)).toBe(false);
    // Each item keeps its own payload; the pack-level payload is only what the rules read.
    expect(expandPack(event.detail).envelopes.map((e) => e.envelope.payload.sourceEventId)).toEqual([
      'r1',
      'r2',
      'r3',
    ]);
  });

  it('never packs escalations of different tiers together', () => {
    const planned = planPacks(
      [escalation(1, 'spam', 1), escalation(2, 'spam', 2), escalation(3, 'spam', 1)],
      undefined,
      undefined,
      NOW,
    );
    expect(planned.map((p) => p.indexes)).toEqual([[0, 2], [1]]);
  });
});
