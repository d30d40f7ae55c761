import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ColumnCodec } from './glue-types';
import type { RowValue } from './openx';

const COMPRESSION: Record<string, string> = {
  SNAPPY: 'snappy',
  GZIP: 'gzip',
  ZSTD: 'zstd',
  UNCOMPRESSED: 'uncompressed',
};

export function parquetCompression(firehoseCompression: string): string {
  const compression = COMPRESSION[firehoseCompression.toUpperCase()];
  if (!compression) {
    throw new Error(
      `unsupported Parquet compression ${firehoseCompression}: use one of ${Object.keys(COMPRESSION).join(', ')}`,
    );
  }
  return compression;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteString = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Writes already-converted rows as one Parquet file with DuckDB, typed by the Glue columns. */
export class ParquetWriter {
  private instance?: Promise<DuckDBInstance>;
  private workDir?: Promise<string>;

  async write(
    columns: readonly ColumnCodec[],
    rows: readonly Record<string, RowValue>[],
    compression: string,
  ) {
    this.instance ??= DuckDBInstance.create(':memory:');
    this.workDir ??= mkdtemp(join(tmpdir(), 'inferbus-firehose-'));
    const [instance, dir] = await Promise.all([this.instance, this.workDir]);
    const id = randomUUID();
    const input = join(dir, `${id}.ndjson`);
    const output = join(dir, `${id}.parquet`);
    await writeFile(input, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
    const connection = await instance.connect();
    try {
      const columnTypes = columns
        .map((c) => `${quoteString(c.name)}: ${quoteString(c.duckdbType)}`)
        .join(', ');
      const select = columns.map((c) => quoteIdent(c.name)).join(', ');
      await connection.run(
        `COPY (SELECT ${select} FROM read_json(${quoteString(input)}, format = 'newline_delimited', records = true, columns = {${columnTypes}}))
         TO ${quoteString(output)} (FORMAT parquet, COMPRESSION ${parquetCompression(compression)})`,
      );
      return await readFile(output);
    } finally {
      connection.closeSync();
      await Promise.all([rm(input, { force: true }), rm(output, { force: true })]);
    }
  }

  async close(): Promise<void> {
    const instance = this.instance;
    const dir = this.workDir;
    this.instance = undefined;
    this.workDir = undefined;
    if (instance) (await instance).closeSync();
    if (dir) await rm(await dir, { recursive: true, force: true });
  }
}
