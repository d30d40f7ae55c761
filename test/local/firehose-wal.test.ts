import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FirehoseWal } from '../../local/firehose';
import { encodeLine, parseLine } from '../../local/firehose/wal';

function defined<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}

describe('FirehoseWal', () => {
  let dir: string;
  const warnings: string[] = [];
  const warn = (message: string) => warnings.push(message);
  const files = () => readdirSync(dir).sort();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'inferbus-wal-'));
    warnings.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the appends of one turn together and reads a record back from its location', async () => {
    const { wal, replayed } = FirehoseWal.open(dir, warn);
    expect(replayed).toEqual([]);
    expect(files()).toEqual([]); // no segment before the first append
    const arrival = new Date('2026-01-02T03:04:05Z');
    const locations = ['{"a":1}', 'line\nwith "quotes" é', '{"c":3}'].map((d) => wal.append(arrival, d));
    expect(readFileSync(join(dir, '0000000001.wal'), 'utf8')).toBe(''); // not written until the turn ends
    await wal.commit();
    expect(readFileSync(join(dir, '0000000001.wal'), 'utf8').split('\n')).toHaveLength(4);
    expect(wal.read(defined(locations[1]))).toEqual({ arrival, data: 'line\nwith "quotes" é' });
    expect(wal.segmentCount()).toBe(1);
    wal.close();
  });

  it('seals a segment at rotate and deletes it once all its records are released', async () => {
    const { wal } = FirehoseWal.open(dir, warn);
    const first = [wal.append(new Date(), 'a'), wal.append(new Date(), 'b')];
    await wal.commit();
    wal.rotate();
    const second = wal.append(new Date(), 'c');
    await wal.commit();
    expect(files()).toEqual(['0000000001.wal', '0000000002.wal']);
    wal.release(defined(first[0]).segment, 1);
    expect(files()).toHaveLength(2); // one record of the sealed segment is still undelivered
    wal.release(defined(first[1]).segment, 1);
    expect(files()).toEqual(['0000000002.wal']);
    wal.release(second.segment, 1);
    expect(files()).toEqual(['0000000002.wal']); // the active segment stays until it is sealed
    wal.rotate();
    expect(files()).toEqual([]);
    expect(wal.segmentCount()).toBe(0);
  });

  it('replays leftover segments after a crash, skipping a torn last line with a warning', async () => {
    const crashed = FirehoseWal.open(dir, warn).wal;
    crashed.append(new Date(1_000), 'one');
    await crashed.commit();
    crashed.rotate();
    crashed.append(new Date(2_000), 'two');
    crashed.append(new Date(3_000), 'three');
    await crashed.commit();
    // Killed mid-append: half a line at the end of the active segment, never acknowledged.
    appendFileSync(join(dir, '0000000002.wal'), '{"t":4000,"d":"fo');

    const { wal, replayed } = FirehoseWal.open(dir, warn);
    expect(replayed.map((r) => [r.data, r.arrival.getTime()])).toEqual([
      ['one', 1_000],
      ['two', 2_000],
      ['three', 3_000],
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(dir, '0000000002.wal'));
    expect(warnings[0]).toMatch(/torn last line/);
    expect(wal.read(defined(replayed[2]).location).data).toBe('three');
    // New records go to a new segment; replayed segments go once their records are delivered.
    wal.append(new Date(), 'five');
    await wal.commit();
    expect(files()).toEqual(['0000000001.wal', '0000000002.wal', '0000000003.wal']);
    for (const r of replayed) wal.release(r.location.segment, 1);
    expect(files()).toEqual(['0000000003.wal']);
    wal.close();
  });

  it('replays nothing after a clean run, and removes empty leftover segments', async () => {
    const first = FirehoseWal.open(dir, warn).wal;
    const location = first.append(new Date(), 'x');
    await first.commit();
    first.rotate();
    first.release(location.segment, 1);
    first.close();
    expect(files()).toEqual([]);
    appendFileSync(join(dir, '0000000007.wal'), '');
    const { wal, replayed } = FirehoseWal.open(dir, warn);
    expect(replayed).toEqual([]);
    expect(files()).toEqual([]);
    wal.append(new Date(), 'y');
    await wal.commit();
    expect(files()).toEqual(['0000000008.wal']); // numbering continues past any leftover
    expect(warnings).toEqual([]);
    wal.close();
  });
});

describe('Firehose write-ahead log lines', () => {
  const arrival = new Date(1_700_000_000_123);

  it('writes a record without newlines as it is, after its arrival time', () => {
    const data = '{"k":"v \\"q\\" é"}';
    const line = encodeLine(arrival, data);
    expect(line.toString('utf8')).toBe(`1700000000123\t${data}\n`);
    expect(parseLine(line.toString('utf8', 0, line.length - 1))).toEqual({ arrival, data });
  });

  it('falls back to a JSON line for data with a newline or a lone surrogate, and reads old lines', () => {
    for (const data of ['two\nlines', 'lone \ud800 surrogate']) {
      const line = encodeLine(arrival, data).toString('utf8');
      expect(line.startsWith('{')).toBe(true);
      expect(parseLine(line.slice(0, -1))).toEqual({ arrival, data });
    }
  });

  it('refuses a line in neither form', () => {
    expect(() => parseLine('12x\t{}')).toThrow(/not a <ms>\\t<data>/);
    expect(() => parseLine('{"t":"x"}')).toThrow(/not a \{"t":<ms>,"d":<data>\} record/);
  });
});
