import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { ConversionThread } from '../../local/firehose/conversion-thread';
import type { WalRange } from '../../local/firehose/convert-batch';
import { columnCodec } from '../../local/firehose/glue-types';
import { encodeLine } from '../../local/firehose/wal';

const dir = mkdtempSync(join(tmpdir(), 'inferbus-conversion-thread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const columns = [
  columnCodec('event_id', 'string'),
  columnCodec('seq', 'bigint'),
  columnCodec('payload', 'string'),
];

/** Writes records as write-ahead log lines; returns where each one lies. */
function walFile(name: string, records: readonly string[]): WalRange[] {
  const file = join(dir, name);
  const lines = records.map((data) => encodeLine(new Date('2026-11-29T00:00:00Z'), data));
  writeFileSync(file, Buffer.concat(lines));
  let offset = 0;
  return lines.map((line) => {
    const range = { file, offset, length: line.length };
    offset += line.length;
    return range;
  });
}

async function rowsOf(body: Uint8Array): Promise<unknown[]> {
  const path = join(dir, `read-${Math.random()}.parquet`);
  writeFileSync(path, body);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(`SELECT * FROM read_parquet('${path}') ORDER BY seq`);
    return reader.getRowObjectsJson();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('ConversionThread', () => {
  it('converts records read from the write-ahead log on its thread, reporting the ones that do not convert by position', async () => {
    const thread = new ConversionThread();
    try {
      const ranges = walFile('mixed.wal', [
        JSON.stringify({ event_id: 'a', seq: 1, payload: { text: 'héllo\nworld' } }),
        'not json',
        JSON.stringify({ event_id: 'b', seq: 'two' }),
        JSON.stringify({ EVENT_ID: 'c', seq: 3 }),
      ]);
      const { body, failures } = await thread.convert(columns, 'SNAPPY', ranges);
      expect(failures.map((f) => [f.index, f.code])).toEqual([
        [1, 'DataFormatConversion.MalformedData'],
        [2, 'DataFormatConversion.MalformedData'],
      ]);
      expect(failures[1]?.message).toMatch(/seq/);
      expect(await rowsOf(body as Uint8Array)).toEqual([
        { event_id: 'a', seq: '1', payload: '{"text":"héllo\\nworld"}' },
        { event_id: 'c', seq: '3', payload: null },
      ]);
    } finally {
      await thread.close();
    }
  });

  it('answers a batch where nothing converts with no object', async () => {
    const thread = new ConversionThread();
    try {
      const { body, failures } = await thread.convert(columns, 'SNAPPY', walFile('bad.wal', ['[1]', '{']));
      expect(body).toBeUndefined();
      expect(failures.map((f) => f.index)).toEqual([0, 1]);
    } finally {
      await thread.close();
    }
  });

  it('fails a batch whose log is gone with an error naming the file, and keeps converting the next ones', async () => {
    const thread = new ConversionThread();
    try {
      const missing = join(dir, 'deleted.wal');
      await expect(
        thread.convert(columns, 'SNAPPY', [{ file: missing, offset: 0, length: 10 }]),
      ).rejects.toThrow(/Parquet conversion failed: .*deleted\.wal/);
      const ranges = walFile('after.wal', [JSON.stringify({ event_id: 'x', seq: 9 })]);
      const { failures } = await thread.convert(columns, 'SNAPPY', ranges);
      expect(failures).toEqual([]);
    } finally {
      await thread.close();
    }
  });

  it('starts a new thread when its thread has died', async () => {
    const thread = new ConversionThread();
    try {
      const ranges = walFile('restart.wal', [JSON.stringify({ event_id: 'r', seq: 1 })]);
      await thread.convert(columns, 'SNAPPY', ranges);
      const first = (thread as unknown as { worker: Worker }).worker;
      await first.terminate();
      const { failures } = await thread.convert(columns, 'SNAPPY', ranges);
      expect(failures).toEqual([]);
      expect((thread as unknown as { worker: Worker }).worker).not.toBe(first);
    } finally {
      await thread.close();
    }
  });
});
