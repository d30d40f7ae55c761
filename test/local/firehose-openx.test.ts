import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import type { WalRange } from '../../local/firehose/convert-batch';
import { convertBatch } from '../../local/firehose/convert-batch';
import { columnCodec } from '../../local/firehose/glue-types';
import { convertRecord } from '../../local/firehose/openx';
import { ParquetWriter } from '../../local/firehose/parquet';
import { encodeLine } from '../../local/firehose/wal';

const dir = mkdtempSync(join(tmpdir(), 'inferbus-openx-'));
const writer = new ParquetWriter();
afterAll(async () => {
  await writer.close();
  rmSync(dir, { recursive: true, force: true });
});

const columns = [
  columnCodec('name', 'string'),
  columnCodec('small', 'tinyint'),
  columnCodec('medium', 'smallint'),
  columnCodec('count', 'int'),
  columnCodec('seq', 'bigint'),
  columnCodec('ratio', 'float'),
  columnCodec('score', 'double'),
  columnCodec('flag', 'boolean'),
  columnCodec('payload', 'varchar(100)'),
];

const convert = (record: unknown) => convertRecord(columns, JSON.stringify(record));

describe('convertRecord (OpenX JSON SerDe)', () => {
  it('converts every column type, with integers at their range limits', () => {
    expect(
      convert({
        name: 'a',
        small: -128,
        medium: 32767,
        count: -2147483648,
        seq: Number.MAX_SAFE_INTEGER,
        ratio: 0.5,
        score: '1e3',
        flag: 'TRUE',
        payload: 'text',
      }),
    ).toEqual({
      ok: true,
      row: {
        name: 'a',
        small: -128,
        medium: 32767,
        count: -2147483648,
        seq: Number.MAX_SAFE_INTEGER,
        ratio: 0.5,
        score: 1000,
        flag: true,
        payload: 'text',
      },
    });
  });

  it('makes missing keys and nulls NULL, and keeps nested values in string columns as JSON text', () => {
    const result = convert({ name: null, payload: { b: [1, 'x"y'], a: { c: null } }, extra: 1 });
    expect(result).toEqual({
      ok: true,
      row: {
        name: null,
        small: null,
        medium: null,
        count: null,
        seq: null,
        ratio: null,
        score: null,
        flag: null,
        payload: '{"b":[1,"x\\"y"],"a":{"c":null}}',
      },
    });
  });

  it('keeps a nested value as written in a minified record, and re-serialises it otherwise', () => {
    const payloadOf = (data: string) => {
      const result = convertRecord(columns, data);
      if (!result.ok) throw new Error(result.message);
      return result.row.payload;
    };
    // Minified: the member's own text, escapes and number spellings included.
    expect(payloadOf('{"name":"n","payload":{"t":"caf\\u00e9\\n","n":1.50,"l":["}",{"x":"\\""}]}}')).toBe(
      '{"t":"caf\\u00e9\\n","n":1.50,"l":["}",{"x":"\\""}]}',
    );
    expect(payloadOf('{"payload":[1,{"a":[]}],"name":"n"}')).toBe('[1,{"a":[]}]');
    // Duplicate keys: the last one, as JSON.parse keeps; a later scalar wins over an object.
    expect(payloadOf('{"payload":{"a":1},"payload":{"b":2}}')).toBe('{"b":2}');
    expect(payloadOf('{"payload":{"a":1},"payload":"s"}')).toBe('s');
    // Whitespace outside strings, an escaped key or a mixed-case key: JSON.stringify's text.
    expect(payloadOf('{"name": "n", "payload": {"t": "caf\\u00e9", "n": 1.50}}')).toBe(
      '{"t":"café","n":1.5}',
    );
    expect(payloadOf('{"n\\u0061me":"n","payload":{"n":1.50}}')).toBe('{"n":1.5}');
    expect(payloadOf('{"Name":"n","payload":{"n":1.50}}')).toBe('{"n":1.5}');
    expect(payloadOf('{"PAYLOAD":{"n":1.50}}')).toBe('{"n":1.5}');
    // A value that only looks like the member: a nested "payload" key is not the top-level one.
    expect(payloadOf('{"x":{"payload":{"no":1}},"payload":{"yes":2}}')).toBe('{"yes":2}');
  });

  it('matches keys case-insensitively, the last of keys equal but for case winning', () => {
    expect(convertRecord(columns, '{"NAME":"upper","seq":1,"SEQ":2,"Flag":"false"}')).toMatchObject({
      ok: true,
      row: { name: 'upper', seq: 2, flag: false },
    });
    expect(convertRecord(columns, '{"SEQ":2,"seq":1,"other":3}')).toMatchObject({
      ok: true,
      row: { seq: 1 },
    });
  });

  it('fails records at the first column that does not convert, naming it', () => {
    const failure = (record: unknown) => {
      const result = convert(record);
      return result.ok ? undefined : `${result.code}: ${result.message}`;
    };
    expect(failure({ small: 128 })).toBe(
      'DataFormatConversion.MalformedData: Column small: value 128 out of range for tinyint',
    );
    expect(failure({ count: 2147483648 })).toMatch(/Column count: value 2147483648 out of range for int$/);
    expect(failure({ seq: 1.5, flag: 'yes' })).toMatch(/Column seq: cannot convert 1.5 to bigint$/);
    expect(failure({ flag: 'yes' })).toMatch(/Column flag: cannot convert "yes" to boolean$/);
    expect(failure({ score: 'x' })).toMatch(/Column score: cannot convert "x" to double$/);
    expect(failure([1])).toMatch(/The record is not a JSON object$/);
    expect(convertRecord(columns, '{')).toMatchObject({
      ok: false,
      message: /^The record is not valid JSON: /,
    });
  });
});

describe('convertBatch', () => {
  it('writes the rows write() writes for the same records, every type and NULL included', async () => {
    const records = [
      { name: 'é', small: 127, medium: -32768, count: 2147483647, seq: -9007199254740991, ratio: 1.25 },
      { SCORE: -0.1, flag: true, payload: { nested: ['a', 1] }, Name: 'mixed case' },
      { seq: 'not a number' },
      { name: null, flag: 'False', payload: 'plain', count: '42' },
    ];
    const file = join(dir, 'batch.wal');
    const lines = records.map((r) => encodeLine(new Date(0), JSON.stringify(r)));
    writeFileSync(file, Buffer.concat(lines));
    let offset = 0;
    const ranges: WalRange[] = lines.map((line) => {
      const range = { file, offset, length: line.length };
      offset += line.length;
      return range;
    });
    const batch = await convertBatch(writer, columns, 'SNAPPY', ranges);
    expect(batch.failures.map((f) => [f.index, f.message])).toEqual([
      [2, 'Column seq: cannot convert "not a number" to bigint'],
    ]);
    const rows = records.flatMap((r) => {
      const result = convert(r);
      return result.ok ? [result.row] : [];
    });
    const reference = await writer.write(columns, rows, 'SNAPPY');
    const [batchRows, batchTypes] = await readParquet(batch.body as Uint8Array);
    const [referenceRows, referenceTypes] = await readParquet(reference);
    expect(batchTypes).toEqual(referenceTypes);
    expect(batchTypes).toEqual([
      ['name', 'VARCHAR'],
      ['small', 'TINYINT'],
      ['medium', 'SMALLINT'],
      ['count', 'INTEGER'],
      ['seq', 'BIGINT'],
      ['ratio', 'FLOAT'],
      ['score', 'DOUBLE'],
      ['flag', 'BOOLEAN'],
      ['payload', 'VARCHAR'],
    ]);
    expect(batchRows).toEqual(referenceRows);
    expect(batchRows).toEqual([
      ['é', 127, -32768, 2147483647, '-9007199254740991', 1.25, null, null, null],
      ['mixed case', null, null, null, null, null, -0.1, true, '{"nested":["a",1]}'],
      [null, null, null, 42, null, null, null, false, 'plain'],
    ]);
  });
});

async function readParquet(body: Uint8Array): Promise<[unknown[][], string[][]]> {
  const path = join(dir, `read-${Math.random()}.parquet`);
  writeFileSync(path, body);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const rows = (await connection.runAndReadAll(`SELECT * FROM read_parquet('${path}')`)).getRowsJson();
    const types = (await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`))
      .getRows()
      .map((r) => [String(r[0]), String(r[1])]);
    return [rows as unknown[][], types];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
