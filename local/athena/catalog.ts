import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { GlueColumnModel, GlueTableModel } from '../model';

/** Where the bytes of `s3://bucket/key` live on disk (the local S3's `objectPathOnDisk`). */
export type ObjectPathResolver = (bucket: string, key: string) => string;

export const OBJECT_SUFFIX = '._S3rver_object';

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
export const quoteString = (text: string) => `'${text.replaceAll("'", "''")}'`;

const GLUE_TO_DUCKDB: Record<string, string> = {
  string: 'VARCHAR',
  varchar: 'VARCHAR',
  tinyint: 'TINYINT',
  smallint: 'SMALLINT',
  int: 'INTEGER',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  float: 'FLOAT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
};

export function duckdbType(column: GlueColumnModel): string {
  const type = GLUE_TO_DUCKDB[column.type.toLowerCase()];
  if (!type)
    throw new Error(
      `Glue column ${column.name} has type ${column.type}, which local Athena does not map yet`,
    );
  return type;
}

export interface TableFile {
  readonly path: string;
  /** `s3://bucket/key` of the object the file holds. */
  readonly s3Url: string;
  readonly size: number;
  readonly modifiedMs: number;
  /** Partition values parsed from `key=value` folders. */
  readonly partitions: Record<string, string>;
}

/** A Glue table over local files: its folder, its files and the DuckDB view that reads them. */
export class CatalogTable {
  readonly directory: string;
  /** `s3://bucket/prefix/` of the table's objects. */
  private readonly locationPrefix: string;

  constructor(
    readonly model: GlueTableModel,
    resolve: ObjectPathResolver,
  ) {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(model.location);
    if (!match?.[1])
      throw new Error(
        `Glue table ${model.name} has location ${model.location}; expected s3://bucket/prefix/`,
      );
    // Resolve a dummy key under the prefix, then drop it: the folder s3rver keeps the prefix in.
    const prefix = (match[2] ?? '').replace(/\/?$/, '/');
    this.locationPrefix = `s3://${match[1]}/${prefix === '/' ? '' : prefix}`;
    const probe = resolve(match[1], `${prefix}x`);
    this.directory = probe.slice(0, probe.length - `x${OBJECT_SUFFIX}`.length).replace(/[\\/]$/, '');
  }

  get qualifiedName(): string {
    return `${quoteIdent(this.model.databaseName)}.${quoteIdent(this.model.name)}`;
  }

  async files(): Promise<TableFile[]> {
    let entries: string[];
    try {
      entries = await readdir(this.directory, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const depth = this.model.partitionKeys.length;
    const files: TableFile[] = [];
    for (const entry of entries.sort()) {
      if (!entry.endsWith(OBJECT_SUFFIX)) continue;
      const folders = entry.split(sep).slice(0, -1);
      if (depth > 0 && folders.length !== depth) continue;
      const partitions: Record<string, string> = {};
      for (const folder of folders) {
        const eq = folder.indexOf('=');
        if (eq > 0) partitions[folder.slice(0, eq)] = folder.slice(eq + 1);
      }
      const path = join(this.directory, entry);
      let stats: Stats;
      try {
        stats = await stat(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted meanwhile
        throw error;
      }
      const key = entry.slice(0, -OBJECT_SUFFIX.length).split(sep).join('/');
      files.push({
        path,
        s3Url: `${this.locationPrefix}${key}`,
        size: stats.size,
        modifiedMs: stats.mtimeMs,
        partitions,
      });
    }
    return files;
  }

  /**
   * Recreated before each query, so objects written since are seen, and no files means no rows.
   * With `only`, the view reads just those files (the others are unreadable) instead of the glob.
   */
  viewSql(hasFiles: boolean, only?: readonly TableFile[]): string {
    const { columns, partitionKeys } = this.model;
    if (!hasFiles || only?.length === 0) {
      const nulls = [...columns, ...partitionKeys].map(
        (c) => `CAST(NULL AS ${duckdbType(c)}) AS ${quoteIdent(c.name)}`,
      );
      return `CREATE OR REPLACE VIEW ${this.qualifiedName} AS SELECT ${nulls.join(', ')} WHERE false`;
    }
    const glob =
      partitionKeys.length > 0
        ? `${'*/'.repeat(partitionKeys.length)}*${OBJECT_SUFFIX}`
        : `**/*${OBJECT_SUFFIX}`;
    // hive_types keeps partition values as Glue declares them: `hour=07` stays the string '07'.
    const hiveTypes = partitionKeys.map((k) => `${quoteString(k.name)}: ${duckdbType(k)}`).join(', ');
    const options = [
      `hive_partitioning = ${partitionKeys.length > 0}`,
      'union_by_name = true',
      ...(partitionKeys.length > 0 ? [`hive_types = {${hiveTypes}}`] : []),
    ];
    const select = [...columns, ...partitionKeys].map((c) => quoteIdent(c.name)).join(', ');
    const source = only
      ? `[${only.map((f) => quoteString(f.path)).join(', ')}]`
      : quoteString(join(this.directory, glob));
    return `CREATE OR REPLACE VIEW ${this.qualifiedName} AS SELECT ${select} FROM read_parquet(${source}, ${options.join(', ')})`;
  }

  /**
   * Recreates the view over the table's readable files (`readable` sorts them out) and returns
   * them with the objects it skipped.
   */
  async refreshView(
    connection: DuckDBConnection,
    readable: (
      files: readonly TableFile[],
    ) => Promise<{ readable: TableFile[]; skipped: readonly { s3Url: string; reason: string }[] }>,
  ): Promise<{ files: TableFile[]; skipped: readonly { s3Url: string; reason: string }[] }> {
    const all = await this.files();
    const { readable: files, skipped } = await readable(all);
    await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.model.databaseName)}`);
    await connection.run(this.viewSql(files.length > 0, skipped.length > 0 ? files : undefined));
    return { files, skipped };
  }
}
