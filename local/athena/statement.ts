import { AthenaRequestError } from './errors';

/** A table name as a statement names it: `events`, `db.events`, `` `db`.`events` ``. */
export interface TableName {
  readonly database?: string;
  readonly table: string;
}

/** What local Athena does with a statement, decided before anything reaches DuckDB. */
export type Statement =
  | { readonly kind: 'query'; readonly sql: string }
  | { readonly kind: 'explain'; readonly analyze: boolean; readonly sql: string }
  | { readonly kind: 'describe'; readonly name: TableName }
  | { readonly kind: 'show-columns'; readonly name: TableName };

const SUPPORTED =
  'local Athena runs SELECT, WITH, VALUES, EXPLAIN, DESCRIBE <table> and SHOW COLUMNS {FROM|IN} <table>';
/** Statements Athena runs that change the catalog or data; the local catalog is the CDK template's. */
const ATHENA_ONLY = new Set([
  'ALTER',
  'ANALYZE',
  'CREATE',
  'DEALLOCATE',
  'DELETE',
  'DROP',
  'EXECUTE',
  'INSERT',
  'MERGE',
  'MSCK',
  'OPTIMIZE',
  'PREPARE',
  'UNLOAD',
  'UPDATE',
  'VACUUM',
]);

/** Athena's answer to SQL its parser refuses: InvalidRequestException with MALFORMED_QUERY. */
export function malformed(message: string): AthenaRequestError {
  return new AthenaRequestError('InvalidRequestException', message, 400, 'MALFORMED_QUERY');
}

/** Line and column (1-based, as Athena's messages give them) of a character offset. */
export function lineColumn(sql: string, offset: number): string {
  const before = sql.slice(0, offset).split('\n');
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
}

/** Offset of the first character that is not whitespace, a comment or an opening parenthesis. */
function skipTrivia(sql: string, from: number, parens = true): number {
  let i = from;
  for (;;) {
    if (/\s/.test(sql[i] ?? '') || (parens && sql[i] === '(')) i++;
    else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else return i;
  }
}

function wordAt(sql: string, offset: number): string {
  return /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(offset))?.[0] ?? '';
}

/** One name part: bare, `back-quoted` (as Athena's DDL quotes) or "double-quoted". */
const PART = String.raw`(?:[A-Za-z_][A-Za-z0-9_]*|\x60[^\x60]+\x60|"(?:[^"]|"")+")`;
const NAME = new RegExp(`^(${PART})(?:\\s*\\.\\s*(${PART}))?`);

function unquote(part: string): string {
  if (part.startsWith('`')) return part.slice(1, -1).toLowerCase();
  if (part.startsWith('"')) return part.slice(1, -1).replaceAll('""', '"');
  return part.toLowerCase();
}

/** Reads `[db.]table` at `offset`; returns the name and where it ends. */
function readName(sql: string, offset: number): { name: TableName; end: number } | undefined {
  const match = NAME.exec(sql.slice(offset));
  if (!match?.[1]) return undefined;
  const name = match[2]
    ? { database: unquote(match[1]), table: unquote(match[2]) }
    : { table: unquote(match[1]) };
  return { name, end: offset + match[0].length };
}

/** Nothing but whitespace, comments and one optional `;` may follow a statement. */
function expectEnd(sql: string, offset: number): void {
  let i = skipTrivia(sql, offset, false);
  if (sql[i] === ';') i = skipTrivia(sql, i + 1, false);
  if (i < sql.length) {
    throw malformed(
      `line ${lineColumn(sql, i)}: mismatched input '${sql.slice(i).split(/\s/)[0]}'. Expecting: <EOF>`,
    );
  }
}

function describeStatement(sql: string, offset: number, keyword: string): Statement {
  const at = skipTrivia(sql, offset + keyword.length, false);
  // `DESCRIBE INPUT` / `DESCRIBE OUTPUT` describe prepared statements, which local Athena has not.
  if (/^(INPUT|OUTPUT|FORMATTED|EXTENDED)$/i.test(wordAt(sql, at))) {
    throw malformed(
      `${keyword.toUpperCase()} ${wordAt(sql, at).toUpperCase()} is not supported locally: ${SUPPORTED}`,
    );
  }
  const read = readName(sql, at);
  if (!read)
    throw malformed(`line ${lineColumn(sql, at)}: ${keyword.toUpperCase()} needs a table name: ${SUPPORTED}`);
  expectEnd(sql, read.end);
  return { kind: 'describe', name: read.name };
}

function showStatement(sql: string, offset: number): Statement {
  const what = skipTrivia(sql, offset + 'SHOW'.length, false);
  const word = wordAt(sql, what).toUpperCase();
  if (word !== 'COLUMNS') {
    throw malformed(
      `SHOW ${word || '…'} is not supported locally: ${SUPPORTED}. The local catalog is the CDK template's Glue tables.`,
    );
  }
  let at = skipTrivia(sql, what + word.length, false);
  const from = wordAt(sql, at).toUpperCase();
  if (from !== 'FROM' && from !== 'IN')
    throw malformed(`line ${lineColumn(sql, at)}: SHOW COLUMNS needs FROM or IN and a table name`);
  at = skipTrivia(sql, at + from.length, false);
  const read = readName(sql, at);
  if (!read) throw malformed(`line ${lineColumn(sql, at)}: SHOW COLUMNS ${from} needs a table name`);
  let name = read.name;
  let end = read.end;
  // SHOW COLUMNS FROM table FROM|IN database
  const next = skipTrivia(sql, end, false);
  const again = wordAt(sql, next).toUpperCase();
  if ((again === 'FROM' || again === 'IN') && !name.database) {
    const db = readName(sql, skipTrivia(sql, next + again.length, false));
    if (!db || db.name.database)
      throw malformed(`line ${lineColumn(sql, next)}: SHOW COLUMNS ... ${again} needs a database name`);
    name = { database: db.name.table, table: name.table };
    end = db.end;
  }
  expectEnd(sql, end);
  return { kind: 'show-columns', name };
}

/**
 * Sorts a statement by its first keyword the way Athena's parser would accept it. DuckDB-only
 * statements (COPY, ATTACH, INSTALL, LOAD, PRAGMA, SET, CALL, FROM-first queries…) are refused
 * here with Athena's error shape, before DuckDB sees them.
 */
export function classifyStatement(sql: string): Statement {
  const start = skipTrivia(sql, 0);
  const keyword = wordAt(sql, start);
  const upper = keyword.toUpperCase();
  if (upper === 'SELECT' || upper === 'WITH' || upper === 'VALUES') return { kind: 'query', sql };
  if (upper === 'DESCRIBE' || upper === 'DESC') return describeStatement(sql, start, keyword);
  if (upper === 'SHOW') return showStatement(sql, start);
  if (upper === 'EXPLAIN') {
    let at = skipTrivia(sql, start + keyword.length, false);
    const analyze = wordAt(sql, at).toUpperCase() === 'ANALYZE';
    if (analyze) at = skipTrivia(sql, at + 'ANALYZE'.length, false);
    if (sql[at] === '(')
      throw malformed(
        `line ${lineColumn(sql, at)}: EXPLAIN options (TYPE, FORMAT) are not supported locally; EXPLAIN prints DuckDB's plan`,
      );
    const inner = classifyStatement(sql.slice(at));
    if (inner.kind !== 'query')
      throw malformed(
        `line ${lineColumn(sql, at)}: local Athena explains only queries (SELECT, WITH, VALUES)`,
      );
    return { kind: 'explain', analyze, sql: inner.sql };
  }
  const where = `line ${lineColumn(sql, start)}: mismatched input '${keyword || sql.slice(start, start + 1)}'.`;
  if (ATHENA_ONLY.has(upper)) {
    throw new AthenaRequestError(
      'InvalidRequestException',
      `${upper} statements are not supported locally: the archive's tables come from the CDK template and are read-only here; ${SUPPORTED}`,
    );
  }
  throw malformed(`${where} ${upper || 'This'} is not an Athena statement; ${SUPPORTED}`);
}
