import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  ListNamedQueriesCommand,
  BatchGetNamedQueryCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';

export interface QueryRows {
  readonly columns: string[];
  readonly rows: Record<string, string | null>[];
  readonly scannedBytes: number;
}

/** Runs one query through the Athena API (start, poll, page through results) as any Athena client would. */
export async function runQuery(
  client: AthenaClient,
  workGroup: string,
  database: string,
  sql: string,
  parameters: string[] = [],
): Promise<QueryRows> {
  const { QueryExecutionId: id } = await client.send(
    new StartQueryExecutionCommand({
      QueryString: sql,
      WorkGroup: workGroup,
      QueryExecutionContext: { Database: database },
      ExecutionParameters: parameters.length > 0 ? parameters : undefined,
    }),
  );
  let delay = 20;
  for (;;) {
    const { QueryExecution: execution } = await client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
    const state = execution?.Status?.State;
    if (state === 'SUCCEEDED') {
      const scannedBytes = execution?.Statistics?.DataScannedInBytes ?? 0;
      const columns: string[] = [];
      const rows: Record<string, string | null>[] = [];
      let token: string | undefined;
      let first = true;
      do {
        const page = await client.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token }));
        if (columns.length === 0) columns.push(...(page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? ''));
        for (const row of page.ResultSet?.Rows ?? []) {
          if (first) {
            first = false; // Athena's first row repeats the column names.
            continue;
          }
          rows.push(Object.fromEntries(columns.map((c, i) => [c, row.Data?.[i]?.VarCharValue ?? null])));
        }
        token = page.NextToken;
      } while (token);
      return { columns, rows, scannedBytes };
    }
    if (state === 'FAILED' || state === 'CANCELLED') {
      throw new Error(`query ${id} ${state}: ${execution?.Status?.StateChangeReason ?? 'no reason given'}`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(500, delay * 2);
  }
}

/** Named queries of a workgroup, by name. */
export async function namedQueries(client: AthenaClient, workGroup: string): Promise<Map<string, { sql: string; database: string }>> {
  const { NamedQueryIds: ids = [] } = await client.send(new ListNamedQueriesCommand({ WorkGroup: workGroup }));
  const { NamedQueries: queries = [] } =
    ids.length > 0 ? await client.send(new BatchGetNamedQueryCommand({ NamedQueryIds: ids })) : { NamedQueries: [] };
  return new Map(queries.map((q) => [q.Name ?? '', { sql: q.QueryString ?? '', database: q.Database ?? '' }]));
}
