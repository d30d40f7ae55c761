import type { GlueColumnModel, GlueTableModel } from '../model';

/**
 * DESCRIBE and SHOW COLUMNS answered from the Glue table, in the shape Athena gives for Hive
 * tables: no header row, one text value per row, names (and DESCRIBE's fields) left-aligned in 20
 * characters. Shapes as measured against Athena and recorded by the athena-local project.
 */
export interface UtilityResult {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly rows: readonly (readonly string[])[];
  readonly substatementType: 'DESCRIBE_TABLE' | 'SHOW_COLUMNS';
  /** Athena sends `UpdateCount: 0` for SHOW COLUMNS and none for DESCRIBE. */
  readonly updateCount?: number;
}

const WIDTH = 20;
const pad = (text: string) => text.padEnd(WIDTH);
const describeLine = (column: GlueColumnModel) => `${pad(column.name)}\t${pad(column.type)}\t${pad('')}`;

export function describeTable(table: GlueTableModel): UtilityResult {
  const lines = [...table.columns, ...table.partitionKeys].map(describeLine);
  if (table.partitionKeys.length > 0) {
    lines.push(
      '\t \t ',
      '# Partition Information\t \t ',
      `${'# col_name'.padEnd(22)}\t${pad('data_type')}\t${pad('comment')}`,
      '\t \t ',
      ...table.partitionKeys.map(describeLine),
    );
  }
  return {
    columns: ['col_name', 'data_type', 'comment'].map((name) => ({ name, type: 'string' })),
    rows: lines.map((line) => [line]),
    substatementType: 'DESCRIBE_TABLE',
  };
}

export function showColumns(table: GlueTableModel): UtilityResult {
  return {
    columns: [{ name: 'field', type: 'string' }],
    rows: [...table.columns, ...table.partitionKeys].map((c) => [pad(c.name)]),
    substatementType: 'SHOW_COLUMNS',
    updateCount: 0,
  };
}
