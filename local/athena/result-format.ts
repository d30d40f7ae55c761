import { type DuckDBType, DuckDBTypeId } from '@duckdb/node-api';

/** Athena's type name for a DuckDB result column (as in `ResultSetMetadata.ColumnInfo[].Type`). */
export function athenaTypeName(type: DuckDBType): string {
  switch (type.typeId) {
    case DuckDBTypeId.VARCHAR:
      return 'varchar';
    case DuckDBTypeId.BOOLEAN:
      return 'boolean';
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.UTINYINT:
      return 'tinyint';
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.USMALLINT:
      return 'smallint';
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UINTEGER:
      return 'integer';
    // DuckDB widens sum() of integers to HUGEINT; Athena answers bigint.
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return 'bigint';
    case DuckDBTypeId.FLOAT:
      return 'float';
    case DuckDBTypeId.DOUBLE:
      return 'double';
    case DuckDBTypeId.DECIMAL:
      return 'decimal';
    case DuckDBTypeId.DATE:
      return 'date';
    case DuckDBTypeId.TIME:
      return 'time';
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_NS:
      return 'timestamp';
    case DuckDBTypeId.TIMESTAMP_TZ:
      return 'timestamp with time zone';
    case DuckDBTypeId.BLOB:
      return 'varbinary';
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return 'array';
    case DuckDBTypeId.STRUCT:
      return 'row';
    case DuckDBTypeId.MAP:
      return 'map';
    case DuckDBTypeId.INTERVAL:
      return 'interval day to second';
    default:
      return 'varchar';
  }
}

/** Athena returns every value as text; doubles keep a decimal point as Trino prints them. */
export function athenaText(value: unknown, typeName: string): string | null {
  if (value === null || value === undefined) return null;
  if ((typeName === 'double' || typeName === 'float') && typeof value === 'number') {
    return Number.isInteger(value) ? value.toFixed(1) : String(value);
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Athena's result CSV: every value quoted, NULL as an empty unquoted field. */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | null)[])[]): string {
  const field = (value: string | null) => (value === null ? '' : `"${value.replaceAll('"', '""')}"`);
  return [header, ...rows].map((row) => `${row.map(field).join(',')}\n`).join('');
}
