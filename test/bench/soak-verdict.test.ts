import { describe, expect, it } from 'vitest';
import { renderBenchmarks } from '../../bench/report';
import { machineInfo } from '../../bench/run';
import { latencyVerdict, memoryVerdict, type SoakBenchResult, type SoakWindow } from '../../bench/soak';

const window = (t: number, rss: number, p99: number, done = 100): SoakWindow => ({
  t,
  sent: 100,
  done,
  backlog: 0,
  latencyP50Ms: p99 / 2,
  latencyP99Ms: p99,
  rssMiB: rss,
  workersRssMiB: 500,
});

describe('soak verdicts', () => {
  it('calls memory flat when the peak after warm-up stays within max(64 MiB, 10%)', () => {
    const flat = [300, 400, 410, 420, 430, 405, 415, 400].map((rss, i) => window(i * 15, rss, 100));
    expect(memoryVerdict(flat)).toMatchObject({ baselineMiB: 900, peakMiB: 930, flat: true });
    const growing = [300, 400, 450, 500, 550, 600, 650, 700].map((rss, i) => window(i * 15, rss, 100));
    expect(memoryVerdict(growing)).toMatchObject({ baselineMiB: 900, peakMiB: 1200, flat: false });
  });

  it('calls latency stable unless late windows are 1.5x (and 50 ms) above early ones', () => {
    const steady = [900, 200, 210, 190, 220, 200, 205, 210, 195, 50].map((p, i) => window(i * 15, 300, p));
    expect(latencyVerdict(steady)).toMatchObject({ stable: true });
    const degrading = [900, 200, 210, 190, 400, 500, 600, 700, 800, 50].map((p, i) => window(i * 15, 300, p));
    const verdict = latencyVerdict(degrading);
    expect(verdict.lateP99Ms).toBeGreaterThan(verdict.earlyP99Ms * 1.5);
    expect(verdict.stable).toBe(false);
  });
});

describe('the soak section of BENCHMARKS.md', () => {
  it('tabulates the windows and states each target with its verdict, including any loss', () => {
    const windows = [400, 400, 410, 420].map((rss, i) => window(i * 15, rss, 100));
    const soak: SoakBenchResult = {
      name: 'soak',
      minutes: 1,
      rate: 300,
      windowSeconds: 15,
      windows,
      accepted: 18_000,
      processed: 17_990,
      drainSeconds: 2.5,
      memory: memoryVerdict(windows),
      latency: latencyVerdict(windows),
    };
    const text = renderBenchmarks(
      {
        date: '2026-11-28T23:00:00.000Z',
        quick: false,
        machine: machineInfo(),
        results: { soak },
        errors: {},
        seconds: {},
        load: {},
      },
      'bench/results/x.json',
    );
    expect(text).toContain('## Soak');
    expect(text).toContain('| 45 | 100 | 100 | 0 | 50 | 100 | 420 | 500 |');
    expect(text).toMatch(
      /- soak: nothing lost: 18,000 accepted, 17,990 processed by tier 1 \(\*\*missed\*\*: 10 missing\)/,
    );
    expect(text).toMatch(/- soak: memory flat over the soak .* \(met;/);
  });
});
