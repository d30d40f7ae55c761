import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { GlueTableModel, NamedQueryModel, WorkGroupModel } from '../model';
import { CatalogTable, type ObjectPathResolver, quoteIdent, quoteString } from './catalog';
import { AthenaRequestError } from './errors';
import { ATHENA_MACROS } from './functions';
import { type ParameterValue, parseExecutionParameter } from './parameters';
import { athenaText, athenaTypeName, toCsv } from './result-format';
import { ScannedBytesEstimator } from './scanned-bytes';

export type QueryState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface QueryResult {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly rows: readonly (readonly (string | null)[])[];
}

export interface QueryExecution {
  readonly id: string;
  readonly query: string;
  readonly database: string;
  readonly workGroup: string;
  readonly parameters: readonly string[];
  readonly outputLocation?: string;
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
  private instance?: Promise<DuckDBInstance>;
  private profileDir?: Promise<string>;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: LocalAthenaOptions) {
    this.tables = options.tables.map((t) => new CatalogTable(t, options.objectPath));
    const groups = new Map(options.workGroups.map((w) => [w.name, w]));
    if (!groups.has('primary')) groups.set('primary', { name: 'primary', outputLocation: '' });
    this.workGroups = groups;
    this.namedQueries = options.namedQueries;
  }

  start(input: {
    query: string;
    database?: string;
    workGroup?: string;
    parameters?: readonly string[];
  }): string {
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
    const id = randomUUID();
    const outputLocation = workGroup.outputLocation
      ? `${workGroup.outputLocation.replace(/\/?$/, '/')}${id}.csv`
      : undefined;
    const execution: QueryExecution = {
      id,
      query: input.query,
      database:
        input.database ?? this.options.defaultDatabase ?? this.tables[0]?.model.databaseName ?? 'default',
      workGroup: workGroupName,
      parameters,
      ...(outputLocation ? { outputLocation } : {}),
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

  /** This instance's scratch folder: query profiles and DuckDB's spill files. */
  private profileDirectory(): Promise<string> {
    this.profileDir ??= mkdtemp(join(tmpdir(), 'inferbus-athena-'));
    return this.profileDir;
  }

  private async database(): Promise<DuckDBInstance> {
    this.instance ??= (async () => {
      // DuckDB spills to `.tmp/` in the working directory unless told otherwise: keep it in ours.
      const instance = await DuckDBInstance.create(':memory:', {
        temp_directory: join(await this.profileDirectory(), 'spill'),
      });
      const connection = await instance.connect();
      try {
        for (const macro of ATHENA_MACROS) await connection.run(macro);
      } finally {
        connection.closeSync();
      }
      return instance;
    })();
    return this.instance;
  }

  private finish(execution: QueryExecution, state: QueryState, reason?: string): void {
    if (execution.state === 'SUCCEEDED' || execution.state === 'FAILED' || execution.state === 'CANCELLED')
      return;
    execution.state = state;
    if (reason) execution.stateChangeReason = reason;
    execution.completedAt = new Date();
  }

  private async run(execution: QueryExecution, workGroup: WorkGroupModel): Promise<void> {
    if (execution.state !== 'QUEUED') return;
    execution.state = 'RUNNING';
    const started = performance.now();
    let connection: DuckDBConnection | undefined;
    try {
      const instance = await this.database();
      connection = await instance.connect();
      execution.connection = connection;
      const tables = [];
      for (const table of this.tables) tables.push({ table, files: await table.refreshView(connection) });
      const schemas = [execution.database, ...new Set(this.tables.map((t) => t.model.databaseName))];
      await connection.run(
        `SET search_path = ${quoteString([...new Set(schemas)].map(quoteIdent).join(','))}`,
      );
      const profile = join(await this.profileDirectory(), `${execution.id}.json`);
      await connection.run(`PRAGMA enable_profiling = 'json'`);
      await connection.run(`PRAGMA profiling_output = ${quoteString(profile)}`);
      const values: ParameterValue[] = execution.parameters.map((p, i) => parseExecutionParameter(p, i));
      const reader = await connection.runAndReadAll(execution.query, values.length > 0 ? values : undefined);
      execution.engineMillis = Math.round(performance.now() - started);
      const plan = JSON.parse(await readFile(profile, 'utf8'));
      await connection.run('PRAGMA disable_profiling');
      await rm(profile, { force: true });
      if (execution.state !== 'RUNNING') return;
      execution.dataScannedBytes = await this.estimator.estimate(connection, plan, tables);
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
      execution.result = { columns, rows };
      if (execution.outputLocation) await this.writeCsv(execution.outputLocation, execution.result);
      this.finish(execution, 'SUCCEEDED');
    } catch (error) {
      execution.engineMillis = Math.round(performance.now() - started);
      this.finish(execution, 'FAILED', athenaFailureReason(error));
    } finally {
      execution.connection = undefined;
      connection?.closeSync();
    }
  }

  private async writeCsv(location: string, result: QueryResult): Promise<void> {
    if (!this.options.s3) return;
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
    if (!match) throw new Error(`workgroup output location ${location} is not an s3://bucket/key URL`);
    const body = toCsv(
      result.columns.map((c) => c.name),
      result.rows,
    );
    await this.options.s3.send(
      new PutObjectCommand({ Bucket: match[1], Key: match[2], Body: body, ContentType: 'text/csv' }),
    );
  }
}

/** DuckDB's message, prefixed the way Athena prefixes engine errors so callers can tell them apart. */
function athenaFailureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/Parser Error/i.test(message)) return `SYNTAX_ERROR: ${message}`;
  if (/Binder Error|Catalog Error/i.test(message)) return `SEMANTIC_ERROR: ${message}`;
  if (/INTERRUPT/i.test(message)) return 'Query cancelled by user';
  return `GENERIC_INTERNAL_ERROR: ${message}`;
}
