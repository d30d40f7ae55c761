import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterQueueName, workQueueShortName } from '../../functions/core/queue-names';
import { PROJECT_ROOT } from '../../lib/app';
import type { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { jsonLines, runCli, settle as settleRuntime, startTestRuntime } from '../support/local-cli';

/**
 * The inferbus CLI end to end: the real `bin/inferbus.mjs` spawned as a child process against
 * one local runtime (loopback only), its real output parsed.
 */
const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-cli-'));
const work = mkdtempSync(join(tmpdir(), 'inferbus-cli-work-'));
let rt: LocalRuntime;
const today = () => new Date().toISOString().slice(0, 10);

const cli = (args: string[], env: Record<string, string | undefined> = {}, input?: string) =>
  runCli(rt, work, args, env, input);

const settle = () => settleRuntime(rt, 60_000);

beforeAll(async () => {
  rt = await startTestRuntime(stateDir);
}, 180_000);

afterAll(async () => {
  await rt?.stop();
}, 60_000);

describe('inferbus events sample | put-events', () => {
  let samples: string;

  it('prints NDJSON envelopes from the test split', async () => {
    const run = await cli(['events', 'sample', '--count', '60']);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout);
    expect(lines).toHaveLength(60);
    expect(new Set(lines.map((l) => l.tenant))).toEqual(new Set(['acme', 'globex', 'initech']));
    // Every task of the dev stage in turn, each request naming its task.
    expect(lines[0].task).toBe('spam');
    expect(lines.every((l) => typeof l.task === 'string')).toBe(true);
    samples = run.stdout;
    expect((await cli(['events', 'sample', '--count', '0'])).code).toBe(2);
    const unknown = await cli(['events', 'sample', '--task', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--task nope: not a task of .*\(it has spam/);
    expect((await cli(['events', 'sample', '--tenant', 'Bad Tenant'])).code).toBe(2);
  });

  it('sends them from stdin, packed, and every one is processed', async () => {
    const run = await cli(['put-events', '--json', '-'], {}, samples);
    expect(run.code, run.stderr).toBe(0);
    const [summary] = jsonLines(run.stdout);
    // Packed by default: one pack per tenant and task (3 x 2), all in one PutEvents call.
    expect(summary).toMatchObject({
      entries: 60,
      accepted: 60,
      failed: 0,
      busEntries: 6,
      packs: 6,
      requests: 1,
    });
    expect(run.stderr).toMatch(/put-events: 60\/60 100%/); // plain progress lines: not a TTY
    await settle();
    const query = await cli([
      'query',
      "SELECT count(DISTINCT source_event_id) AS n FROM events WHERE dt = ? AND detail_type = 'InferenceCompleted'",
      '--param',
      today(),
      '--format',
      'json',
    ]);
    expect(query.code, query.stderr).toBe(0);
    expect(Number(jsonLines(query.stdout)[0].n)).toBe(60);
    expect(query.stderr).toMatch(/data scanned .*cost \$\d+\.\d+ \(Athena \$5\/TB/);
  });

  it('reports bad lines by number with the reason and sends nothing', async () => {
    const lines = samples.trim().split('\n');
    const missingTenant = JSON.parse(lines[1] as string);
    delete missingTenant.tenant;
    const badTime = { ...JSON.parse(lines[2] as string), time: 'yesterday' };
    const file = join(work, 'bad.ndjson');
    writeFileSync(
      file,
      [lines[0], '{not json', JSON.stringify(missingTenant), JSON.stringify(badTime)].join('\n'),
    );
    const before = rt.bus.metrics().eventsAccepted;
    const run = await cli(['put-events', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/bad\.ndjson:2: not valid JSON/);
    expect(run.stderr).toMatch(/bad\.ndjson:3: .*tenant/);
    expect(run.stderr).toMatch(/bad\.ndjson:4: .*time/);
    expect(run.stderr).toMatch(/nothing was sent/);
    expect(rt.bus.metrics().eventsAccepted).toBe(before);

    const skip = await cli(['put-events', file, '--skip-invalid', '--json']);
    expect(skip.code).toBe(1);
    expect(jsonLines(skip.stdout)[0]).toMatchObject({ accepted: 1, invalidLines: 3 });
    expect((await cli(['put-events', join(work, 'missing.ndjson')])).code).toBe(2);
  });

  it('writes entries that fail for good to a file that can be resent', async () => {
    const lines = samples.trim().split('\n').slice(0, 3);
    const file = join(work, 'to-nowhere.ndjson');
    writeFileSync(file, lines.join('\n'));
    const failedFile = join(work, 'failed.ndjson');
    const run = await cli([
      'put-events',
      file,
      '--bus',
      'no-such-bus',
      '--failed-file',
      failedFile,
      '--max-attempts',
      '2',
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/failed {9}3 \(saved to/);
    const saved = jsonLines(readFileSync(failedFile, 'utf8'));
    expect(saved).toHaveLength(3);
    expect(saved[0]).toMatchObject({ EventBusName: 'no-such-bus', Source: 'inferbus.acme', _line: 1 });
    // Resend to the right bus: the saved raw entries validate and go through.
    const fixed = saved.map((s) => JSON.stringify({ ...s, EventBusName: 'inferbus-dev' })).join('\n');
    const resend = await cli(['put-events', '--json', '-'], {}, fixed);
    expect(resend.code, resend.stderr).toBe(0);
    expect(jsonLines(resend.stdout)[0]).toMatchObject({ accepted: 3 });
  });

  it('claim-checks a payload over the 1 MB entry limit into the claims bucket', async () => {
    const envelope = JSON.parse(samples.trim().split('\n')[0] as string);
    const big = {
      ...envelope,
      id: 'big-1',
      stream: 'claim-test',
      payload: { text: `Subject: big\n\n${'lorem ipsum '.repeat(100_000)}` },
    };
    const run = await cli(['put-events', '--json', '-'], {}, JSON.stringify(big));
    expect(run.code, run.stderr).toBe(0);
    expect(jsonLines(run.stdout)[0]).toMatchObject({ accepted: 1, claimChecks: 1 });
    await settle();
    const result = await cli([
      'query',
      'SELECT tier, label FROM events WHERE source_event_id = ?',
      '--param',
      'big-1',
      '--format',
      'json',
    ]);
    expect(jsonLines(result.stdout).length).toBeGreaterThan(0);
  });
});

describe('inferbus query', () => {
  it('runs a named query with parameters and prints an aligned table', async () => {
    const run = await cli([
      'query',
      '--named',
      'tenant-volume',
      '--param',
      `from=${today()}`,
      '--param',
      `to=${today()}`,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const [header, rule, ...rows] = run.stdout.trim().split('\n');
    expect(header).toMatch(/^dt\s+tenant\s+detail_type\s+events$/);
    expect(rule).toMatch(/^-+ {2}-+ {2}-+ {2}-+$/);
    expect(rows.some((r) => /acme\s+InferenceRequested\s+\d+$/.test(r))).toBe(true);
    const csv = await cli([
      'query',
      '--named',
      'tenant-volume',
      '--param',
      `from=${today()}`,
      '--param',
      `to=${today()}`,
      '--format',
      'csv',
    ]);
    expect(csv.stdout.split('\n')[0]).toBe('dt,tenant,detail_type,events');
  });

  it('lists named queries, and rejects unknown names, missing and foreign parameters', async () => {
    const list = await cli(['query', '--list', '--format', 'json']);
    expect(jsonLines(list.stdout).map((q) => q.name)).toContain('hourly-tier-volume');
    const unknown = await cli(['query', '--named', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown named query "nope"; known: hourly-tier-volume, /);
    const missing = await cli(['query', '--named', 'tenant-volume', '--param', 'from=2026-01-01']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/needs --param to=/);
    const foreign = await cli(['query', '--named', 'tenant-volume', '--param', 'x=1', '--param', 'to=1']);
    expect(foreign.stderr).toMatch(/has no parameter "x"/);
  });

  it('never splices parameters into SQL: an injection attempt is just a string', async () => {
    const run = await cli([
      'query',
      'SELECT count(*) AS n FROM events WHERE tenant = ?',
      '--param',
      "x' OR '1'='1",
      '--format',
      'json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(jsonLines(run.stdout)[0].n).toBe('0');
  });

  it('reports a failing query with exit code 1', async () => {
    const run = await cli(['query', 'SELECT no_such_column FROM events']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/error: query .* FAILED/);
  });
});

describe('inferbus dlq', () => {
  it('lists DLQs, shows a poison message with its error attributes and redrives it', async () => {
    const envelope = JSON.parse((await cli(['events', 'sample', '--count', '1', '--tenant', 'acme'])).stdout);
    const poison = { ...envelope, id: 'poison-1', payload: { note: 'neither text nor claim' } };
    expect((await cli(['put-events', '-'], {}, JSON.stringify(poison))).code).toBe(0);
    await settle();

    const list = jsonLines((await cli(['dlq', 'list', '--format', 'json'])).stdout);
    const work = list.find((d) => d.name === 'spam-t1-acme-dlq');
    expect(work).toMatchObject({ kind: 'queue', messages: '1', redrives_to: 'spam-t1-acme' });
    expect(list.find((d) => d.name === 'TaskSpamTier1TenantAcmeRuleDlq')).toMatchObject({
      kind: 'rule-target',
    });

    const show = await cli(['dlq', 'show', 'spam-t1-acme-dlq', '--format', 'json']);
    const [message] = jsonLines(show.stdout);
    expect(message).toMatchObject({ eventId: 'poison-1', tenant: 'acme' });
    expect(message.attributes).toMatchObject({ ERROR_CODE: 'InvalidPayload', ATTEMPTS: '1' });
    // A peek: still there.
    expect(rt.queueCounts().find((q) => q.name.includes('spam-t1-acme-dlq'))?.visible).toBe(1);

    const redrive = await cli(['dlq', 'redrive', 'spam-t1-acme-dlq']);
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toMatch(/1 message\(s\) moved/);
  });

  it('redrives a rule-target DLQ through the bus, marked as redriven, deleting only what was accepted', async () => {
    const dlq = rt.model.queues.find((q) => q.name.includes('TaskSpamTier1TenantGlobexRuleDlq'));
    const rule = rt.model.rules.find((r) => r.targets[0]?.deadLetterArn === dlq?.arn);
    const envelope = JSON.parse(
      (await cli(['events', 'sample', '--count', '1', '--tenant', 'globex'])).stdout,
    );
    envelope.id = 'undelivered-1';
    // Its own stream: a reused (tenant, stream, seq) would be skipped as a sequence duplicate.
    envelope.stream = 'redrive-test';
    const event = {
      version: '0',
      id: 'abc',
      'detail-type': 'InferenceRequested',
      source: 'inferbus.globex',
      account: '000000000000',
      time: new Date().toISOString(),
      region: rt.model.region,
      resources: [],
      detail: envelope,
    };
    const sqs = new SQSClient({
      endpoint: rt.endpoint,
      region: rt.model.region,
      credentials: LOCAL_S3_CREDENTIALS,
    });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: dlq?.url,
        MessageBody: JSON.stringify(event),
        MessageAttributes: {
          RULE_ARN: { DataType: 'String', StringValue: rule?.arn },
          ERROR_CODE: { DataType: 'String', StringValue: 'SDK_CLIENT_ERROR' },
          ERROR_MESSAGE: { DataType: 'String', StringValue: 'simulated delivery failure' },
        },
      }),
    );
    const show = await cli(['dlq', 'show', 'TaskSpamTier1TenantGlobexRuleDlq']);
    expect(show.stdout).toMatch(/undelivered-1\s+globex\s+\S+\s+SDK_CLIENT_ERROR/);

    const redrive = await cli(['dlq', 'redrive', 'TaskSpamTier1TenantGlobexRuleDlq']);
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toMatch(/1 event\(s\) put back on the bus/);
    await settle();
    expect(rt.queueCounts().find((q) => q.arn === dlq?.arn)?.visible).toBe(0);
    const result = await cli([
      'query',
      "SELECT payload FROM events WHERE envelope_id = ? AND detail_type = 'InferenceRequested'",
      '--param',
      'undelivered-1',
      '--format',
      'json',
    ]);
    expect(jsonLines(result.stdout)).toHaveLength(1);
    const completed = await cli([
      'query',
      'SELECT tier FROM events WHERE source_event_id = ?',
      '--param',
      'undelivered-1',
      '--format',
      'json',
    ]);
    expect(jsonLines(completed.stdout).length).toBeGreaterThan(0);
  });

  it('names the known DLQs for an unknown one', async () => {
    const run = await cli(['dlq', 'show', 'nope']);
    expect(run.code).toBe(2);
    // The work-queue DLQs by their short name (task, tier, tenant), among the others.
    const known = deadLetterQueueName(workQueueShortName('spam', 1, 'acme'));
    expect(run.stderr).toMatch(/no dead-letter queue "nope"; known: /);
    expect(run.stderr).toContain(` ${known},`);
  });
});

describe('environment errors', () => {
  it('says to start inferbus local when the endpoint is unreachable (exit 3)', async () => {
    const run = await cli(['dlq', 'list', '--local'], { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9.*inferbus local/);
  });

  it('says how to configure credentials when there are none (exit 3)', async () => {
    const env = {
      AWS_ENDPOINT_URL: undefined,
      AWS_ENDPOINT_URL_S3: undefined,
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
    };
    const run = await cli(['query', 'SELECT 1'], env);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/no AWS credentials found.*--profile.*--local/);
    const noRegion = await cli(['dlq', 'list'], { ...env, AWS_REGION: undefined });
    expect(noRegion.code).toBe(3);
    expect(noRegion.stderr).toMatch(/no AWS region: pass --region/);
  });

  it('exits 2 on a usage error and shows help with an example', async () => {
    expect((await cli(['put-events', '--rate', 'fast'])).code).toBe(2);
    const help = await cli(['dlq', 'redrive', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:\n {2}inferbus dlq redrive/);
    expect(existsSync(join(PROJECT_ROOT, 'bin/inferbus.mjs'))).toBe(true);
  });
});
