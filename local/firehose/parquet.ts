import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBAppender, DuckDBInstance } from '@duckdb/node-api';
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

/**
 * DuckDB keeps memory it has freed for reuse until it passes these thresholds (128 MiB and
 * 512 MiB by default), so a runtime converting a buffer every two seconds grew by hundreds of MiB
 * and dropped back at once. At 32 MB, a 2-minute soak at 300 events/s kept the runtime within
 * 605-685 MiB where it had climbed from 634 to 1,003 MiB.
 */
const RELEASE_FREED_MEMORY = {
  allocator_flush_threshold: '32MB',
  allocator_bulk_deallocation_flush_threshold: '32MB',
};

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteString = (text: string) => `'${text.replaceAll("'", "''")}'`;

type Append = (appender: DuckDBAppender, value: string | number | boolean) => void;

/** How each DuckDB column type the Glue codecs produce is appended (values are already converted). */
const APPEND: Record<string, Append> = {
  VARCHAR: (a, v) => a.appendVarchar(v as string),
  TINYINT: (a, v) => a.appendTinyInt(v as number),
  SMALLINT: (a, v) => a.appendSmallInt(v as number),
  INTEGER: (a, v) => a.appendInteger(v as number),
  BIGINT: (a, v) => a.appendBigInt(BigInt(v as number)),
  FLOAT: (a, v) => a.appendFloat(v as number),
  DOUBLE: (a, v) => a.appendDouble(v as number),
  BOOLEAN: (a, v) => a.appendBoolean(v as boolean),
};

/**
 * Writes already-converted rows as one Parquet file with DuckDB, typed by the Glue columns: the
 * rows go in through DuckDB's appender (no JSON text or temporary input file on the way), then
 * one `COPY ... TO` writes the Parquet file.
 */
export class ParquetWriter {
  private instance?: Promise<DuckDBInstance>;
  private workDir?: Promise<string>;

  /**
   * @param memoryLimit DuckDB's `memory_limit` for this writer's database, e.g. `512MB` (empty:
   * DuckDB's default, 80% of the machine's memory). Converting one buffer needs far less; the cap
   * keeps the archive path of a local run from claiming the machine. @default 512MB
   */
  constructor(private readonly memoryLimit = '512MB') {}

  async write(
    columns: readonly ColumnCodec[],
    /** Consumed once, row by row (a generator can convert records as they are appended). */
    rows: Iterable<Record<string, RowValue>>,
    compression: string,
  ) {
    this.workDir ??= mkdtemp(join(tmpdir(), 'inferbus-firehose-'));
    // DuckDB spills to `.tmp/` in the working directory unless told otherwise: keep it in ours.
    this.instance ??= this.workDir.then((dir) =>
      DuckDBInstance.create(':memory:', {
        temp_directory: join(dir, 'spill'),
        ...(this.memoryLimit ? { memory_limit: this.memoryLimit } : {}),
        ...RELEASE_FREED_MEMORY,
      }),
    );
    const [instance, dir] = await Promise.all([this.instance, this.workDir]);
    const id = randomUUID().replaceAll('-', '');
    const table = quoteIdent(`rows_${id}`);
    const output = join(dir, `${id}.parquet`);
    const appends = columns.map((c) => {
      const append = APPEND[c.duckdbType];
      if (!append) throw new Error(`no appender for DuckDB type ${c.duckdbType} (column ${c.name})`);
      return append;
    });
    const connection = await instance.connect();
    try {
      const definition = columns.map((c) => `${quoteIdent(c.name)} ${c.duckdbType}`).join(', ');
      await connection.run(`CREATE TABLE ${table} (${definition})`);
      try {
        const appender = await connection.createAppender(`rows_${id}`);
        try {
          for (const row of rows) {
            for (let i = 0; i < columns.length; i++) {
              const value = row[(columns[i] as ColumnCodec).name];
              if (value === null || value === undefined) appender.appendNull();
              else (appends[i] as Append)(appender, value);
            }
            appender.endRow();
          }
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
        await connection.run(
          `COPY ${table} TO ${quoteString(output)} (FORMAT parquet, COMPRESSION ${parquetCompression(compression)})`,
        );
      } finally {
        await connection.run(`DROP TABLE IF EXISTS ${table}`);
      }
      return await readFile(output);
    } finally {
      connection.closeSync();
      await rm(output, { force: true });
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
