/** Glue (Hive) column types the archive uses, and their DuckDB/Parquet equivalents. */
export type ScalarKind = 'string' | 'integer' | 'double' | 'boolean';

export interface ColumnCodec {
  readonly name: string;
  readonly glueType: string;
  readonly duckdbType: string;
  readonly kind: ScalarKind;
  /** Inclusive bounds for integer columns. */
  readonly range?: readonly [number, number];
}

const SIMPLE: Record<string, Omit<ColumnCodec, 'name' | 'glueType'>> = {
  string: { duckdbType: 'VARCHAR', kind: 'string' },
  varchar: { duckdbType: 'VARCHAR', kind: 'string' },
  tinyint: { duckdbType: 'TINYINT', kind: 'integer', range: [-128, 127] },
  smallint: { duckdbType: 'SMALLINT', kind: 'integer', range: [-32768, 32767] },
  int: { duckdbType: 'INTEGER', kind: 'integer', range: [-2147483648, 2147483647] },
  integer: { duckdbType: 'INTEGER', kind: 'integer', range: [-2147483648, 2147483647] },
  // JSON numbers beyond 2^53 lose precision in JavaScript before they reach DuckDB.
  bigint: {
    duckdbType: 'BIGINT',
    kind: 'integer',
    range: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  },
  float: { duckdbType: 'FLOAT', kind: 'double' },
  double: { duckdbType: 'DOUBLE', kind: 'double' },
  boolean: { duckdbType: 'BOOLEAN', kind: 'boolean' },
};

export function columnCodec(name: string, glueType: string): ColumnCodec {
  const normalized = glueType.trim().toLowerCase();
  const base = SIMPLE[normalized] ?? (/^varchar\(\d+\)$/.test(normalized) ? SIMPLE.string : undefined);
  if (!base) {
    throw new Error(
      `Glue column ${name} has type ${glueType}, which the local Firehose cannot convert yet (supported: ${Object.keys(SIMPLE).join(', ')})`,
    );
  }
  return { name: name.toLowerCase(), glueType: normalized, ...base };
}
