import { describe, expect, it } from 'vitest';
import {
  BILLING_UNIT_BYTES,
  buildRawDictionary,
  fillPacks,
  numericCorpus,
  RESERVE_BYTES,
} from '../../bench/encoding';
import { renderBenchmarks } from '../../bench/report';
import { machineInfo } from '../../bench/run';

const budget = BILLING_UNIT_BYTES - RESERVE_BYTES;
const json = (requests: readonly unknown[]) => JSON.stringify(requests);

/** Checks of the encoding benchmark's own logic; its timings are never asserted. */
describe('bench/encoding', () => {
  it('fills each pack with as many requests as fit one billing unit, in order, and drops the unfilled tail', () => {
    const requests = numericCorpus(2_000, 7);
    const packs = fillPacks(requests, json);
    expect(packs.length).toBeGreaterThan(3);
    let next = 0;
    for (const pack of packs) {
      expect(pack[0]).toBe(requests[next]);
      next += pack.length;
      expect(Buffer.byteLength(json(pack))).toBeLessThanOrEqual(budget);
      // Maximal: one more request would not fit.
      expect(Buffer.byteLength(json([...pack, requests[next]]))).toBeGreaterThan(budget);
    }
    expect(Buffer.byteLength(json(requests.slice(next)))).toBeLessThanOrEqual(budget);
  });

  it('puts a request larger than a unit in a pack of its own', () => {
    const requests = numericCorpus(300, 7);
    const huge = {
      ...(requests[5] as (typeof requests)[number]),
      payload: { text: 'x'.repeat(BILLING_UNIT_BYTES) },
    };
    const packs = fillPacks([huge, ...requests], json);
    expect(packs[0]).toEqual([huge]);
  });

  it('builds a raw dictionary within its cap from fragments the training requests repeat', () => {
    const dictionary = Buffer.from(buildRawDictionary(numericCorpus(500, 3), 2_048));
    expect(dictionary.byteLength).toBeLessThanOrEqual(2_048);
    expect(dictionary.toString()).toContain('"expectedLabel":"normal"');
  });

  it('runs quick, every encoding round-trips, and renders its section without gaps', async () => {
    const { runEncodingBench } = await import('../../bench/encoding');
    const result = await runEncodingBench({ quick: true });
    expect(new Set(result.rows.map((r) => r.corpus))).toEqual(new Set(['spam', 'numeric']));
    expect(result.rows.filter((r) => r.encoding === result.shipped.row)).toHaveLength(6);
    const markdown = renderBenchmarks(
      {
        date: new Date().toISOString(),
        quick: true,
        machine: machineInfo(),
        results: { encoding: result },
        errors: {},
        seconds: {},
        load: {},
      },
      'run.json',
    );
    expect(markdown).toContain('## Encoding');
    expect(markdown).toContain('**json + zstd-');
    expect(markdown).not.toMatch(/NaN|undefined|Infinity/);
  }, 120_000);
});
