import type { DuckDBConnection } from '@duckdb/node-api';
import { type CatalogTable, quoteIdent, quoteString, type TableFile } from './catalog';

interface ProfileNode {
  readonly operator_name?: string;
  readonly extra_info?: Record<string, unknown>;
  readonly children?: readonly ProfileNode[];
}

interface ParquetScan {
  readonly projections: readonly string[];
  readonly fileFilter?: string;
  readonly filesRead: number;
  readonly firstFile: string;
}

function collectScans(node: ProfileNode, out: ParquetScan[]): ParquetScan[] {
  const info = node.extra_info ?? {};
  if (node.operator_name === 'READ_PARQUET') {
    const projections = info.Projections;
    out.push({
      projections: Array.isArray(projections)
        ? projections.map(String)
        : String(projections ?? '')
            .split('\n')
            .map((p) => p.trim())
            .filter(Boolean),
      ...(typeof info['File Filters'] === 'string' ? { fileFilter: info['File Filters'] } : {}),
      filesRead: Number(info['Total Files Read'] ?? 0),
      firstFile: String(info['Filename(s)'] ?? ''),
    });
  }
  for (const child of node.children ?? []) collectScans(child, out);
  return out;
}

/**
 * Approximates Athena's DataScannedInBytes from DuckDB's query profile. For every Parquet scan:
 * the files that survived partition pruning (DuckDB reports their count and the partition filter;
 * the filter is re-evaluated over the table's file list to know which ones), and in each file the
 * compressed size of the column chunks the scan projected. Partition columns cost nothing, as in
 * Athena. Not counted: Parquet footers and row groups skipped by min/max statistics (Athena does
 * skip those too, so this errs on the high side for selective filters on data columns).
 */
export class ScannedBytesEstimator {
  private readonly columnBytes = new Map<string, Map<string, number>>();

  async estimate(
    connection: DuckDBConnection,
    profile: ProfileNode,
    tables: readonly { table: CatalogTable; files: readonly TableFile[] }[],
  ): Promise<number> {
    let total = 0;
    for (const scan of collectScans(profile, [])) {
      const owner = tables.find(({ table }) => scan.firstFile.startsWith(table.directory));
      if (!owner || scan.filesRead === 0) continue;
      const partitionNames = new Set(owner.table.model.partitionKeys.map((k) => k.name));
      const columns = scan.projections.filter((p) => !partitionNames.has(p));
      const files = await this.prunedFiles(connection, owner.table, owner.files, scan);
      for (const file of files) {
        const sizes = await this.columnSizes(connection, file);
        for (const column of columns) total += sizes.get(column.toLowerCase()) ?? 0;
      }
    }
    return total;
  }

  private async prunedFiles(
    connection: DuckDBConnection,
    table: CatalogTable,
    files: readonly TableFile[],
    scan: ParquetScan,
  ): Promise<readonly TableFile[]> {
    if (!scan.fileFilter || scan.filesRead >= files.length) return files.slice(0, scan.filesRead);
    const keys = table.model.partitionKeys.map((k) => k.name);
    const rows = files.map(
      (f, i) =>
        `(${i}, ${keys.map((k) => (f.partitions[k] === undefined ? 'NULL' : quoteString(f.partitions[k] as string))).join(', ')})`,
    );
    try {
      const reader = await connection.runAndReadAll(
        `SELECT i FROM (VALUES ${rows.join(', ')}) AS f(i, ${keys.map(quoteIdent).join(', ')}) WHERE ${scan.fileFilter}`,
      );
      const chosen = reader.getRowsJson().map((row) => files[Number(row[0])] as TableFile);
      if (chosen.length === scan.filesRead) return chosen;
    } catch {
      // The filter text is DuckDB's rendering; when it does not parse back, fall through.
    }
    return files.slice(0, scan.filesRead);
  }

  private async columnSizes(connection: DuckDBConnection, file: TableFile): Promise<Map<string, number>> {
    const cacheKey = `${file.path}:${file.size}`;
    const cached = this.columnBytes.get(cacheKey);
    if (cached) return cached;
    const reader = await connection.runAndReadAll(
      `SELECT lower(path_in_schema), sum(total_compressed_size) FROM parquet_metadata(${quoteString(file.path)}) GROUP BY 1`,
    );
    const sizes = new Map(reader.getRowsJson().map(([name, bytes]) => [String(name), Number(bytes)]));
    this.columnBytes.set(cacheKey, sizes);
    return sizes;
  }
}
