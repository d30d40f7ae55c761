import { describe, expect, it } from 'vitest';
import { compareHlc, HybridLogicalClock, parseHlc, receiveHlc, tickHlc } from '../../functions/core/hlc';

describe('hybrid logical clock', () => {
  it('follows wall time and counts within a millisecond', () => {
    let now = 1000;
    const clock = new HybridLogicalClock('n1', () => now);
    expect(clock.next()).toBe('1000-0-n1');
    expect(clock.next()).toBe('1000-1-n1');
    now = 1005;
    expect(clock.next()).toBe('1005-0-n1');
  });

  it('never goes backwards when the wall clock does', () => {
    let now = 2000;
    const clock = new HybridLogicalClock('n1', () => now);
    clock.next();
    now = 1500;
    const stamps = [clock.next(), clock.next()].map(parseHlc);
    expect(stamps.map((s) => [s.wallMs, s.counter])).toEqual([
      [2000, 1],
      [2000, 2],
    ]);
  });

  it('orders after observed and received stamps', () => {
    const clock = new HybridLogicalClock('n1', () => 10);
    clock.observe('50-3-other');
    expect(clock.next()).toBe('50-4-n1');
    expect(receiveHlc({ wallMs: 5, counter: 0 }, { wallMs: 5, counter: 7 }, 1)).toEqual({
      wallMs: 5,
      counter: 8,
    });
    expect(receiveHlc({ wallMs: 5, counter: 0 }, { wallMs: 4, counter: 7 }, 9)).toEqual({
      wallMs: 9,
      counter: 0,
    });
    expect(tickHlc({ wallMs: 5, counter: 2 }, 5)).toEqual({ wallMs: 5, counter: 3 });
  });

  it('compares wall, counter, then node; rejects malformed stamps and nodes', () => {
    expect(compareHlc(parseHlc('1-2-a'), parseHlc('1-10-a'))).toBeLessThan(0);
    expect(compareHlc(parseHlc('2-0-a'), parseHlc('1-99-b'))).toBeGreaterThan(0);
    expect(compareHlc(parseHlc('1-1-a'), parseHlc('1-1-b'))).toBeLessThan(0);
    expect(() => parseHlc('12-x-n')).toThrow(/not an HLC stamp/);
    expect(() => new HybridLogicalClock('has space')).toThrow(/HLC node/);
  });
});
