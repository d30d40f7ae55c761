import {
  type AthenaClient,
  BatchGetNamedQueryCommand,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  ListNamedQueriesCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';

export interface QueryRows {
  readonly columns: string[];
  readonly types: string[];
  readonly rows: Record<string, string | null>[];
  readonly scannedBytes: number;
  readonly queryExecutionId: string;
  readonly engineMs: number;
  /** What a query that succeeded says about itself (local Athena: objects it skipped as unreadable). */
  readonly warning?: string;
}

export interface RunQueryOptions {
  /** Called on every poll with the state and the time waited so far. */
  readonly onPoll?: (state: string, waitedMs: number) => void;
  /** Give up (the query keeps running in Athena) after this long. @default 10 min */
  readonly timeoutMs?: number;
  /** Stop reading pages after this many rows. @default unlimited */
  readonly maxRows?: number;
}

export class QueryFailedError extends Error {
  override readonly name = 'QueryFailedError';
  constructor(
    readonly queryExecutionId: string,
    readonly state: string,
    readonly reason: string,
  ) {
    super(`query ${queryExecutionId} ${state}: ${reason}`);
  }
}

/**
 * Runs one query through the Athena API as any Athena client would: start it with execution
 * parameters (never spliced into the text), poll with exponential backoff, page through the results.
 */
export async function runQuery(
  client: AthenaClient,
  workGroup: string,
  database: string,
  sql: string,
  parameters: string[] = [],
  options: RunQueryOptions = {},
): Promise<QueryRows> {
  const { QueryExecutionId: id = '' } = await client.send(
    new StartQueryExecutionCommand({
      QueryString: sql,
      WorkGroup: workGroup,
      QueryExecutionContext: { Database: database },
      ExecutionParameters: parameters.length > 0 ? parameters : undefined,
    }),
  );
  const started = Date.now();
  let delay = 20;
  for (;;) {
    const { QueryExecution: execution } = await client.send(
      new GetQueryExecutionCommand({ QueryExecutionId: id }),
    );
    const state = execution?.Status?.State ?? 'UNKNOWN';
    options.onPoll?.(state, Date.now() - started);
    if (state === 'SUCCEEDED') {
      const scannedBytes = execution?.Statistics?.DataScannedInBytes ?? 0;
      const engineMs = execution?.Statistics?.EngineExecutionTimeInMillis ?? 0;
      const columns: string[] = [];
      const types: string[] = [];
      const rows: Record<string, string | null>[] = [];
      let token: string | undefined;
      let first = true;
      do {
        const page = await client.send(
          new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token, MaxResults: 1000 }),
        );
        if (columns.length === 0) {
          for (const c of page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []) {
            columns.push(c.Name ?? '');
            types.push(c.Type ?? 'varchar');
          }
        }
        for (const row of page.ResultSet?.Rows ?? []) {
          if (first) {
            first = false; // Athena's first row repeats the column names.
            continue;
          }
          rows.push(Object.fromEntries(columns.map((c, i) => [c, row.Data?.[i]?.VarCharValue ?? null])));
        }
        token = page.NextToken;
      } while (token && (options.maxRows === undefined || rows.length < options.maxRows));
      const warning = execution?.Status?.StateChangeReason;
      return {
        columns,
        types,
        rows,
        scannedBytes,
        queryExecutionId: id,
        engineMs,
        ...(warning ? { warning } : {}),
      };
    }
    if (state === 'FAILED' || state === 'CANCELLED') {
      throw new QueryFailedError(id, state, execution?.Status?.StateChangeReason ?? 'no reason given');
    }
    if (Date.now() - started > (options.timeoutMs ?? 600_000)) {
      throw new QueryFailedError(
        id,
        'TIMED_OUT',
        `still ${state} after ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(1_000, delay * 2);
  }
}

/** Named queries of a workgroup, by name. */
export async function namedQueries(
  client: AthenaClient,
  workGroup: string,
): Promise<Map<string, { sql: string; database: string }>> {
  const { NamedQueryIds: ids = [] } = await client.send(
    new ListNamedQueriesCommand({ WorkGroup: workGroup }),
  );
  const { NamedQueries: queries = [] } =
    ids.length > 0
      ? await client.send(new BatchGetNamedQueryCommand({ NamedQueryIds: ids }))
      : { NamedQueries: [] };
  return new Map(
    queries.map((q) => [q.Name ?? '', { sql: q.QueryString ?? '', database: q.Database ?? '' }]),
  );
}

/** An Athena execution parameter is SQL literal text: strings are quoted, quotes doubled. */
export function sqlLiteral(value: string): string {
  if (/^-?\d+(\.\d+)?$/.test(value)) return value;
  return `'${value.replaceAll("'", "''")}'`;
}
