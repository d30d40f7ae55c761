import { DuckDBInstance } from '@duckdb/node-api';
import { quoteString } from './catalog';

export interface SandboxOptions {
  /** Folders queries may read: the Glue tables' folders in the local S3 store. */
  readonly readable: readonly string[];
  /** Our own scratch folder: query profiles and DuckDB's spill files. */
  readonly scratch: string;
  /** Statements run before the sandbox closes (macros). */
  readonly setup: readonly string[];
}

const asDirectory = (path: string) => path.replace(/[\\/]*$/, '/');

/**
 * An in-memory DuckDB that can touch only the archive and its own scratch folder, as Athena can
 * touch only its catalog: external access off (no file outside `allowed_directories`, no
 * extension installed or loaded, no ATTACH elsewhere, no HTTP). While the database runs, DuckDB
 * refuses both to turn external access back on and to widen `allowed_directories`.
 * `lock_configuration` is not set: query profiling is a per-connection setting that must be set
 * for each query, and the statement filter keeps SET and PRAGMA away from users.
 */
export async function createSandboxedDatabase(options: SandboxOptions): Promise<DuckDBInstance> {
  // DuckDB spills to `.tmp/` in the working directory unless told otherwise: keep it in ours.
  const instance = await DuckDBInstance.create(':memory:', {
    temp_directory: `${asDirectory(options.scratch)}spill`,
  });
  const connection = await instance.connect();
  try {
    for (const statement of options.setup) await connection.run(statement);
    const allowed = [...options.readable, options.scratch].map((p) => quoteString(asDirectory(p)));
    await connection.run(`SET allowed_directories = [${allowed.join(', ')}]`);
    await connection.run('SET enable_external_access = false');
  } catch (error) {
    connection.closeSync();
    instance.closeSync();
    throw error;
  }
  connection.closeSync();
  return instance;
}
