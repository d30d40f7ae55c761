import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { GlueTableModel, NamedQueryModel, WorkGroupModel } from '../model';
import { CatalogTable, type ObjectPathResolver, quoteIdent, quoteString } from './catalog';
import { AthenaRequestError } from './errors';
import { ATHENA_MACROS } from './functions';
import { type ParameterValue, parseExecutionParameter } from './parameters';
import { checkQueryTree } from './query-tree';
import { athenaText, athenaTypeName, toCsv } from './result-format';
import { createSandboxedDatabase } from './sandbox';
import { ScannedBytesEstimator } from './scanned-bytes';
import { classifyStatement, type Statement, type TableName } from './statement';
import { type SkippedObject, skippedObjectsReason, UnreadableObjects } from './unreadable-objects';
import { describeTable, showColumns, type UtilityResult } from './utility';

export type QueryState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface QueryResult {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly rows: readonly (readonly (string | null)[])[];
  /** Whether GetQueryResults' first page starts with the column names (queries yes, DESCRIBE no). */
  readonly headerRow: boolean;
  readonly updateCount?: number;
}

export interface QueryExecution {
  readonly id: string;
  readonly query: string;
  readonly database: string;
  readonly workGroup: string;
  readonly parameters: readonly string[];
  readonly outputLocation?: string;
  readonly statementType: 'DML' | 'UTILITY';
  readonly substatementType?: string;
  /** What runs: a query or EXPLAIN in DuckDB, or a DESCRIBE answered from the catalog. */
  readonly statement: Statement;
  state: QueryState;
  stateChangeReason?: string;
  readonly submittedAt: Date;
  completedAt?: Date;
  engineMillis: number;
  dataScannedBytes: number;
  result?: QueryResult;
  connection?: DuckDBConnection;
}

export interface LocalAthenaOptions {
  readonly tables: readonly GlueTableModel[];
  readonly workGroups: readonly WorkGroupModel[];
  readonly namedQueries: readonly NamedQueryModel[];
  readonly objectPath: ObjectPathResolver;
  /** Client for the local S3, used to write result CSVs; without it results stay in memory only. */
  readonly s3?: S3Client;
  /** Used when a query names no database. */
  readonly defaultDatabase?: string;
  /** Told once about each object a query skips because it cannot be read as Parquet. */
  readonly warn?: (message: string) => void;
  /** Told the bytes each billed query scanned: successful SELECTs (DDL and failed queries are free). */
  readonly onQueryBilled?: (scannedBytes: number) => void;
}

const BYTES_LIMIT_MESSAGE = 'Query cancelled! : Bytes scanned limit was exceeded';

/**
 * Athena on DuckDB: Glue tables become views over the local S3's Parquet files, queries run one at
 * a time in the background (Start returns at once), results are kept for GetQueryResults and
 * written as CSV to the workgroup's output location.
 */
export class LocalAthena {
  readonly workGroups: ReadonlyMap<string, WorkGroupModel>;
  readonly namedQueries: readonly NamedQueryModel[];
  private readonly tables: CatalogTable[];
  private readonly executions = new Map<string, QueryExecution>();
  private readonly estimator = new ScannedBytesEstimator();
  private readonly unreadable: UnreadableObjects;
  private instance?: Promise<DuckDBInstance>;
  private profileDir?: Promise<string>;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: LocalAthenaOptions) {
    this.tables = options.tables.map((t) => new CatalogTable(t, options.objectPath));
    this.unreadable = new UnreadableObjects(options.warn);
    const groups = new Map(options.workGroups.map((w) => [w.name, w]));
    if (!groups.has('primary')) groups.set('primary', { name: 'primary', outputLocation: '' });
    this.workGroups = groups;
    this.namedQueries = options.namedQueries;
  }

  /**
   * Checks the statement as Athena's StartQueryExecution does (refusing what Athena would not
   * parse, and what would reach outside the archive), then queues it and returns its id.
   */
  async start(input: {
    query: string;
    database?: string;
    workGroup?: string;
    parameters?: readonly string[];
  }): Promise<string> {
    const workGroupName = input.workGroup ?? 'primary';
    const workGroup = this.workGroups.get(workGroupName);
    if (!workGroup) {
      throw new AthenaRequestError(
        'InvalidRequestException',
        `WorkGroup ${workGroupName} is not found. Known workgroups: ${[...this.workGroups.keys()].join(', ')}`,
      );
    }
    if (!input.query.trim())
      throw new AthenaRequestError('InvalidRequestException', 'QueryString must not be empty');
    const parameters = input.parameters ?? [];
    // Reject bad parameters at Start, as Athena does, rather than failing the query later.
    parameters.forEach((p, i) => {
      parseExecutionParameter(p, i);
    });
    const database =
      input.database ?? this.options.defaultDatabase ?? this.tables[0]?.model.databaseName ?? 'default';
    const statement = classifyStatement(input.query);
    let substatementType: string | undefined;
    if (statement.kind === 'query' || statement.kind === 'explain') {
      await this.checkQuery(statement.sql);
    } else {
      this.catalogTable(statement.name, database);
      substatementType = statement.kind === 'describe' ? 'DESCRIBE_TABLE' : 'SHOW_COLUMNS';
    }
    const utility = statement.kind === 'describe' || statement.kind === 'show-columns';
    const id = randomUUID();
    // Athena writes a query's results as CSV and a DESCRIBE's as text.
    const outputLocation = workGroup.outputLocation
      ? `${workGroup.outputLocation.replace(/\/?$/, '/')}${id}.${utility ? 'txt' : 'csv'}`
      : undefined;
    const execution: QueryExecution = {
      id,
      query: input.query,
      database,
      workGroup: workGroupName,
      parameters,
      ...(outputLocation ? { outputLocation } : {}),
      statementType: utility ? 'UTILITY' : 'DML',
      ...(substatementType ? { substatementType } : {}),
      statement,
      state: 'QUEUED',
      submittedAt: new Date(),
      engineMillis: 0,
      dataScannedBytes: 0,
    };
    this.executions.set(id, execution);
    this.queue = this.queue.then(() => this.run(execution, workGroup));
    return id;
  }

  get(id: string): QueryExecution {
    const execution = this.executions.get(id);
    if (!execution) {
      throw new AthenaRequestError('InvalidRequestException', `QueryExecution ${id} was not found`);
    }
    return execution;
  }

  stop(id: string): void {
    const execution = this.get(id);
    if (execution.state === 'QUEUED' || execution.state === 'RUNNING') {
      execution.connection?.interrupt();
      this.finish(execution, 'CANCELLED', 'Query cancelled by user');
    }
  }

  /** Resolves when every query started so far has finished. */
  async idle(): Promise<void> {
    await this.queue;
  }

  async close(): Promise<void> {
    for (const execution of this.executions.values()) {
      if (execution.state === 'QUEUED') this.finish(execution, 'CANCELLED', 'local Athena shut down');
    }
    await this.queue;
    const instance = this.instance;
    const profileDir = this.profileDir;
    this.instance = undefined;
    this.profileDir = undefined;
    if (instance) (await instance).closeSync();
    if (profileDir) await rm(await profileDir, { recursive: true, force: true });
  }

  /** Runs DuckDB's parser over a query and refuses what Athena would not run (see query-tree.ts). */
  private async checkQuery(sql: string): Promise<void> {
    const connection = await (await this.database()).connect();
    try {
      const reader = await connection.runAndReadAll('SELECT json_serialize_sql(?::VARCHAR)', [sql]);
      const tables = this.tables.map((t) => `${t.model.databaseName}.${t.model.name}`);
      checkQueryTree(sql, String(reader.getRowsJson()[0]?.[0]), tables);
    } finally {
      connection.closeSync();
    }
  }

  /** The Glue table a DESCRIBE or SHOW COLUMNS names, in the query's database unless it names one. */
  private catalogTable(name: TableName, database: string): CatalogTable {
    const db = name.database ?? database;
    const table = this.tables.find((t) => t.model.databaseName === db && t.model.name === name.table);
    if (!table) {
      const known = this.tables.map((t) => `${t.model.databaseName}.${t.model.name}`).join(', ');
      throw new AthenaRequestError(
        'InvalidRequestException',
        `Table ${db}.${name.table} does not exist: the local catalog has ${known || 'no tables'}`,
      );
    }
    return table;
  }

  /** This instance's scratch folder: query profiles and DuckDB's spill files. */
  private profileDirectory(): Promise<string> {
    this.profileDir ??= mkdtemp(join(tmpdir(), 'inferbus-athena-'));
    return this.profileDir;
  }

  private async database(): Promise<DuckDBInstance> {
    this.instance ??= (async () =>
      createSandboxedDatabase({
        readable: this.tables.map((t) => t.directory),
        scratch: await this.profileDirectory(),
        setup: ATHENA_MACROS,
      }))();
    return this.instance;
  }

  private finish(execution: QueryExecution, state: QueryState, reason?: string): void {
    if (execution.state === 'SUCCEEDED' || execution.state === 'FAILED' || execution.state === 'CANCELLED')
      return;
    execution.state = state;
    if (reason) execution.stateChangeReason = reason;
    execution.completedAt = new Date();
    if (state === 'SUCCEEDED' && execution.statement.kind === 'query')
      this.options.onQueryBilled?.(execution.dataScannedBytes);
  }

  private async run(execution: QueryExecution, workGroup: WorkGroupModel): Promise<void> {
    if (execution.state !== 'QUEUED') return;
    execution.state = 'RUNNING';
    const started = performance.now();
    let connection: DuckDBConnection | undefined;
    try {
      const { statement } = execution;
      if (statement.kind === 'describe' || statement.kind === 'show-columns') {
        const table = this.catalogTable(statement.name, execution.database).model;
        await this.complete(
          execution,
          utilityResult(statement.kind === 'describe' ? describeTable(table) : showColumns(table)),
        );
        return;
      }
      const instance = await this.database();
      connection = await instance.connect();
      execution.connection = connection;
      const tables = [];
      const skipped: SkippedObject[] = [];
      for (const table of this.tables) {
        const view = await table.refreshView(connection, (files) =>
          this.unreadable.partition(instance, files),
        );
        tables.push({ table, files: view.files });
        skipped.push(...view.skipped);
      }
      // Athena fails a query over a damaged object; locally one bad object would fail every
      // query (even SELECT 1), so it is skipped and named on the query instead.
      execution.stateChangeReason = skippedObjectsReason(skipped);
      const schemas = [execution.database, ...new Set(this.tables.map((t) => t.model.databaseName))];
      await connection.run(
        `SET search_path = ${quoteString([...new Set(schemas)].map(quoteIdent).join(','))}`,
      );
      const values: ParameterValue[] = execution.parameters.map((p, i) => parseExecutionParameter(p, i));
      const params = values.length > 0 ? values : undefined;
      if (statement.kind === 'explain') {
        const explained = `EXPLAIN ${statement.analyze ? 'ANALYZE ' : ''}${statement.sql}`;
        const reader = await connection.runAndReadAll(explained, params);
        execution.engineMillis = Math.round(performance.now() - started);
        await this.complete(execution, explainResult(reader.getRowsJson()));
        return;
      }
      const profile = join(await this.profileDirectory(), `${execution.id}.json`);
      await connection.run(`PRAGMA enable_profiling = 'json'`);
      await connection.run(`PRAGMA profiling_output = ${quoteString(profile)}`);
      const reader = await connection.runAndReadAll(statement.sql, params);
      execution.engineMillis = Math.round(performance.now() - started);
      const plan = await readProfile(profile);
      await connection.run('PRAGMA disable_profiling');
      await rm(profile, { force: true });
      if (execution.state !== 'RUNNING') return;
      // DuckDB writes no profile for an ungrouped aggregate over Parquet (`SELECT count(*) FROM
      // events`): every file of every table is then counted whole, erring high as the estimate does.
      execution.dataScannedBytes = plan
        ? await this.estimator.estimate(connection, plan, tables)
        : tables.reduce((sum, t) => sum + t.files.reduce((bytes, f) => bytes + f.size, 0), 0);
      const cutoff = workGroup.bytesScannedCutoffPerQuery;
      if (cutoff !== undefined && execution.dataScannedBytes > cutoff) {
        this.finish(execution, 'FAILED', BYTES_LIMIT_MESSAGE);
        return;
      }
      const types = reader.columnTypes().map(athenaTypeName);
      const columns = reader.columnNames().map((name, i) => ({ name, type: types[i] ?? 'varchar' }));
      const rows = reader
        .getRowsJson()
        .map((row) => row.map((value, i) => athenaText(value, columns[i]?.type ?? 'varchar')));
      await this.complete(execution, { columns, rows, headerRow: true, updateCount: 0 });
    } catch (error) {
      execution.engineMillis = Math.round(performance.now() - started);
      this.finish(execution, 'FAILED', athenaFailureReason(error));
    } finally {
      execution.connection = undefined;
      connection?.closeSync();
    }
  }

  private async complete(execution: QueryExecution, result: QueryResult): Promise<void> {
    if (execution.state !== 'RUNNING') return;
    execution.result = result;
    if (execution.outputLocation) await this.writeResult(execution.outputLocation, result);
    this.finish(execution, 'SUCCEEDED');
  }

  /** The result file at the output location: CSV for a query, the rows' text for DESCRIBE. */
  private async writeResult(location: string, result: QueryResult): Promise<void> {
    if (!this.options.s3) return;
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
    if (!match) throw new Error(`workgroup output location ${location} is not an s3://bucket/key URL`);
    const body = result.headerRow
      ? toCsv(
          result.columns.map((c) => c.name),
          result.rows,
        )
      : result.rows.map((row) => row.join('\t')).join('\n');
    await this.options.s3.send(
      new PutObjectCommand({
        Bucket: match[1],
        Key: match[2],
        Body: body,
        ContentType: result.headerRow ? 'text/csv' : 'binary/octet-stream',
      }),
    );
  }
}

function utilityResult(result: UtilityResult): QueryResult {
  return {
    columns: result.columns,
    rows: result.rows,
    headerRow: false,
    ...(result.updateCount === undefined ? {} : { updateCount: result.updateCount }),
  };
}

async function readProfile(
  path: string,
): Promise<Parameters<ScannedBytesEstimator['estimate']>[1] | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** DuckDB's plan text, one row per line, under Athena's EXPLAIN column name. */
function explainResult(rows: readonly (readonly unknown[])[]): QueryResult {
  const lines = rows.flatMap((row) => String(row[1] ?? '').split('\n'));
  return { columns: [{ name: 'Query Plan', type: 'varchar' }], rows: lines.map((l) => [l]), headerRow: true };
}

/** DuckDB's message, prefixed the way Athena prefixes engine errors so callers can tell them apart. */
function athenaFailureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/Parser Error/i.test(message)) return `SYNTAX_ERROR: ${message}`;
  if (/Binder Error|Catalog Error/i.test(message)) return `SEMANTIC_ERROR: ${message}`;
  if (/INTERRUPT/i.test(message)) return 'Query cancelled by user';
  return `GENERIC_INTERNAL_ERROR: ${message}`;
}
