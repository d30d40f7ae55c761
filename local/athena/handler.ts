import { memberShapeError, operationFor } from '../aws-json-shapes';
import { AthenaRequestError } from './errors';
import type { LocalAthena, QueryExecution } from './local-athena';

export interface AthenaHttpResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

type Body = Record<string, unknown>;
const MAX_RESULTS = 1000;
const NAMED_QUERY_PAGE = 50;

const json = (status: number, body: unknown): AthenaHttpResponse => ({
  status,
  headers: { 'content-type': 'application/x-amz-json-1.1' },
  body: JSON.stringify(body),
});

const error = (code: string, message: string, status = 400, athenaErrorCode?: string) =>
  json(status, {
    __type: code,
    Message: message,
    // Athena sends the code twice on InvalidRequestException.
    ...(athenaErrorCode ? { AthenaErrorCode: athenaErrorCode, ErrorCode: athenaErrorCode } : {}),
  });

/** A member of the wrong JSON type, refused as AWS's deserializer does (see aws-json-shapes.ts). */
function serializationError(message: string): AthenaRequestError {
  return new AthenaRequestError('SerializationException', message);
}

const str = (body: Body, field: string, required = true): string | undefined => {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) throw new AthenaRequestError('InvalidRequestException', `${field} is required`);
    return undefined;
  }
  const problem = memberShapeError(field, value, 'String');
  if (problem) throw serializationError(problem);
  return value as string;
};

/** Most ids BatchGetNamedQuery takes (its documented NamedQueryIds constraint). */
const MAX_BATCH_NAMED_QUERIES = 50;

const epochSeconds = (date: Date | undefined) => (date ? date.getTime() / 1000 : undefined);

function describeExecution(execution: QueryExecution) {
  return {
    QueryExecutionId: execution.id,
    Query: execution.query,
    StatementType: execution.statementType,
    ...(execution.substatementType ? { SubstatementType: execution.substatementType } : {}),
    ...(execution.outputLocation
      ? { ResultConfiguration: { OutputLocation: execution.outputLocation } }
      : {}),
    QueryExecutionContext: { Database: execution.database, Catalog: 'AwsDataCatalog' },
    ...(execution.parameters.length > 0 ? { ExecutionParameters: execution.parameters } : {}),
    Status: {
      State: execution.state,
      ...(execution.stateChangeReason ? { StateChangeReason: execution.stateChangeReason } : {}),
      SubmissionDateTime: epochSeconds(execution.submittedAt),
      ...(execution.completedAt ? { CompletionDateTime: epochSeconds(execution.completedAt) } : {}),
      ...(execution.state === 'FAILED'
        ? {
            AthenaError: {
              ErrorCategory: 2,
              ErrorType: 1000,
              Retryable: false,
              ErrorMessage: execution.stateChangeReason,
            },
          }
        : {}),
    },
    Statistics: {
      EngineExecutionTimeInMillis: execution.engineMillis,
      DataScannedInBytes: execution.dataScannedBytes,
      TotalExecutionTimeInMillis: execution.completedAt
        ? execution.completedAt.getTime() - execution.submittedAt.getTime()
        : Date.now() - execution.submittedAt.getTime(),
      QueryQueueTimeInMillis: 0,
    },
    WorkGroup: execution.workGroup,
    EngineVersion: { SelectedEngineVersion: 'AUTO', EffectiveEngineVersion: 'Athena engine version 3' },
  };
}

function page(token: unknown, size: number, total: number): { start: number; end: number; next?: string } {
  const start = token === undefined || token === null ? 0 : Number.parseInt(String(token), 10);
  if (!Number.isInteger(start) || start < 0 || start > total) {
    throw new AthenaRequestError(
      'InvalidRequestException',
      'NextToken is invalid: pass the token from the previous page',
    );
  }
  const end = Math.min(total, start + size);
  return { start, end, ...(end < total ? { next: String(end) } : {}) };
}

function maxResults(body: Body, limit: number): number {
  const value = body.MaxResults;
  if (value === undefined || value === null) return limit;
  const problem = memberShapeError('MaxResults', value, 'Integer');
  if (problem) throw serializationError(problem);
  if (typeof value !== 'number' || value < 1 || value > limit) {
    throw new AthenaRequestError(
      'InvalidRequestException',
      `MaxResults must be an integer from 1 to ${limit}`,
    );
  }
  return value;
}

type Operation = (athena: LocalAthena, body: Body) => unknown;

const operations = new Map<string, Operation>(
  Object.entries({
    async StartQueryExecution(athena: LocalAthena, body: Body) {
      const contextProblem = memberShapeError(
        'QueryExecutionContext',
        body.QueryExecutionContext,
        'Structure',
      );
      if (contextProblem) throw serializationError(contextProblem);
      const context = (body.QueryExecutionContext ?? {}) as Body;
      const parameters = body.ExecutionParameters;
      const listProblem = memberShapeError('ExecutionParameters', parameters, 'List');
      if (listProblem) throw serializationError(listProblem);
      for (const [i, p] of ((parameters ?? []) as unknown[]).entries()) {
        if (p === null)
          throw new AthenaRequestError(
            'InvalidRequestException',
            `ExecutionParameters[${i}] must not be null`,
          );
        const problem = memberShapeError(`ExecutionParameters[${i}]`, p, 'String');
        if (problem) throw serializationError(problem);
      }
      const id = await athena.start({
        query: str(body, 'QueryString') as string,
        database: str(context, 'Database', false),
        workGroup: str(body, 'WorkGroup', false),
        parameters: (parameters as string[] | undefined) ?? [],
      });
      return { QueryExecutionId: id };
    },
    GetQueryExecution(athena: LocalAthena, body: Body) {
      return { QueryExecution: describeExecution(athena.get(str(body, 'QueryExecutionId') as string)) };
    },
    StopQueryExecution(athena: LocalAthena, body: Body) {
      athena.stop(str(body, 'QueryExecutionId') as string);
      return {};
    },
    GetQueryResults(athena: LocalAthena, body: Body) {
      const execution = athena.get(str(body, 'QueryExecutionId') as string);
      if (execution.state !== 'SUCCEEDED' || !execution.result) {
        const reason = execution.stateChangeReason ? `: ${execution.stateChangeReason}` : '';
        throw new AthenaRequestError(
          'InvalidRequestException',
          `Query has not yet finished. Current state: ${execution.state}${reason}`,
        );
      }
      const { columns, rows, headerRow, updateCount } = execution.result;
      // Athena's first page of a query's results starts with a header row holding the column names;
      // DESCRIBE and SHOW COLUMNS have none.
      const all = headerRow ? [columns.map((c) => c.name), ...rows] : rows;
      const { start, end, next } = page(body.NextToken, maxResults(body, MAX_RESULTS), all.length);
      return {
        ...(updateCount === undefined ? {} : { UpdateCount: updateCount }),
        ResultSet: {
          Rows: all.slice(start, end).map((row) => ({
            Data: row.map((value) => (value === null ? {} : { VarCharValue: value })),
          })),
          ResultSetMetadata: {
            ColumnInfo: columns.map((c) => ({
              CatalogName: 'hive',
              SchemaName: '',
              TableName: '',
              Name: c.name,
              Label: c.name,
              Type: c.type,
              Precision: 0,
              Scale: 0,
              Nullable: 'UNKNOWN',
              CaseSensitive: headerRow && c.type === 'varchar',
            })),
          },
        },
        ...(next ? { NextToken: next } : {}),
      };
    },
    ListNamedQueries(athena: LocalAthena, body: Body) {
      const workGroup = str(body, 'WorkGroup', false) ?? 'primary';
      const ids = athena.namedQueries.filter((q) => q.workGroup === workGroup).map((q) => q.id);
      const { start, end, next } = page(body.NextToken, maxResults(body, NAMED_QUERY_PAGE), ids.length);
      return { NamedQueryIds: ids.slice(start, end), ...(next ? { NextToken: next } : {}) };
    },
    GetNamedQuery(athena: LocalAthena, body: Body) {
      const id = str(body, 'NamedQueryId') as string;
      const query = athena.namedQueries.find((q) => q.id === id);
      if (!query) throw new AthenaRequestError('InvalidRequestException', `NamedQuery ${id} was not found`);
      return { NamedQuery: namedQuery(query) };
    },
    BatchGetNamedQuery(athena: LocalAthena, body: Body) {
      const ids = body.NamedQueryIds;
      const problem = memberShapeError('NamedQueryIds', ids, 'List');
      if (problem) throw serializationError(problem);
      if (!Array.isArray(ids) || ids.length === 0)
        throw new AthenaRequestError(
          'InvalidRequestException',
          'NamedQueryIds is required: give 1 to 50 ids',
        );
      if (ids.length > MAX_BATCH_NAMED_QUERIES)
        throw new AthenaRequestError(
          'InvalidRequestException',
          `NamedQueryIds has ${ids.length} ids; BatchGetNamedQuery takes at most ${MAX_BATCH_NAMED_QUERIES}`,
        );
      for (const [i, id] of ids.entries()) {
        if (id === null)
          throw new AthenaRequestError('InvalidRequestException', `NamedQueryIds[${i}] must not be null`);
        const idProblem = memberShapeError(`NamedQueryIds[${i}]`, id, 'String');
        if (idProblem) throw serializationError(idProblem);
      }
      const found = athena.namedQueries.filter((q) => ids.includes(q.id));
      return {
        NamedQueries: found.map(namedQuery),
        UnprocessedNamedQueryIds: ids
          .filter((id) => !found.some((q) => q.id === id))
          .map((id) => ({
            NamedQueryId: id,
            ErrorCode: 'INVALID_INPUT',
            ErrorMessage: 'Named query not found',
          })),
      };
    },
    ListWorkGroups(athena: LocalAthena) {
      return {
        WorkGroups: [...athena.workGroups.values()].map((w) => ({
          Name: w.name,
          State: 'ENABLED',
          Description: '',
          EngineVersion: { SelectedEngineVersion: 'AUTO', EffectiveEngineVersion: 'Athena engine version 3' },
        })),
      };
    },
  }),
);

function namedQuery(query: LocalAthena['namedQueries'][number]) {
  return {
    NamedQueryId: query.id,
    Name: query.name,
    Description: query.description,
    Database: query.database,
    QueryString: query.queryString,
    WorkGroup: query.workGroup,
  };
}

/**
 * One Athena API call in AWS JSON 1.1: `target` is the `X-Amz-Target` header
 * (`AmazonAthena.StartQueryExecution`), `body` the raw request body. Never rejects.
 */
export async function handleAthenaRequest(
  athena: LocalAthena,
  target: string,
  body: string,
): Promise<AthenaHttpResponse> {
  const operation = operationFor(operations, 'AmazonAthena.', target);
  if (!operation) {
    return error(
      'UnknownOperationException',
      `The local Athena does not implement ${target || '(no X-Amz-Target)'}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = body.trim() ? JSON.parse(body) : {};
  } catch {
    return error('SerializationException', 'The request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return error('SerializationException', 'The request body must be a JSON object');
  }
  try {
    return json(200, await operation(athena, parsed as Body));
  } catch (caught) {
    if (caught instanceof AthenaRequestError)
      return error(caught.code, caught.message, caught.status, caught.athenaErrorCode);
    return error('InternalServerException', caught instanceof Error ? caught.message : String(caught), 500);
  }
}
