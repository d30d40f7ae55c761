import { lineColumn, malformed } from './statement';

/** Table functions with an Athena counterpart; every other one (read_csv, glob, read_text…) is DuckDB's. */
const ATHENA_TABLE_FUNCTIONS = new Set(['unnest']);
/** DuckDB's "no location" marker in `query_location`. */
const NO_LOCATION = 2 ** 53;

interface SerializedSql {
  readonly error: boolean;
  readonly error_type?: string;
  readonly error_message?: string;
  readonly position?: string;
  readonly statements?: readonly unknown[];
}

function at(sql: string, location: unknown): string {
  const offset = Number(location);
  return Number.isFinite(offset) && offset >= 0 && offset < NO_LOCATION && offset <= sql.length
    ? `line ${lineColumn(sql, offset)}: `
    : '';
}

function walk(node: unknown, visit: (node: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) {
    for (const child of node) walk(child, visit);
  } else if (node !== null && typeof node === 'object') {
    visit(node as Record<string, unknown>);
    for (const child of Object.values(node)) walk(child, visit);
  }
}

/**
 * Checks a query against DuckDB's own parse of it (`json_serialize_sql`): one SELECT statement
 * that reads tables, not files. Throws Athena's InvalidRequestException otherwise.
 */
export function checkQueryTree(sql: string, serialized: string, tables: readonly string[]): void {
  const parsed = JSON.parse(serialized) as SerializedSql;
  if (parsed.error) {
    if (parsed.error_type === 'parser') {
      throw malformed(`${at(sql, parsed.position)}${parsed.error_message ?? 'syntax error'}`);
    }
    throw malformed(
      `${parsed.error_message ?? 'the statement is not a query'}: local Athena runs one SELECT, WITH or VALUES query per execution`,
    );
  }
  if ((parsed.statements?.length ?? 0) !== 1) {
    throw malformed(`Only one sql statement is allowed. Got: ${sql}`);
  }
  walk(parsed.statements, (node) => {
    if (node.type === 'TABLE_FUNCTION') {
      const fn = node.function as { function_name?: string } | undefined;
      const name = String(fn?.function_name ?? '');
      if (!ATHENA_TABLE_FUNCTIONS.has(name.toLowerCase())) {
        throw malformed(
          `${at(sql, node.query_location)}${name}(...) is a DuckDB table function, not Athena SQL: query the archive through its tables (${tables.join(', ')})`,
        );
      }
    } else if (node.type === 'BASE_TABLE') {
      const name = String(node.table_name ?? '');
      // DuckDB reads `FROM 'file.csv'` as a file; Athena has only catalog tables.
      if (/[./\\]/.test(name)) {
        throw malformed(
          `${at(sql, node.query_location)}'${name}' is a file path, not a table: query the archive through its tables (${tables.join(', ')})`,
        );
      }
    }
  });
}
