import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { STATE_LOCK, STATE_MARKER } from '../../local/state-dir';
import { ensureSynthesized } from '../../local/template';
import type { CliRun } from '../support/local-cli';

/**
 * `inferbus local` itself, spawned as a user runs it: its state folder (marker, lock, reset),
 * paths relative to the working folder, the stage it runs, pinned ports, the banner and /health.
 */
const work = mkdtempSync(join(tmpdir(), 'inferbus-local-cmd-'));
const BIN = join(PROJECT_ROOT, 'bin/inferbus.mjs');
const env = { ...process.env, NODE_NO_WARNINGS: '1' };
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** Runs `inferbus <args>` in `work` to its end. */
const cli = (args: string[]): Promise<CliRun> =>
  new Promise((done) => {
    // A runtime that starts where it should have refused is stopped, not left running.
    execFile(process.execPath, [BIN, ...args], { cwd: work, env, timeout: 60_000 }, (error, stdout, stderr) =>
      done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

/** Starts `inferbus local <args>` in `work`; resolves with its output once the banner is printed. */
function startLocal(args: string[]): Promise<{ child: ChildProcess; stdout: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'local', ...args], { cwd: work, env });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/AWS CLI builds before/.test(stdout)) resolve({ child, stdout, stderr: () => stderr });
    });
    child.once('exit', (code) =>
      reject(new Error(`inferbus local exited (${code}) before its banner:\n${stderr}`)),
    );
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve),
  );

beforeAll(async () => {
  // What `npx cdk synth -c stage=prod` leaves in a cdk.out: a manifest whose only stack is
  // inferbus-prod. The project's fresh dev synth supplies a template, so no prod synth is needed.
  const projectOut = join(PROJECT_ROOT, 'cdk.out');
  await ensureSynthesized({
    projectRoot: PROJECT_ROOT,
    cdkOutDir: projectOut,
    stage: 'dev',
    stackName: 'inferbus-dev',
    log: () => {},
  });
  mkdirSync(join(work, 'cdk.out'));
  copyFileSync(
    join(projectOut, 'inferbus-dev.template.json'),
    join(work, 'cdk.out', 'inferbus-prod.template.json'),
  );
  writeFileSync(
    join(work, 'cdk.out', 'manifest.json'),
    JSON.stringify({
      version: '48.0.0',
      artifacts: {
        'inferbus-prod': {
          type: 'aws:cloudformation:stack',
          environment: 'aws://unknown-account/eu-west-1',
          properties: { templateFile: 'inferbus-prod.template.json' },
        },
      },
    }),
  );
});

describe('inferbus local', () => {
  it('runs the stage asked for (synthesizing it over a prod cdk.out), on ports pinned by option, and lists every endpoint', async () => {
    // A state folder a killed runtime left behind: its marker, and the lock of a pid that is gone.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    mkdirSync(join(work, 'state'));
    writeFileSync(join(work, 'state', STATE_MARKER), '{}');
    writeFileSync(
      join(work, 'state', STATE_LOCK),
      JSON.stringify({ pid: deadPid, startedAt: '2026-12-01T00:00:00.000Z', host: hostname() }),
    );
    const [s3Port, dynamodbPort] = [await freePort(), await freePort()];
    // Relative paths, as typed in a shell: they name folders under the working folder.
    const local = await startLocal([
      '--stage',
      'dev',
      '--state-dir',
      'state',
      '--cdk-out',
      'cdk.out',
      '--port',
      '0',
      '--s3-port',
      String(s3Port),
      '--dynamodb-port',
      String(dynamodbPort),
      '--function-logs',
    ]);
    const stateDir = join(work, 'state');
    const template = join(work, 'cdk.out', 'inferbus-dev.template.json');
    expect(local.stderr()).toMatch(
      `note: took over the lock of pid ${deadPid} (started at 2026-12-01T00:00:00.000Z), which is no longer running`,
    );
    expect(local.stderr()).toMatch(/synthesizing \(.*cdk\.out holds inferbus-prod, not inferbus-dev\)/);
    expect(local.stderr()).toContain(`inferbus local: stage dev, state in ${stateDir}\n`);
    expect(local.stdout).toContain('inferbus local is running stage dev (stack inferbus-dev)');
    expect(local.stdout).toMatch(new RegExp(`template +${template}\\n`));
    expect(local.stdout).toMatch(new RegExp(`state +${stateDir}\\n`));
    expect(local.stdout).toMatch(new RegExp(`S3 +http://127\\.0\\.0\\.1:${s3Port}\\n`));
    expect(local.stdout).toMatch(new RegExp(`DynamoDB +http://127\\.0\\.0\\.1:${dynamodbPort}\\n`));
    expect(local.stdout).toContain(`AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:${dynamodbPort}`);
    expect(existsSync(join(stateDir, 'sqs'))).toBe(true);
    expect(existsSync(join(PROJECT_ROOT, 'state'))).toBe(false);

    const endpoint = /EventBridge, SQS, Athena +(\S+)/.exec(local.stdout)?.[1];
    const health = (await (await fetch(`${endpoint}/health`)).json()) as Record<string, string>;
    expect(health).toMatchObject({
      stage: 'dev',
      stack: 'inferbus-dev',
      template,
      stateDir,
      endpoint,
      s3: `http://127.0.0.1:${s3Port}`,
      dynamodb: `http://127.0.0.1:${dynamodbPort}`,
    });
    const dynamodb = new DynamoDBClient({
      endpoint: health.dynamodb,
      region: 'eu-west-1',
      credentials: LOCAL_S3_CREDENTIALS,
    });
    const { TableNames } = await dynamodb.send(new ListTablesCommand({}));
    dynamodb.destroy();
    expect(TableNames?.some((name) => name.startsWith('inferbus-dev'))).toBe(true);

    // --function-logs: the handler's own log line for the batch reaches stderr, named by function.
    expect(local.stdout).toMatch(/function logs +on stderr\n/);
    const events = new EventBridgeClient({
      endpoint,
      region: 'eu-west-1',
      credentials: LOCAL_S3_CREDENTIALS,
    });
    const entries = JSON.parse(readFileSync(join(PROJECT_ROOT, 'events/put-events-entries.json'), 'utf8'));
    const put = await events.send(new PutEventsCommand({ Entries: entries }));
    events.destroy();
    expect(put.FailedEntryCount).toBe(0);
    const deadline = Date.now() + 60_000;
    while (!/\[inferbus-dev-spam-tier1\] .*batch processed/.test(local.stderr()) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(local.stderr()).toMatch(/\[inferbus-dev-spam-tier1\] .*batch processed/);

    // A second runtime on the same folder (named another way) stops at once, naming the holder.
    const second = await cli(['local', '--state-dir', stateDir, '--port', '0']);
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(
      new RegExp(
        `error: state dir ${stateDir} is in use by pid ${local.child.pid} \\(started at \\d{4}-[^)]*Z\\); stop it or pass another --state-dir`,
      ),
    );

    local.child.kill('SIGTERM');
    expect(await exited(local.child)).toBe(0);
    expect(readdirSync(stateDir)).not.toContain(STATE_LOCK);
  }, 240_000);

  it('Ctrl-C during the demo says it was interrupted, exits 130 and leaves no lock behind', async () => {
    const child = spawn(process.execPath, [BIN, 'local', '--demo', '--state-dir', 'interrupted'], {
      cwd: work,
      env,
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const deadline = Date.now() + 120_000;
    while (
      !/waiting until every accepted event/.test(stderr) &&
      Date.now() < deadline &&
      child.exitCode === null
    )
      await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill('SIGINT');
    expect(await exited(child)).toBe(130);
    expect(stderr).toContain(
      `SIGINT: demo interrupted; nothing of it is kept (the next run empties ${join(work, 'interrupted', 'demo')}). Run it again with: npm start`,
    );
    expect(readdirSync(join(work, 'interrupted', 'demo'))).not.toContain(STATE_LOCK);
  }, 180_000);

  it('--reset and --demo refuse a folder inferbus local did not create, and delete nothing', async () => {
    mkdirSync(join(work, 'project', 'demo'), { recursive: true });
    writeFileSync(join(work, 'project', 'package.json'), '{}');
    writeFileSync(join(work, 'project', 'demo', 'notes.txt'), 'mine');
    const reset = await cli(['local', '--reset', '--state-dir', 'project']);
    expect(reset.code).toBe(2);
    expect(reset.stderr).toContain(
      `error: refusing to reset ${join(work, 'project')}: it has no ${STATE_MARKER} marker, so inferbus local did not create it (it holds demo, package.json)`,
    );
    const demo = await cli(['local', '--demo', '--state-dir', 'project']);
    expect(demo.code).toBe(2);
    expect(demo.stderr).toContain(`error: refusing to reset ${join(work, 'project', 'demo')}`);
    expect(readdirSync(join(work, 'project')).sort()).toEqual(['demo', 'package.json']);
    expect(readdirSync(join(work, 'project', 'demo'))).toEqual(['notes.txt']);
  });

  it('a pinned port that is taken fails the start at once, naming the option to change', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      // Exiting at all is part of the check: a DynamoDB thread left running kept the process alive.
      const run = await cli([
        'local',
        '--port',
        '0',
        '--dynamodb-port',
        String(port),
        '--state-dir',
        'taken',
      ]);
      expect(run.code).toBe(3);
      expect(run.stderr).toContain(`local DynamoDB could not listen on 127.0.0.1:${port} (port in use`);
      expect(run.stderr).toContain(
        `hint: DynamoDB port ${port} is taken; pass --dynamodb-port 0 or another port`,
      );
      expect(readdirSync(join(work, 'taken'))).not.toContain(STATE_LOCK);
    } finally {
      taken.close();
    }
  });

  it('refuses two endpoints pinned to one port before starting anything', async () => {
    const run = await cli(['local', '--s3-port', '4599', '--dynamodb-port', '4599', '--state-dir', 'clash']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /--s3-port and --dynamodb-port are both 4599; give each endpoint its own port/,
    );
    expect(existsSync(join(work, 'clash'))).toBe(false);
  });
});
