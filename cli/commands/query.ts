import { NAMED_QUERIES, type NamedQueryDefinition } from '../../functions/core/archive/named-queries';
import { AWS_PRICES } from '../../functions/core/pricing';
import { QueryFailedError, runQuery, sqlLiteral } from '../../functions/shared/athena-query';
import type { AwsContext } from '../context';
import { checkDateShaped, parseDay } from '../dates';
import { CliError, ExitCode } from '../errors';
import { formatRows, isNumericType, type OutputFormat } from '../format';
import type { CliIO } from '../io';
import { formatBytes } from '../progress';

export interface QueryOptions {
  readonly named?: string;
  readonly param: string[];
  readonly format: OutputFormat;
  readonly list?: boolean;
  readonly database?: string;
  readonly workgroup?: string;
  readonly maxRows?: number;
}

/** Athena list price for SQL queries (functions/core/pricing.ts): per TB scanned, 10 MB minimum per query. */
export const ATHENA_PRICE = {
  usdPerTB: AWS_PRICES.athenaPerTb,
  minimumBytes: AWS_PRICES.athenaMinBytesPerQuery,
  region: AWS_PRICES.region,
  asOf: AWS_PRICES.asOf,
} as const;

export function athenaCost(scannedBytes: number): number {
  return (Math.max(scannedBytes, ATHENA_PRICE.minimumBytes) / 1024 ** 4) * ATHENA_PRICE.usdPerTB;
}

/**
 * The execution parameters of a query, in its `?` order. Named queries take `--param name=value`
 * (names from functions/core/archive/named-queries.ts); ad-hoc SQL takes `--param value` in order.
 * Each value becomes an SQL literal that Athena binds: it is never spliced into the query text.
 */
export function executionParameters(
  query: NamedQueryDefinition | undefined,
  params: readonly string[],
): string[] {
  if (!query) {
    return params.map((p) =>
      sqlLiteral(
        checkDateShaped(
          '--param',
          p.includes('=') && /^[a-z_][\w-]*=/i.test(p) ? p.slice(p.indexOf('=') + 1) : p,
        ),
      ),
    );
  }
  const given = new Map<string, string>();
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`--param ${JSON.stringify(p)}: expected name=value`, ExitCode.Usage);
    const name = p.slice(0, eq);
    if (!query.params.some((q) => q.name === name)) {
      throw new CliError(
        `named query ${query.name} has no parameter ${JSON.stringify(name)}; it takes ${describeParams(query)}`,
        ExitCode.Usage,
      );
    }
    given.set(name, p.slice(eq + 1));
  }
  const missing = query.params.filter((q) => !given.has(q.name));
  if (missing.length > 0) {
    throw new CliError(
      `named query ${query.name} needs ${missing.map((m) => `--param ${m.name}=...`).join(' ')} (${describeParams(query)})`,
      ExitCode.Usage,
    );
  }
  return query.params.map((q) => {
    const value = given.get(q.name) as string;
    const what = `--param ${q.name}`;
    return sqlLiteral(q.type === 'day' ? parseDay(what, value) : checkDateShaped(what, value));
  });
}

const describeParams = (q: NamedQueryDefinition) =>
  q.params.map((p) => `${p.name} (${p.description})`).join(', ');

export function findNamedQuery(name: string): NamedQueryDefinition {
  const query = NAMED_QUERIES.find((q) => q.name === name);
  if (!query) {
    throw new CliError(
      `unknown named query ${JSON.stringify(name)}; known: ${NAMED_QUERIES.map((q) => q.name).join(', ')} (inferbus query --list)`,
      ExitCode.Usage,
    );
  }
  return query;
}

export async function queryCommand(
  sql: string | undefined,
  options: QueryOptions,
  ctx: AwsContext,
  io: CliIO,
) {
  if (options.list) {
    const rows = NAMED_QUERIES.map((q) => ({
      name: q.name,
      params: q.params.map((p) => p.name).join(', '),
      description: q.description,
    }));
    for (const line of formatRows(['name', 'params', 'description'], rows, options.format)) io.out(line);
    return ExitCode.Ok;
  }
  if ((sql === undefined) === (options.named === undefined)) {
    throw new CliError(
      'pass either SQL text or --named NAME (inferbus query --list shows the names)',
      ExitCode.Usage,
    );
  }
  const named = options.named ? findNamedQuery(options.named) : undefined;
  const text = named?.sql ?? (sql as string);
  const parameters = executionParameters(named, options.param);
  const placeholders = countPlaceholders(text);
  if (placeholders !== parameters.length) {
    throw new CliError(
      `the query has ${placeholders} ? placeholder(s) but ${parameters.length} --param value(s) were given`,
      ExitCode.Usage,
    );
  }
  await ctx.preflight();
  const workGroup = options.workgroup ?? ctx.names.workGroupName;
  const database = options.database ?? ctx.names.databaseName;
  let lastState = '';
  const result = await runQuery(ctx.athena(), workGroup, database, text, parameters, {
    maxRows: options.maxRows,
    onPoll: (state, waited) => {
      if (state !== lastState && waited > 2_000)
        io.err(`query: ${state} after ${(waited / 1000).toFixed(0)} s`);
      lastState = state;
    },
  }).catch((error) => {
    if (error instanceof QueryFailedError) throw new CliError(error.message, ExitCode.Failed);
    throw ctx.explain(error);
  });
  if (result.warning) io.err(`query: warning: ${result.warning}`);
  const numeric = result.types.map(isNumericType);
  for (const line of formatRows(result.columns, result.rows, options.format, numeric)) io.out(line);
  const cost = athenaCost(result.scannedBytes);
  io.err(
    `${result.rows.length} row(s); data scanned ${formatBytes(result.scannedBytes)}, cost $${cost.toFixed(6)} ` +
      `(Athena $${ATHENA_PRICE.usdPerTB}/TB, 10 MB minimum, ${ATHENA_PRICE.region} list price as of ${ATHENA_PRICE.asOf}${ctx.local ? '; local runs cost nothing' : ''}); ` +
      `query id ${result.queryExecutionId}`,
  );
  return ExitCode.Ok;
}

/** `?` outside string literals, quoted identifiers and comments. */
export function countPlaceholders(sql: string): number {
  let count = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const close = sql.indexOf(c, i + 1);
      i = close < 0 ? sql.length : close;
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
    } else if (c === '?') count++;
  }
  return count;
}
