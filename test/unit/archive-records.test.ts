import { describe, expect, it } from 'vitest';
import {
  FIREHOSE_MAX_BATCH_RECORDS,
  recordBatches,
  rowsIntoRecords,
} from '../../functions/core/archive/firehose-records';
import { ArchiveWriter } from '../../functions/shared/archive-writer';

const row = (i: number, pad = 0) => JSON.stringify({ event_id: `e${i}`, payload: 'x'.repeat(pad) });

describe('archive rows into Firehose records', () => {
  it('concatenates rows as JSON documents (no array, no separator) up to the record limit', () => {
    const rows = [row(1, 40), row(2, 40), row(3, 40)];
    const size = Buffer.byteLength(rows[0] as string);
    const records = rowsIntoRecords(rows, size * 2);
    expect(records.map((r) => r.rows)).toEqual([[0, 1], [2]]);
    expect(records[0]?.data).toBe(`${rows[0]}${rows[1]}`);
  });

  it('refuses a row over the record limit, saying where its payload belongs', () => {
    expect(() => rowsIntoRecords([row(1, 100)], 50)).toThrow(
      /archive row 0 is \d+ bytes, over Firehose's 50-byte record limit; its payload belongs in a claim check/,
    );
  });

  it('groups records into PutRecordBatch calls of at most 500 records and 4 MiB', () => {
    const many = Array.from({ length: FIREHOSE_MAX_BATCH_RECORDS + 1 }, () => ({ data: 'x' }));
    expect(recordBatches(many).map((b) => b.length)).toEqual([500, 1]);
    const big = Array.from({ length: 5 }, () => ({ data: 'x'.repeat(1000 * 1024) }));
    expect(recordBatches(big).map((b) => b.length)).toEqual([4, 1]);
  });

  it('retries only the refused records and reports the rows of those still refused', async () => {
    const seen: string[][] = [];
    const writer = new ArchiveWriter(
      {
        async putRecordBatch(records) {
          seen.push([...records]);
          return records.map((data) =>
            data.includes('"e2"') ? 'ServiceUnavailableException: busy' : undefined,
          );
        },
      },
      { sleep: async () => {}, maxAttempts: 3, maxRecordBytes: Buffer.byteLength(row(1)) },
    );
    const failed = await writer.write([row(1), row(2), row(3)]);
    expect(seen.map((call) => call.length)).toEqual([3, 1, 1]);
    expect([...failed]).toEqual([[1, 'ServiceUnavailableException: busy']]);
  });

  it('counts a call that throws as every record of it refused', async () => {
    const writer = new ArchiveWriter(
      {
        async putRecordBatch() {
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        },
      },
      { sleep: async () => {}, maxAttempts: 1 },
    );
    expect([...(await writer.write([row(1), row(2)]))]).toEqual([
      [0, 'TimeoutError: socket hang up'],
      [1, 'TimeoutError: socket hang up'],
    ]);
  });
});
