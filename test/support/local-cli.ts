import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/app';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Spawns the real `bin/inferbus.mjs` against a local runtime, with only the environment a user
 * would set (endpoints, credentials, region), in `cwd`.
 */
export function runCli(
  rt: LocalRuntime,
  cwd: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  input?: string,
): Promise<CliRun> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/inferbus.mjs'), ...args],
      {
        cwd,
        env: {
          PATH: process.env.PATH,
          HOME: cwd,
          NODE_NO_WARNINGS: '1',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_ENDPOINT_URL: rt.endpoint,
          AWS_ENDPOINT_URL_S3: rt.s3.endpoint,
          AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
          AWS_REGION: rt.model.region,
          ...env,
        } as NodeJS.ProcessEnv,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

/** Waits until nothing is queued, in flight or being delivered for a moment, and the archive is written. */
export const settle = (rt: LocalRuntime, timeoutMs = 60_000) => rt.settle({ quietMs: 800, timeoutMs });

/** `inferbus query` arguments for a named query over today, printed as JSON lines. */
export const namedQueryToday = (name: string): string[] => {
  const today = new Date().toISOString().slice(0, 10);
  return ['query', '--named', name, '--param', `from=${today}`, '--param', `to=${today}`, '--format', 'json'];
};

/** The JSON objects among a command's output lines. */
export const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l));

/**
 * The dev stage's local runtime as the CLI end-to-end tests use it: a free port, the given state
 * folder, quiet, and Firehose flushing every second so the archive can be queried soon after.
 */
export function startTestRuntime(stateDir: string): Promise<LocalRuntime> {
  return LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir,
    log: () => {},
    firehoseIntervalSeconds: 1,
  });
}
