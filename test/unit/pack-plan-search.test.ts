import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../functions/core/envelope';
import { createPackCodec } from '../../functions/core/packing/codec';
import { longestFitting, type PackInput, planPacks } from '../../functions/core/packing/pack';
import { entrySize } from '../../functions/core/put-events';

const NOW = () => new Date('2026-12-07T08:00:00.000Z');

function request(seq: number, text: string): PackInput {
  const envelope = {
    id: `acme-${seq}`,
    tenant: 'acme',
    stream: 's1',
    seq,
    hlc: `1765094400000-${seq}-n1`,
    type: 'InferenceRequested',
    payload: { text },
    metadata: {},
    time: '2026-12-07T08:00:00.000Z',
  } as Envelope;
  return { envelope, source: 'inferbus.acme', detailType: 'InferenceRequested' };
}

/** Texts that compress about as e-mails do: words from a small vocabulary, seeded. */
function texts(n: number): string[] {
  const words = ['invoice', 'meeting', 'free', 'offer', 'click', 'report', 'the', 'a', 'please', 'update'];
  let state = 7;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state;
  };
  return Array.from({ length: n }, () =>
    Array.from({ length: 300 + (next() % 500) }, () => `${words[next() % words.length]}${next() % 97}`).join(
      ' ',
    ),
  );
}

describe('longestFitting', () => {
  const PER_ITEM = 1000;
  it.each([
    [1, 1, 500],
    [23, 20, 500],
    [23, 40, 500],
    [23, 500, 500],
    [499, 3, 500],
    [500, 499, 500],
    [7, 1, 7],
  ])('finds %i from a guess of %i (up to %i)', (answer, guess, hi) => {
    const calls: number[] = [];
    // Sizes that grow with k but not in proportion (a fixed overhead, then a little less per item).
    const size = (k: number) => {
      calls.push(k);
      return k <= answer ? 500 + k * PER_ITEM - k : (answer + 1) * PER_ITEM + k;
    };
    expect(longestFitting(size, 500 + answer * PER_ITEM, guess, hi)).toBe(answer);
    expect(calls.every((k) => k >= 2 && k <= hi)).toBe(true);
  });

  it('asks two or three questions when the guess is close', () => {
    let calls = 0;
    const size = (k: number) => {
      calls++;
      return 200 + k * 2_800;
    };
    expect(longestFitting(size, 65_536, 22, 500)).toBe(23);
    expect(calls).toBeLessThanOrEqual(3);
  });
});

describe('planPacks encodes each pack a few times, not log2(maxItems) times', () => {
  it('with the zstd codec: full packs, at most 5 encodes per pack', async () => {
    const codec = await createPackCodec();
    let encoded = 0;
    const counting = {
      encode: (items: readonly unknown[]) => {
        encoded++;
        return codec.encode(items);
      },
    };
    const inputs = texts(600).map((t, i) => request(i + 1, t));
    const planned = planPacks(inputs, { maxItems: 500, maxEntryBytes: 64 * 1024 }, counting, NOW);
    expect(planned.flatMap((p) => p.indexes)).toEqual(inputs.map((_, i) => i));
    for (const p of planned) expect(entrySize(p.entry)).toBeLessThanOrEqual(64 * 1024);
    // Still the longest run that fits: one more request would not have.
    const first = planned[0] as (typeof planned)[number];
    const oneMore = planPacks(
      inputs.slice(0, first.indexes.length + 1),
      {
        maxItems: first.indexes.length + 1,
        maxEntryBytes: 1024 * 1024,
      },
      codec,
      NOW,
    );
    expect(entrySize((oneMore[0] as (typeof planned)[number]).entry)).toBeGreaterThan(64 * 1024);
    // The old binary search over 2..500 took about 9 encodes per pack.
    expect(encoded / planned.length).toBeLessThanOrEqual(5);
  });
});
