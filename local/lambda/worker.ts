import { type ChildProcess, fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { InvocationResult } from '../model.js';
import { forEachLine, LineTail } from './lines.js';
import type { ContextFields, ErrorFields, ParentMessage, WorkerMessage } from './protocol.js';

/** Plain CommonJS, run by plain `node`: the runner works the same from tsx, vitest or a build. */
const BOOTSTRAP = fileURLToPath(new URL('./bootstrap.cjs', import.meta.url));

export interface WorkerSpec {
  readonly id: number;
  readonly taskRoot: string;
  readonly handler: string;
  readonly lambdaRoots: readonly string[];
  readonly env: Record<string, string>;
  /** Flags for `node`, as Lambda's runtime passes them (see `lambdaNodeArgs`). */
  readonly nodeArgs: readonly string[];
  readonly initTimeoutMs: number;
  readonly logStreamName: string;
  readonly onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Called once when the process is gone, whatever the reason. */
  readonly onExit: () => void;
}

export type StartOutcome =
  | {
      readonly ok: true;
      readonly coldStartMs: number;
      readonly initMs: number;
      readonly sinceProcessStartMs: number;
    }
  | {
      readonly ok: false;
      readonly coldStartMs: number;
      readonly errorMessage: string;
      readonly error?: ErrorFields;
    };

export interface InvokeRequest {
  /** The event as JSON text, or (`event`) plain JSON data sent by structured clone. */
  readonly eventJson?: string;
  readonly event?: unknown;
  readonly timeoutMs: number;
  readonly context: ContextFields;
}

export interface InvokeOutcome {
  readonly result: InvocationResult;
  /** The handler's error as the runtime reports it (for the log line), when it threw. */
  readonly error?: ErrorFields;
  readonly rssBytes?: number;
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

type Race<T> = { kind: 'message'; value: T } | { kind: 'exit'; exit: Exit } | { kind: 'timeout' };

/** How long to wait for stdio to drain after the process exits, for a complete stderr tail. */
const STDIO_DRAIN_MS = 250;

/** One execution environment: a child process running bootstrap.cjs, one invocation at a time. */
export class LambdaWorker {
  readonly id: number;
  state: 'starting' | 'idle' | 'busy' | 'dead' = 'starting';
  private readonly spec: WorkerSpec;
  private readonly child: ChildProcess;
  private readonly tail = new LineTail();
  private readonly exited: Promise<Exit>;
  private listener: ((message: WorkerMessage) => void) | undefined;
  /** One slot, not a `then` per invocation: a warm worker serves many invocations. */
  private exitWaiter: ((exit: Exit) => void) | undefined;
  private exitInfo: Exit | undefined;
  private nextInvocationId = 1;

  constructor(spec: WorkerSpec) {
    this.id = spec.id;
    this.spec = spec;
    this.child = fork(BOOTSTRAP, [], {
      cwd: spec.taskRoot,
      env: spec.env,
      // Never inherit the parent's flags or loaders (tsx, vitest): the bundle runs on plain node
      // with Lambda's own flags.
      execArgv: [...spec.nodeArgs],
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const { stdout, stderr } = this.child;
    if (stdout) forEachLine(stdout, (line) => spec.onLine(line, 'stdout'));
    if (stderr) {
      forEachLine(stderr, (line) => {
        this.tail.push(line);
        spec.onLine(line, 'stderr');
      });
    }
    this.exited = new Promise<Exit>((resolve) => {
      let exit: Exit | undefined;
      const finish = () => {
        if (!exit) return;
        this.state = 'dead';
        resolve(exit);
      };
      this.child.once('exit', (code, signal) => {
        exit = { code, signal };
        this.state = 'dead';
        // A grandchild holding the pipes must not delay the verdict forever.
        setTimeout(finish, STDIO_DRAIN_MS).unref();
      });
      this.child.once('close', finish);
      this.child.once('error', (error) => {
        spec.onLine(`worker process error: ${error.message}`, 'stderr');
        exit ??= { code: null, signal: null };
        finish();
      });
    });
    void this.exited.then((exit) => {
      this.exitInfo = exit;
      this.exitWaiter?.(exit);
      spec.onExit();
    });
    this.child.on('message', (message: WorkerMessage) => this.listener?.(message));
  }

  get logStreamName(): string {
    return this.spec.logStreamName;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Loads the handler module (Lambda's init phase). A failed start leaves the worker dead. */
  async start(): Promise<StartOutcome> {
    const started = performance.now();
    this.post({
      type: 'init',
      taskRoot: this.spec.taskRoot,
      handler: this.spec.handler,
      lambdaRoots: this.spec.lambdaRoots,
    });
    const outcome = await this.race(
      (message) => (message.type === 'ready' || message.type === 'init-error' ? message : undefined),
      this.spec.initTimeoutMs,
    );
    const coldStartMs = performance.now() - started;
    if (outcome.kind === 'message' && outcome.value.type === 'ready') {
      this.state = 'idle';
      return {
        ok: true,
        coldStartMs,
        initMs: outcome.value.loadMs,
        sinceProcessStartMs: outcome.value.sinceProcessStartMs,
      };
    }
    await this.kill();
    if (outcome.kind === 'message' && outcome.value.type === 'init-error') {
      const error = outcome.value;
      return { ok: false, coldStartMs, errorMessage: `${error.errorType}: ${error.errorMessage}`, error };
    }
    if (outcome.kind === 'exit') {
      return {
        ok: false,
        coldStartMs,
        errorMessage: `worker died during init (${this.describe(outcome.exit)})`,
      };
    }
    return {
      ok: false,
      coldStartMs,
      errorMessage: `init did not finish within ${(this.spec.initTimeoutMs / 1000).toFixed(2)} seconds`,
    };
  }

  async invoke(request: InvokeRequest): Promise<InvokeOutcome> {
    this.state = 'busy';
    const id = this.nextInvocationId++;
    const started = performance.now();
    this.post({
      type: 'invoke',
      id,
      ...(request.eventJson === undefined ? { event: request.event } : { eventJson: request.eventJson }),
      context: request.context,
      deadlineMs: Date.now() + request.timeoutMs,
    });
    const outcome = await this.race(
      (message) => (message.type === 'result' && message.id === id ? message : undefined),
      request.timeoutMs,
    );
    const durationMs = performance.now() - started;
    if (outcome.kind === 'message') {
      this.state = 'idle';
      const message = outcome.value;
      if (message.ok) {
        return {
          result: { ok: true, payload: JSON.parse(message.payloadJson), durationMs },
          rssBytes: message.rssBytes,
        };
      }
      const error: ErrorFields = message;
      const prefix = error.errorType === 'Error' ? '' : `${error.errorType}: `;
      return {
        result: { ok: false, errorType: 'Handled', errorMessage: prefix + error.errorMessage, durationMs },
        error,
        rssBytes: message.rssBytes,
      };
    }
    if (outcome.kind === 'timeout') {
      await this.kill();
      const seconds = (request.timeoutMs / 1000).toFixed(2);
      return {
        result: {
          ok: false,
          errorType: 'Timeout',
          errorMessage: `Task timed out after ${seconds} seconds`,
          durationMs,
        },
      };
    }
    return {
      result: {
        ok: false,
        errorType: 'Crash',
        errorMessage: `worker died during the invocation (${this.describe(outcome.exit)})`,
        durationMs,
      },
    };
  }

  /** SIGKILL and wait for the process to be gone; safe to call more than once. */
  kill(): Promise<void> {
    this.state = 'dead';
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return this.exited.then(() => undefined);
  }

  private post(message: ParentMessage): void {
    if (!this.child.connected) return; // the race below sees the exit
    this.child.send(message, (error) => {
      if (error) this.spec.onLine(`could not reach worker: ${error.message}`, 'stderr');
    });
  }

  private describe(exit: Exit): string {
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    const tail = this.tail.text();
    return tail ? `${how}; last stderr:\n${tail}` : `${how}; no stderr output`;
  }

  private race<T>(match: (message: WorkerMessage) => T | undefined, timeoutMs: number): Promise<Race<T>> {
    return new Promise<Race<T>>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const listener = (message: WorkerMessage) => {
        const value = match(message);
        if (value !== undefined) done({ kind: 'message', value });
      };
      const done = (value: Race<T>) => {
        if (settled) return;
        settled = true;
        if (this.listener === listener) this.listener = undefined;
        if (this.exitWaiter === exitWaiter) this.exitWaiter = undefined;
        if (timer) clearTimeout(timer);
        resolve(value);
      };
      const exitWaiter = (exit: Exit) => done({ kind: 'exit', exit });
      this.listener = listener;
      this.exitWaiter = exitWaiter;
      timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
      if (this.exitInfo) exitWaiter(this.exitInfo);
    });
  }
}
