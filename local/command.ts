import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../cli/errors';
import type { CliIO } from '../cli/io';
import type { LocalCommandOptions } from '../cli/program';
import { runDemo } from './demo/run-demo';
import { LocalRuntime } from './runtime';
import { LOCAL_S3_CREDENTIALS } from './s3';
import {
  acquireStateDirLock,
  assertResettable,
  prepareStateDir,
  resetStateDir,
  StateDirError,
  type StateDirLock,
} from './state-dir';
import { describeTask, servedTasks } from './tasks';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * `inferbus local`: run until interrupted, or `--demo`: run sample traffic, summarize, exit.
 * Paths are resolved against the working folder; the state folder is locked while the runtime runs.
 */
export async function runLocalCommand(options: LocalCommandOptions, io: CliIO): Promise<ExitCode> {
  const baseDir = resolve(options.stateDir);
  const stateDir = options.demo ? join(baseDir, 'demo') : baseDir;
  const clash = portClash(options);
  if (clash) {
    io.err(`error: ${clash}`);
    return ExitCode.Usage;
  }
  let lock: StateDirLock;
  try {
    lock = openStateDir(baseDir, stateDir, options, io);
  } catch (error) {
    if (!(error instanceof StateDirError)) throw error;
    io.err(`error: ${error.message}`);
    return error.kind === 'in-use' ? ExitCode.Environment : ExitCode.Usage;
  }
  try {
    return await runOnStateDir(stateDir, options, io);
  } finally {
    lock.release();
  }
}

/** Prepares and locks the state folder, and empties it for `--reset` and `--demo` (marked folders only). */
function openStateDir(
  baseDir: string,
  stateDir: string,
  options: LocalCommandOptions,
  io: CliIO,
): StateDirLock {
  const note = (line: string) => io.err(line);
  const empty = options.demo || options.reset;
  if (options.demo) prepareStateDir(baseDir, note);
  // When it is to be emptied, the refusal below says all there is to say.
  prepareStateDir(stateDir, empty ? () => {} : note);
  if (empty) assertResettable(stateDir);
  const lock = acquireStateDirLock(stateDir, note);
  try {
    if (empty) resetStateDir(stateDir);
  } catch (error) {
    lock.release();
    throw error;
  }
  return lock;
}

/** Two endpoints pinned to one port cannot both listen: say so before starting anything. */
function portClash(options: LocalCommandOptions): string | undefined {
  const pinned = [
    ['--port', options.demo ? 0 : options.port],
    ['--s3-port', options.s3Port],
    ['--dynamodb-port', options.dynamodbPort],
  ] as const;
  for (const [i, [flag, port]] of pinned.entries()) {
    const other = pinned.slice(i + 1).find(([, p]) => port !== 0 && p === port);
    if (other)
      return `${flag} and ${other[0]} are both ${port}; give each endpoint its own port (0 = any free one)`;
  }
  return undefined;
}

/** Which option pins the port a failed start could not listen on. */
function portHint(message: string, options: LocalCommandOptions): string | undefined {
  if (!/EADDRINUSE|port in use/.test(message)) return undefined;
  if (message.startsWith('local S3 could not listen'))
    return `hint: S3 port ${options.s3Port} is taken; pass --s3-port 0 or another port`;
  if (message.startsWith('local DynamoDB could not listen'))
    return `hint: DynamoDB port ${options.dynamodbPort} is taken; pass --dynamodb-port 0 or another port`;
  return `hint: port ${options.port} is taken; pass --port 0 or another port`;
}

async function runOnStateDir(stateDir: string, options: LocalCommandOptions, io: CliIO): Promise<ExitCode> {
  io.err(`inferbus local: stage ${options.stage}, state in ${stateDir}`);
  let runtime: LocalRuntime;
  try {
    runtime = await LocalRuntime.start({
      projectRoot: PROJECT_ROOT,
      stage: options.stage,
      ...(options.config === undefined ? {} : { configFile: resolve(options.config) }),
      port: options.demo ? 0 : options.port,
      s3Port: options.s3Port,
      dynamodbPort: options.dynamodbPort,
      stateDir,
      ...(options.cdkOut === undefined ? {} : { cdkOutDir: resolve(options.cdkOut) }),
      log: (line) => io.err(line),
      ...(options.functionLogs ? { functionLog: (line: string) => io.err(line) } : {}),
    });
  } catch (error) {
    const message = (error as Error).message;
    io.err(`error: the local runtime could not start: ${message}`);
    const hint = portHint(message, options);
    if (hint) io.err(hint);
    return ExitCode.Environment;
  }
  io.err(`inferbus local: running stack ${runtime.template.stackName} from ${runtime.template.path}`);

  if (options.demo) {
    // The demo's state is thrown away by the next demo anyway: an interrupt needs no graceful stop.
    const interrupted = (signal: NodeJS.Signals) => {
      io.err(
        `${signal}: demo interrupted; nothing of it is kept (the next run empties ${stateDir}). Run it again with: npm start`,
      );
      process.exit(128 + constants.signals[signal]);
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    try {
      const outcome = await runDemo(runtime, { events: options.events, out: io.out, progress: io.err });
      if (outcome.missing.length > 0) {
        io.err(
          `error: ${outcome.missing.length} accepted events are not accounted for, e.g. ${outcome.missing.slice(0, 5).join(', ')}`,
        );
        return ExitCode.Failed;
      }
      return ExitCode.Ok;
    } catch (error) {
      io.err(`error: the demo failed: ${(error as Error).message}`);
      return ExitCode.Failed;
    } finally {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
      await runtime.stop();
    }
  }

  printEndpoints(runtime, io, options.functionLogs);
  return waitForStopSignal(runtime, io);
}

/**
 * Runs until SIGINT or SIGTERM, then stops gracefully (see LocalRuntime.stop) and exits 0. A second
 * signal while stopping exits at once: what was left is in the durable logs and says so.
 */
function waitForStopSignal(runtime: LocalRuntime, io: CliIO): Promise<ExitCode> {
  return new Promise<ExitCode>((done) => {
    let stopping = false;
    let forcing = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (forcing) return;
      if (stopping) {
        // From here on the forced exit decides the exit code, even if the stop ends meanwhile.
        forcing = true;
        void forceExit(runtime, io, signal);
        return;
      }
      stopping = true;
      io.err(`${signal}: stopping gracefully; press Ctrl-C again to exit at once`);
      runtime.stop({ progress: (line) => io.err(line) }).then(
        () => forcing || done(ExitCode.Ok),
        (error) => {
          if (forcing) return;
          io.err(`error while stopping: ${(error as Error).message}`);
          done(ExitCode.Failed);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** The second signal: hand back what is in flight (best effort, at most a second), say what is left, exit. */
async function forceExit(runtime: LocalRuntime, io: CliIO, signal: NodeJS.Signals): Promise<never> {
  const left = runtime.unfinished();
  const handedBack = await Promise.race([
    // Rejects once the stop has closed the queues: then nothing is in flight any more anyway.
    runtime.handBackInFlight().catch(() => undefined),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000).unref()),
  ]);
  const messages =
    handedBack === undefined
      ? `${left.messagesInFlight} message(s) in Lambda invocations come back after their visibility timeout`
      : `${handedBack} message(s) in Lambda invocations were handed back and are received again at once`;
  const retrying =
    left.busDeliveries > 0
      ? ` ${left.busDeliveries} bus deliveries still under way are in no log and are lost.`
      : '';
  io.err(
    `${signal} again: exiting now. ${messages}; ${left.archiveRecords} archive record(s) not yet in S3 are in the Firehose log. Both are delivered from the durable logs in the state folder at the next start.${retrying}`,
  );
  process.exit(128 + constants.signals[signal]);
}

function printEndpoints(runtime: LocalRuntime, io: CliIO, functionLogs: boolean): void {
  const bus = runtime.model.buses.find((b) => b.name !== 'default')?.name ?? 'default';
  const dynamodb = runtime.dynamodb?.endpoint ?? '(no tables in the template)';
  io.out(
    `inferbus local is running stage ${runtime.template.stage} (stack ${runtime.template.stackName}). Ctrl-C stops it cleanly.`,
  );
  io.out('');
  io.out(`  template                  ${runtime.template.path}`);
  io.out(`  state                     ${runtime.stateDir}`);
  io.out(`  EventBridge, SQS, Athena  ${runtime.endpoint}`);
  io.out(`  S3                        ${runtime.s3.endpoint}`);
  io.out(`  DynamoDB                  ${dynamodb}`);
  io.out(`  health, metrics           ${runtime.endpoint}/health  ${runtime.endpoint}/metrics`);
  io.out(`  function logs             ${functionLogs ? 'on stderr' : 'not shown (pass --function-logs)'}`);
  for (const [i, task] of servedTasks(runtime.model).entries()) {
    io.out(`  ${i === 0 ? 'tasks' : '     '}                     ${describeTask(task)}`);
  }
  io.out('');
  io.out('  Use them from a shell:');
  io.out(
    `    export AWS_ENDPOINT_URL=${runtime.endpoint} AWS_ENDPOINT_URL_S3=${runtime.s3.endpoint}` +
      (runtime.dynamodb ? ` AWS_ENDPOINT_URL_DYNAMODB=${runtime.dynamodb.endpoint}` : ''),
  );
  io.out(
    `    export AWS_ACCESS_KEY_ID=${LOCAL_S3_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_S3_CREDENTIALS.secretAccessKey} AWS_REGION=${runtime.model.region}`,
  );
  io.out(`    aws events put-events --entries file://events/put-events-entries.json   # bus ${bus}`);
  io.out(`  AWS CLI builds before 2.13 ignore AWS_ENDPOINT_URL: add --endpoint-url ${runtime.endpoint}`);
}
