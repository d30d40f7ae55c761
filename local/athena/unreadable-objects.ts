import { open } from 'node:fs/promises';
import type { DuckDBInstance } from '@duckdb/node-api';
import { quoteString, type TableFile } from './catalog';

/**
 * A table's objects that cannot be read as Parquet (empty, truncated, something else), found
 * before a query so that one damaged object is skipped and named instead of failing every query:
 * DuckDB reads every file a view's glob matches when the view is created, and the views of all
 * tables are created before each query, even `SELECT 1`. A file is checked once per size and
 * modification time.
 */

const MAGIC = 'PAR1';
/** `PAR1` at the start, then a 4-byte footer length and `PAR1` at the end. */
const FRAME_BYTES = 12;

export interface SkippedObject {
  readonly s3Url: string;
  readonly reason: string;
}

/** Why the file's Parquet framing is broken, or undefined when it is sound. */
export async function brokenFraming(path: string, size: number): Promise<string | undefined> {
  if (size === 0) return 'it is empty (0 bytes)';
  if (size < FRAME_BYTES) return `it is truncated (${size} bytes; Parquet needs at least ${FRAME_BYTES})`;
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(8);
    await file.read(head, 0, 4, 0);
    await file.read(tail, 0, 8, size - 8);
    if (head.toString('latin1') !== MAGIC) return 'it is not Parquet (no PAR1 at its start)';
    if (tail.toString('latin1', 4) !== MAGIC) return 'it is truncated (no PAR1 at its end)';
    const footer = tail.readUInt32LE(0);
    if (footer > size - FRAME_BYTES) return `it is truncated (its footer claims ${footer} bytes)`;
    return undefined;
  } finally {
    await file.close();
  }
}

export class UnreadableObjects {
  private readonly verdicts = new Map<string, string | undefined>();

  constructor(private readonly warn: (message: string) => void = () => {}) {}

  /** The files a query may read, and those it must skip with the reason. */
  async partition(
    instance: DuckDBInstance,
    files: readonly TableFile[],
  ): Promise<{ readable: TableFile[]; skipped: SkippedObject[] }> {
    const readable: TableFile[] = [];
    const skipped: SkippedObject[] = [];
    for (const file of files) {
      const reason = await this.reasonFor(instance, file);
      if (reason === undefined) readable.push(file);
      else skipped.push({ s3Url: file.s3Url, reason });
    }
    return { readable, skipped };
  }

  private async reasonFor(instance: DuckDBInstance, file: TableFile): Promise<string | undefined> {
    const key = `${file.path}\u0000${file.size}\u0000${file.modifiedMs}`;
    if (this.verdicts.has(key)) return this.verdicts.get(key);
    let reason = await brokenFraming(file.path, file.size);
    if (reason === undefined) {
      // A connection of its own: a footer DuckDB cannot decode leaves the connection unusable.
      const probe = await instance.connect();
      try {
        await probe.run(`SELECT count(*) FROM parquet_schema(${quoteString(file.path)})`);
      } catch (error) {
        reason = `DuckDB cannot read its footer (${(error as Error).message.split('\n')[0]})`;
      } finally {
        probe.closeSync();
      }
    }
    this.verdicts.set(key, reason);
    if (reason !== undefined) {
      this.warn(`local Athena skips ${file.s3Url}: ${reason}. Delete or replace the object.`);
    }
    return reason;
  }
}

/** The StateChangeReason of a query that succeeded without some objects. */
export function skippedObjectsReason(skipped: readonly SkippedObject[]): string | undefined {
  if (skipped.length === 0) return undefined;
  const shown = skipped.slice(0, 5).map((s) => `${s.s3Url} (${s.reason})`);
  const more = skipped.length > shown.length ? ` and ${skipped.length - shown.length} more` : '';
  return `Skipped ${skipped.length} unreadable object(s), their rows are missing from the result: ${shown.join('; ')}${more}. Delete or replace them.`;
}
