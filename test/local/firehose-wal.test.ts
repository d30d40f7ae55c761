import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FirehoseWal } from '../../local/firehose';
import { encodeLine, parseLine } from '../../local/firehose/wal';
import { decodeRecordLine } from '../../local/firehose/wal-format';
import { WalDamageError } from '../../local/firehose/wal-read';

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
    const size = readFileSync(join(dir, '0000000002.wal')).length;
    appendFileSync(join(dir, '0000000002.wal'), encodeLine(new Date(4_000), 'four').subarray(0, 12));

    const { wal, replayed } = FirehoseWal.open(dir, warn);
    expect(replayed.map((r) => [r.data, r.arrival.getTime()])).toEqual([
      ['one', 1_000],
      ['two', 2_000],
      ['three', 3_000],
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      `${join(dir, '0000000002.wal')} ended in an unfinished line at byte ${size} (12 bytes)`,
    );
    expect(wal.read(defined(replayed[2]).location).data).toBe('three');
    // New records go to a new segment; replayed segments go once their records are delivered.
    wal.append(new Date(), 'five');
    await wal.commit();
    expect(files()).toEqual([
      '0000000001.wal',
      '0000000002.wal',
      `0000000002.wal.torn-at-${size}`,
      '0000000003.wal',
    ]);
    for (const r of replayed) wal.release(r.location.segment, 1);
    expect(files()).toEqual([`0000000002.wal.torn-at-${size}`, '0000000003.wal']);
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

describe('FirehoseWal on damaged segments', () => {
  let dir: string;
  const warnings: string[] = [];
  const warn = (message: string) => warnings.push(message);
  const segment = (n: number) => join(dir, `${String(n).padStart(10, '0')}.wal`);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'inferbus-wal-damage-'));
    warnings.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Segment 1 sealed with 100 records of tenant acme, segment 2 left active (a killed runtime) with 100 more. */
  async function crashedLog(): Promise<void> {
    const { wal } = FirehoseWal.open(dir, warn);
    for (let i = 0; i < 100; i++) wal.append(new Date(1_000 + i), `{"tenant":"acme","n":${i}}`);
    await wal.commit();
    wal.rotate();
    for (let i = 100; i < 200; i++) wal.append(new Date(1_000 + i), `{"tenant":"acme","n":${i}}`);
    await wal.commit();
  }

  it('refuses a changed byte in a record, naming file and byte, and leaves the file as it is', async () => {
    await crashedLog();
    const bytes = readFileSync(segment(1));
    const at = bytes.indexOf('"acme","n":42}');
    bytes[at + 4] = 'f'.charCodeAt(0); // tenant acme becomes acmf
    writeFileSync(segment(1), bytes);
    const lineStart = bytes.lastIndexOf('\n', at) + 1;
    expect(() => FirehoseWal.open(dir, warn)).toThrow(WalDamageError);
    expect(() => FirehoseWal.open(dir, warn)).toThrow(
      `Firehose write-ahead log ${segment(1)} is damaged at byte ${lineStart}: checksum mismatch`,
    );
    expect(readFileSync(segment(1)).equals(bytes)).toBe(true);
  });

  it('refuses a sealed segment cut in half: only the last segment can be torn by a kill', async () => {
    await crashedLog();
    const bytes = readFileSync(segment(1));
    truncateSync(segment(1), Math.floor(bytes.length / 2));
    expect(() => FirehoseWal.open(dir, warn)).toThrow(
      /0000000001\.wal is damaged at byte \d+: an unfinished line in a segment that was sealed/,
    );
    expect(readFileSync(segment(1)).length).toBe(Math.floor(bytes.length / 2));
  });

  it('refuses a sealed segment cut on a line boundary, or with a whole line removed', async () => {
    await crashedLog();
    const bytes = readFileSync(segment(1));
    const lastLine = bytes.lastIndexOf('\n', bytes.length - 2) + 1;
    writeFileSync(segment(1), bytes.subarray(0, lastLine)); // the seal is gone
    expect(() => FirehoseWal.open(dir, warn)).toThrow(/ends without its seal, though a later one exists/);
    const second = bytes.indexOf('\n') + 1;
    const third = bytes.indexOf('\n', second) + 1;
    writeFileSync(segment(1), Buffer.concat([bytes.subarray(0, second), bytes.subarray(third)]));
    expect(() => FirehoseWal.open(dir, warn)).toThrow(/the seal counts 100 records, the segment holds 99/);
  });

  it('cuts the last segment of a killed runtime at a torn line, reports it, keeps the rest and seals the segment', async () => {
    await crashedLog();
    const bytes = readFileSync(segment(2));
    const cut = Math.floor(bytes.length / 2) + 5; // inside a line
    truncateSync(segment(2), cut);
    const lineStart = bytes.lastIndexOf('\n', cut) + 1;
    const { wal, replayed } = FirehoseWal.open(dir, warn);
    const kept = bytes.subarray(0, lineStart).toString().split('\n').length - 1;
    expect(replayed).toHaveLength(100 + kept);
    expect(warnings.join('\n')).toContain(
      `${segment(2)} ended in an unfinished line at byte ${lineStart} (${cut - lineStart} bytes)`,
    );
    expect(readFileSync(`${segment(2)}.torn-at-${lineStart}`).equals(bytes.subarray(lineStart, cut))).toBe(
      true,
    );
    wal.append(new Date(), 'later');
    await wal.commit();
    // Killed again: segment 2 is no longer the last, and reads as sealed.
    expect(FirehoseWal.open(dir, warn).replayed).toHaveLength(100 + kept + 1);
  });

  it('refuses a record changed while the runtime ran when it is read back', async () => {
    const { wal } = FirehoseWal.open(dir, warn);
    const location = wal.append(new Date(1), '{"tenant":"acme"}');
    await wal.commit();
    const bytes = readFileSync(segment(1));
    bytes[bytes.indexOf('acme')] = 'A'.charCodeAt(0);
    writeFileSync(segment(1), bytes);
    expect(() => wal.read(location)).toThrow(/checksum mismatch/);
    wal.close();
  });

  it('reads segments written before checksums', () => {
    writeFileSync(segment(3), '1000\t{"a":1}\n{"t":2000,"d":"two\\nlines"}\n');
    writeFileSync(segment(4), '3000\tthree\n');
    const { wal, replayed } = FirehoseWal.open(dir, warn);
    expect(replayed.map((r) => r.data)).toEqual(['{"a":1}', 'two\nlines', 'three']);
    expect(wal.read((replayed[1] as (typeof replayed)[number]).location).data).toBe('two\nlines');
    expect(warnings).toEqual([]);
    wal.close();
  });
});

describe('Firehose write-ahead log lines', () => {
  const arrival = new Date(1_700_000_000_123);

  it('writes a record without newlines as it is, after its arrival time', () => {
    const data = '{"k":"v \\"q\\" é"}';
    const line = encodeLine(arrival, data);
    expect(line.toString('utf8')).toMatch(/^[0-9a-f]{8} /);
    expect(line.toString('utf8', 9)).toBe(`1700000000123\t${data}\n`);
    expect(decodeRecordLine(line, 0, line.length)).toEqual({ arrival, data });
  });

  it('falls back to a JSON line for data with a newline or a lone surrogate, and reads old lines', () => {
    for (const data of ['two\nlines', 'lone \ud800 surrogate']) {
      const line = encodeLine(arrival, data);
      expect(line.toString('utf8', 9).startsWith('{')).toBe(true);
      expect(decodeRecordLine(line, 0, line.length)).toEqual({ arrival, data });
      expect(parseLine(line.toString('utf8', 9, line.length - 1))).toEqual({ arrival, data });
    }
  });

  it('refuses a line in neither form', () => {
    expect(() => parseLine('12x\t{}')).toThrow(/not a <ms>\\t<data>/);
    expect(() => parseLine('{"t":"x"}')).toThrow(/not a \{"t":<ms>,"d":<data>\} record/);
  });
});
