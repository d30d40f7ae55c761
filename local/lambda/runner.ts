import { randomBytes, randomUUID } from 'node:crypto';
import type { FunctionModel, InvocationResult, LambdaInvoker } from '../model.js';
import { lambdaEnvironment, lambdaNodeArgs } from './environment.js';
import { RunnerClosedError, UnknownFunctionError } from './errors.js';
import { FunctionMetrics, type FunctionMetricsSnapshot } from './metrics.js';
import { WorkerPool } from './pool.js';
import type { ErrorFields } from './protocol.js';
import { LambdaWorker } from './worker.js';

export interface LogMeta {
  readonly logicalId: string;
  readonly functionName: string;
  /** Worker number within the runner; 0 for the runner's own lines (REPORT, errors). */
  readonly workerId: number;
  readonly stream: 'stdout' | 'stderr' | 'runtime';
}

/** Receives whole lines only, already prefixed with `[functionName]`. */
export type LogSink = (line: string, meta: LogMeta) => void;

export interface LambdaRunnerOptions {
  /** Endpoint variables (`AWS_ENDPOINT_URL`...), credentials, region: what Lambda would supply. */
  readonly extraEnvironment?: Record<string, string>;
  /** Variables one function gets over `extraEnvironment`: its own credentials (the local IAM's). */
  readonly environmentOf?: (fn: FunctionModel) => Record<string, string>;
  /** Region for `AWS_REGION`; default: each function ARN's region. */
  readonly region?: string;
  readonly logFormat?: 'Text' | 'JSON';
  /** Default: write to the runner's stderr. */
  readonly logSink?: LogSink;
  /** Execution environments per function (default 10), or per logical id. */
  readonly maxWorkersPerFunction?: number | Readonly<Record<string, number>>;
  /** Idle time before a warm worker is stopped (default 10 minutes; 0 = never). */
  readonly idleTimeoutMs?: number;
  /** Limit of the init phase (default: the larger of 10 s, Lambda's limit, and the function timeout). */
  readonly initTimeoutMs?: number;
  /** Emit Lambda's `REPORT` line after every invocation (default true). */
  readonly reportLines?: boolean;
  /** Told about every invocation, for billing (the usage meter). */
  readonly onInvocation?: (invocation: BilledInvocation) => void;
}

/** What Lambda bills for one invocation. */
export interface BilledInvocation {
  readonly fn: FunctionModel;
  /** Duration plus, for an on-demand cold start, its init phase (billed since August 2025). */
  readonly billedMs: number;
  /** Ran while fewer invocations than the provisioned concurrency were in flight: on a provisioned instance. */
  readonly onProvisioned: boolean;
  /** The part of `billedMs` that is an on-demand cold start's init phase. */
  readonly initMs: number;
}

export interface InvokeOptions {
  /** Version or alias the caller invoked, for `invokedFunctionArn`. */
  readonly qualifier?: string;
  readonly requestId?: string;
  /** The event is plain JSON data: it travels by structured clone, not as JSON text (see LambdaInvoker). */
  readonly plainJsonEvent?: boolean;
}

const DEFAULT_MAX_WORKERS = 10;
const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;
const LAMBDA_INIT_LIMIT_MS = 10_000;

interface Entry {
  readonly fn: FunctionModel;
  readonly env: Record<string, string>;
  readonly pool: WorkerPool;
  readonly metrics: FunctionMetrics;
  /** Invocations in flight, to tell provisioned instances from on-demand spill-over. */
  inFlight: number;
}

/**
 * Runs the synthesized functions' asset bundles locally, one child process per execution
 * environment, with Lambda's environment, layers, timeout and error semantics.
 */
export class LambdaRunner implements LambdaInvoker {
  private readonly entries = new Map<string, Entry>();
  private readonly options: LambdaRunnerOptions;
  private readonly sink: LogSink;
  private readonly warnedMemory = new Set<string>();
  private nextWorkerId = 1;
  private closed = false;

  constructor(functions: readonly FunctionModel[], options: LambdaRunnerOptions = {}) {
    this.options = options;
    this.sink = options.logSink ?? ((line) => process.stderr.write(`${line}\n`));
    for (const fn of functions) {
      const env = lambdaEnvironment(fn, {
        region: options.region,
        extra: { ...options.extraEnvironment, ...options.environmentOf?.(fn) },
        logFormat: options.logFormat,
      });
      const pool: WorkerPool = new WorkerPool(() => this.spawn(fn, env, pool), {
        maxWorkers: this.maxWorkersFor(fn.logicalId),
        idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      });
      this.entries.set(fn.logicalId, { fn, env, pool, metrics: new FunctionMetrics(), inFlight: 0 });
    }
  }

  /** The environment a function's workers get (for diagnostics and tests). */
  environmentOf(logicalId: string): Record<string, string> {
    return { ...this.entry(logicalId).env };
  }

  async invoke(
    functionLogicalId: string,
    event: unknown,
    options: InvokeOptions = {},
  ): Promise<InvocationResult> {
    if (this.closed) throw new RunnerClosedError();
    const entry = this.entry(functionLogicalId);
    entry.inFlight++;
    try {
      return await this.invokeEntry(entry, event, options);
    } finally {
      entry.inFlight--;
    }
  }

  private async invokeEntry(entry: Entry, event: unknown, options: InvokeOptions): Promise<InvocationResult> {
    const { fn, pool, metrics } = entry;
    const onProvisioned = entry.inFlight <= (fn.provisionedConcurrency ?? 0);
    const requestId = options.requestId ?? randomUUID();
    const lease = await pool.acquire();
    const { worker, start } = lease;
    if (start) {
      metrics.coldStarts++;
      metrics.coldStart.observe(start.coldStartMs);
      if (start.ok) metrics.init.observe(start.initMs);
    }
    if (start && !start.ok) {
      pool.release(worker);
      this.logError(
        fn,
        requestId,
        start.error ?? { errorType: 'Runtime.InitError', errorMessage: start.errorMessage },
      );
      const result: InvocationResult = {
        ok: false,
        errorType: 'InitError',
        errorMessage: start.errorMessage,
        durationMs: start.coldStartMs,
      };
      metrics.record(result);
      this.options.onInvocation?.({ fn, billedMs: result.durationMs, onProvisioned, initMs: 0 });
      return result;
    }
    let outcome: Awaited<ReturnType<LambdaWorker['invoke']>>;
    try {
      outcome = await worker.invoke({
        ...(options.plainJsonEvent && event !== undefined
          ? { event }
          : { eventJson: JSON.stringify(event === undefined ? {} : event) }),
        timeoutMs: fn.timeoutSeconds * 1000,
        context: {
          awsRequestId: requestId,
          functionName: fn.name,
          functionVersion: '$LATEST',
          invokedFunctionArn: options.qualifier ? `${fn.arn}:${options.qualifier}` : fn.arn,
          memoryLimitInMB: String(fn.memoryMiB),
          logGroupName: `/aws/lambda/${fn.name}`,
          logStreamName: worker.logStreamName,
        },
      });
    } finally {
      pool.release(worker);
    }
    const { result } = outcome;
    metrics.record(result);
    const initMs = start?.ok && !onProvisioned ? start.initMs : 0;
    this.options.onInvocation?.({ fn, billedMs: result.durationMs + initMs, onProvisioned, initMs });
    if (!result.ok) {
      this.logError(
        fn,
        requestId,
        outcome.error ?? { errorType: result.errorType, errorMessage: result.errorMessage },
      );
    }
    const overMemory = outcome.rssBytes !== undefined && outcome.rssBytes > fn.memoryMiB * 1024 * 1024;
    if (overMemory && !this.warnedMemory.has(fn.logicalId) && outcome.rssBytes !== undefined) {
      // Memory is not enforced locally; in Lambda this invocation would have been killed. Said once.
      this.warnedMemory.add(fn.logicalId);
      this.runtimeLine(
        fn,
        `WARNING worker uses ${Math.round(outcome.rssBytes / 1048576)} MB, over the function's ${fn.memoryMiB} MB: Lambda would kill it (raise MemorySize)`,
      );
    }
    if (this.options.reportLines ?? true) {
      this.report(fn, requestId, result.durationMs, outcome.rssBytes, start?.ok ? start.initMs : undefined);
    }
    return result;
  }

  /**
   * Starts every function's provisioned execution environments (the template's provisioned
   * concurrency, capped at the function's worker limit) before any invocation. A failed init is
   * logged as Lambda logs it and leaves that environment out; invocations then start their own.
   */
  async provision(): Promise<void> {
    await Promise.all(
      [...this.entries.values()].map(async ({ fn, pool, metrics }) => {
        const count = fn.provisionedConcurrency ?? 0;
        if (count <= 0) return;
        for (const start of await pool.provision(count)) {
          if (start.ok) metrics.init.observe(start.initMs);
          else
            this.logError(
              fn,
              'provisioned-concurrency',
              start.error ?? { errorType: 'Runtime.InitError', errorMessage: start.errorMessage },
            );
        }
      }),
    );
  }

  metrics(): FunctionMetricsSnapshot[] {
    return [...this.entries.values()].map(({ fn, pool, metrics }) => ({
      logicalId: fn.logicalId,
      functionName: fn.name,
      invocations: metrics.invocations,
      errors: { ...metrics.errors },
      coldStarts: metrics.coldStarts,
      initMs: metrics.init.snapshot(),
      coldStartMs: metrics.coldStart.snapshot(),
      durationMs: metrics.duration.snapshot(),
      workers: pool.stats(),
    }));
  }

  /** Kills every worker (in-flight invocations end as `Crash`) and waits until they are gone. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.values()].map(({ pool }) => pool.close()));
  }

  private entry(logicalId: string): Entry {
    const entry = this.entries.get(logicalId);
    if (!entry) throw new UnknownFunctionError(logicalId, [...this.entries.keys()]);
    return entry;
  }

  private maxWorkersFor(logicalId: string): number {
    const configured = this.options.maxWorkersPerFunction;
    const value = typeof configured === 'number' ? configured : configured?.[logicalId];
    return Math.max(1, value ?? DEFAULT_MAX_WORKERS);
  }

  private spawn(fn: FunctionModel, env: Record<string, string>, pool: WorkerPool): LambdaWorker {
    const id = this.nextWorkerId++;
    const logStreamName = `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomBytes(16).toString('hex')}`;
    const worker: LambdaWorker = new LambdaWorker({
      id,
      taskRoot: fn.assetDir,
      handler: fn.handler,
      lambdaRoots: [fn.assetDir, ...fn.layerDirs],
      env: { ...env, AWS_LAMBDA_LOG_STREAM_NAME: logStreamName },
      nodeArgs: lambdaNodeArgs(fn.memoryMiB),
      initTimeoutMs: this.options.initTimeoutMs ?? Math.max(LAMBDA_INIT_LIMIT_MS, fn.timeoutSeconds * 1000),
      logStreamName,
      onLine: (line, stream) =>
        this.sink(`[${fn.name}] ${line}`, {
          logicalId: fn.logicalId,
          functionName: fn.name,
          workerId: id,
          stream,
        }),
      onExit: () => pool.remove(worker),
    });
    return worker;
  }

  private runtimeLine(fn: FunctionModel, line: string): void {
    this.sink(`[${fn.name}] ${line}`, {
      logicalId: fn.logicalId,
      functionName: fn.name,
      workerId: 0,
      stream: 'runtime',
    });
  }

  /** Lambda's Text-format error line: `<requestId>\tERROR\tInvoke Error\t{...}`. */
  private logError(fn: FunctionModel, requestId: string, error: ErrorFields): void {
    const body = JSON.stringify({
      errorType: error.errorType,
      errorMessage: error.errorMessage,
      stack: error.stack?.split('\n') ?? [],
    });
    this.runtimeLine(fn, `${new Date().toISOString()}\t${requestId}\tERROR\tInvoke Error \t${body}`);
  }

  private report(
    fn: FunctionModel,
    requestId: string,
    durationMs: number,
    rssBytes?: number,
    initMs?: number,
  ): void {
    const parts = [
      `REPORT RequestId: ${requestId}`,
      `Duration: ${durationMs.toFixed(2)} ms`,
      `Billed Duration: ${Math.ceil(durationMs)} ms`,
      `Memory Size: ${fn.memoryMiB} MB`,
      ...(rssBytes === undefined ? [] : [`Max Memory Used: ${Math.round(rssBytes / 1024 / 1024)} MB`]),
      ...(initMs === undefined ? [] : [`Init Duration: ${initMs.toFixed(2)} ms`]),
    ];
    this.runtimeLine(fn, parts.join('\t'));
  }
}
