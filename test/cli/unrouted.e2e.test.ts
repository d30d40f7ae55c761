import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import type { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { jsonLines, runCli, settle as settleRuntime, startTestRuntime } from '../support/local-cli';

/**
 * Requests no tenant rule takes, and Ctrl-C on put-events, end to end: the real SDK and the real
 * `bin/inferbus.mjs` (a child process) against one local runtime running the synthesized template.
 */
const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-unrouted-'));
const work = mkdtempSync(join(tmpdir(), 'inferbus-unrouted-work-'));
let rt: LocalRuntime;
let events: EventBridgeClient;
const today = () => new Date().toISOString().slice(0, 10);
const cli = (args: string[], input?: string) => runCli(rt, work, args, {}, input);
const settle = () => settleRuntime(rt, 60_000);

const envelope = (id: string, tenant: string, stream = 'unrouted-test', seq = 1) => ({
  id,
  tenant,
  stream,
  seq,
  hlc: `${Date.now()}-0-test`,
  type: 'message.received',
  payload: { text: 'Subject: hello\n\nshort message' },
  metadata: {},
  time: new Date().toISOString(),
});
const unroutedQueue = async () =>
  jsonLines((await cli(['dlq', 'list', '--format', 'json'])).stdout).find((d) => d.kind === 'unrouted');

beforeAll(async () => {
  rt = await startTestRuntime(stateDir);
  events = new EventBridgeClient({
    endpoint: rt.endpoint,
    region: rt.model.region,
    credentials: LOCAL_S3_CREDENTIALS,
  });
}, 180_000);

afterAll(async () => {
  events?.destroy();
  await rt?.stop();
}, 60_000);

describe('requests no tenant rule takes', () => {
  it('land in the unrouted queue with their reason, shown by dlq and trace, instead of vanishing', async () => {
    const entry = (source: string, detail: object) => ({
      EventBusName: 'inferbus-dev',
      Source: source,
      DetailType: 'InferenceRequested',
      Detail: JSON.stringify(detail),
    });
    const put = await events.send(
      new PutEventsCommand({
        Entries: [
          entry('inferbus.acme', envelope('routed-1', 'acme')),
          entry('inferbus.umbrella', envelope('unknown-1', 'umbrella')),
          entry('inferbus.acme', envelope('mismatch-1', 'globex')),
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(0); // the bus cannot know tenants: it accepts all three
    await settle();

    expect(await unroutedQueue()).toMatchObject({ name: 'UnroutedRequests', messages: '2' });
    const shown = jsonLines((await cli(['dlq', 'show', 'UnroutedRequests', '--format', 'json'])).stdout);
    const reasons = Object.fromEntries(shown.map((m) => [m.eventId, m.reason]));
    expect(reasons).toEqual({
      'unknown-1': 'NoTenantConfiguration: no tenant configuration for umbrella',
      'mismatch-1':
        'SourceTenantMismatch: source "inferbus.acme" does not match detail.tenant "globex" (expected inferbus.globex)',
    });

    const trace = await cli(['trace', 'unknown-1']);
    expect(trace.code, trace.stderr).toBe(0);
    expect(trace.stdout).toMatch(/outcome: unrouted: no tenant configuration for umbrella/);
    expect(trace.stdout).not.toMatch(/in flight/);
    const routed = await cli(['trace', 'routed-1']);
    expect(routed.stdout).toMatch(/outcome: completed by tier/);
  });

  it('are refused by put-events before sending, saved with the reason, and sent only when asked', async () => {
    const file = join(work, 'mixed.ndjson');
    writeFileSync(
      file,
      [envelope('known-2', 'acme'), envelope('unknown-2', 'umbrella')]
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const failedFile = join(work, 'refused.ndjson');
    const before = rt.bus.metrics().eventsAccepted;
    const run = await cli(['put-events', file, '--json', '--failed-file', failedFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /mixed\.ndjson:2: NoTenantConfiguration: no tenant configuration for umbrella \(configured: acme, globex, initech\).*--allow-unknown-tenants/,
    );
    expect(jsonLines(run.stdout)[0]).toMatchObject({
      accepted: 1,
      failed: 1,
      refusedUnknownTenants: 1,
      unsent: 0,
    });
    expect(rt.bus.metrics().eventsAccepted).toBe(before + 1);
    const saved = jsonLines(readFileSync(failedFile, 'utf8'));
    expect(saved).toEqual([
      expect.objectContaining({
        Source: 'inferbus.umbrella',
        _line: 2,
        _error: expect.stringMatching(/^NoTenantConfiguration/),
      }),
    ]);

    const forced = await cli(['put-events', failedFile, '--allow-unknown-tenants', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    await settle();
    expect(await unroutedQueue()).toMatchObject({ messages: '3' });
  });
});

describe('Ctrl-C on put-events', () => {
  it('stops, waits for what is in flight, and saves exactly what was not accepted', async () => {
    const stream = `interrupt-${Date.now()}`;
    const input = Array.from({ length: 200 }, (_, i) => envelope(`${stream}-${i}`, 'acme', stream, i + 1));
    const file = join(work, 'interrupt.ndjson');
    writeFileSync(file, input.map((e) => JSON.stringify(e)).join('\n'));
    const failedFile = join(work, 'interrupt-rest.ndjson');

    const child = spawn(
      process.execPath,
      [
        join(PROJECT_ROOT, 'bin/inferbus.mjs'),
        'put-events',
        file,
        '--rate',
        '20',
        // One request per entry, so the interrupt lands between entries (packs: test/cli/put-events-pack).
        '--no-pack',
        '--json',
        '--failed-file',
        failedFile,
      ],
      {
        cwd: work,
        env: {
          PATH: process.env.PATH,
          HOME: work,
          NODE_NO_WARNINGS: '1',
          AWS_ENDPOINT_URL: rt.endpoint,
          AWS_ENDPOINT_URL_S3: rt.s3.endpoint,
          AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
          AWS_REGION: rt.model.region,
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Interrupt once some events are accepted and most are still to send.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        const done = [...stderr.matchAll(/put-events: (\d+)\/200/g)].map((m) => Number(m[1]));
        if (done.some((n) => n >= 20)) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await exited;

    expect(code, stderr).toBe(130);
    const summary = jsonLines(stdout)[0];
    expect(summary).toMatchObject({ interrupted: true, entries: 200, failed: 0 });
    expect(summary.accepted + summary.unsent).toBe(200);
    expect(summary.unsent).toBeGreaterThan(0);
    // The last progress line says exactly what had been accepted when sending stopped.
    const progress = [...stderr.matchAll(/put-events: (\d+)\/200/g)].map((m) => Number(m[1]));
    expect(progress.at(-1)).toBe(summary.accepted);

    const rest = jsonLines(readFileSync(failedFile, 'utf8')).map((e) => JSON.parse(e.Detail).id as string);
    expect(rest).toHaveLength(summary.unsent);
    await settle();
    const query = await cli([
      'query',
      'SELECT envelope_id, count(*) AS n FROM events WHERE dt = ? AND detail_type = ? AND stream = ? GROUP BY envelope_id',
      '--param',
      today(),
      '--param',
      'InferenceRequested',
      '--param',
      stream,
      '--format',
      'json',
    ]);
    expect(query.code, query.stderr).toBe(0);
    const accepted = jsonLines(query.stdout);
    expect(accepted.filter((r) => Number(r.n) !== 1)).toEqual([]); // none doubled
    const ids = [...accepted.map((r) => r.envelope_id as string), ...rest].sort();
    expect(ids).toEqual(input.map((e) => e.id).sort()); // none lost

    // The saved file resumes the run.
    const resumed = await cli(['put-events', failedFile, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(jsonLines(resumed.stdout)[0]).toMatchObject({ accepted: summary.unsent });
  });
});
