import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../cli/errors';
import type { CliIO } from '../cli/io';
import type { LocalCommandOptions } from '../cli/program';
import { runDemo } from './demo/run-demo';
import { LocalRuntime } from './runtime';
import { LOCAL_S3_CREDENTIALS } from './s3';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `inferbus local`: run until interrupted, or `--demo`: run sample traffic, summarize, exit. */
export async function runLocalCommand(options: LocalCommandOptions, io: CliIO): Promise<ExitCode> {
  const stateDir = options.demo ? join(options.stateDir, 'demo') : options.stateDir;
  if (options.demo || options.reset)
    rmSync(resolve(PROJECT_ROOT, stateDir), { recursive: true, force: true });
  io.err(`inferbus local: stage ${options.stage}, state in ${stateDir}/`);
  let runtime: LocalRuntime;
  try {
    runtime = await LocalRuntime.start({
      projectRoot: PROJECT_ROOT,
      stage: options.stage,
      port: options.demo ? 0 : options.port,
      stateDir,
      log: (line) => io.err(line),
    });
  } catch (error) {
    const message = (error as Error).message;
    io.err(`error: the local runtime could not start: ${message}`);
    if (/EADDRINUSE/.test(message))
      io.err(`hint: port ${options.port} is taken; pass --port 0 or another port`);
    return ExitCode.Environment;
  }

  if (options.demo) {
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
      await runtime.stop();
    }
  }

  printEndpoints(runtime, io);
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      io.err(`${signal}: stopping (finishing in-flight work, flushing buffers) ...`);
      runtime.stop().then(done, (error) => {
        io.err(`error while stopping: ${(error as Error).message}`);
        done();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return ExitCode.Ok;
}

function printEndpoints(runtime: LocalRuntime, io: CliIO): void {
  const bus = runtime.model.buses.find((b) => b.name !== 'default')?.name ?? 'default';
  io.out(`inferbus local is running (${runtime.model.stackName}). Ctrl-C stops it cleanly.`);
  io.out('');
  io.out(`  EventBridge, SQS, Athena  ${runtime.endpoint}`);
  io.out(`  S3                        ${runtime.s3.endpoint}`);
  io.out(`  health, metrics           ${runtime.endpoint}/health  ${runtime.endpoint}/metrics`);
  io.out('');
  io.out('  Use them from a shell:');
  io.out(`    export AWS_ENDPOINT_URL=${runtime.endpoint} AWS_ENDPOINT_URL_S3=${runtime.s3.endpoint}`);
  io.out(
    `    export AWS_ACCESS_KEY_ID=${LOCAL_S3_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_S3_CREDENTIALS.secretAccessKey} AWS_REGION=${runtime.model.region}`,
  );
  io.out(`    aws events put-events --entries file://events/put-events-entries.json   # bus ${bus}`);
  io.out(`  AWS CLI builds before 2.13 ignore AWS_ENDPOINT_URL: add --endpoint-url ${runtime.endpoint}`);
}
