import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import {
  jsonLines,
  namedQueryToday,
  runCli,
  settle as settleRuntime,
  startTestRuntime,
} from '../support/local-cli';

/**
 * Envelope ids are the producers' own, unique only per tenant (issue 15, item 6), and results are
 * the handlers' alone (item 5), end to end: the real SDK and CLI against a local runtime.
 */
const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-tenant-ids-'));
const work = mkdtempSync(join(tmpdir(), 'inferbus-tenant-ids-work-'));
let rt: LocalRuntime;
const today = () => new Date().toISOString().slice(0, 10);
const cli = (args: string[], input?: string) => runCli(rt, work, args, {}, input);

const SPAM = 'WIN A FREE PRIZE NOW!!! Click here to claim your cash reward, limited offer, act now $$$';
const HAM = 'Hi Sam, the meeting moved to 3pm tomorrow; I will bring the quarterly report. Thanks, Ann';

function entry(
  tenant: string,
  id: string,
  seq: number,
  payload: Record<string, unknown>,
  source = `inferbus.${tenant}`,
  detailType = 'InferenceRequested',
): PutEventsRequestEntry {
  return {
    EventBusName: rt.model.buses.find((b) => b.name !== 'default')?.name,
    Source: source,
    DetailType: detailType,
    Detail: JSON.stringify({
      id,
      tenant,
      stream: 'collide',
      seq,
      hlc: `1764331200000-${seq}-p1`,
      type: 'message.received',
      payload,
      metadata: {},
      time: new Date().toISOString(),
    }),
  };
}

async function putEvents(
  entries: PutEventsRequestEntry[],
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = LOCAL_S3_CREDENTIALS,
) {
  const events = new EventBridgeClient({ endpoint: rt.endpoint, region: rt.model.region, credentials });
  const response = await events.send(new PutEventsCommand({ Entries: entries }));
  events.destroy();
  return response;
}

/** The credentials tier 1's execution environments get (its role's access key). */
function tier1Credentials() {
  const fn = rt.model.functions.find((f) => f.environment.INFERBUS_TIER === '1');
  const env = rt.lambda.environmentOf(fn?.logicalId as string);
  return {
    accessKeyId: env.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
    sessionToken: env.AWS_SESSION_TOKEN,
  };
}

const forgedResult = (id: string) =>
  entry(
    'globex',
    id,
    3,
    { sourceEventId: 'victim-2', tier: 2, label: 'spam', score: 0.99 },
    'inferbus.acme',
    'InferenceCompleted',
  );
let producerForgery: unknown;

async function outcomes(): Promise<Record<string, string>[]> {
  const run = await cli(namedQueryToday('exactly-once-outcomes'));
  expect(run.code, run.stderr).toBe(0);
  return jsonLines(run.stdout);
}

beforeAll(async () => {
  rt = await startTestRuntime(stateDir);
  const requests = await putEvents([
    entry('acme', 'coll-1', 1, { text: SPAM, expectedLabel: 'spam' }),
    entry('globex', 'coll-1', 1, { text: HAM, expectedLabel: 'ham' }),
    entry('globex', 'victim-2', 2, { text: HAM, expectedLabel: 'ham' }),
    // acme names globex's request as if it were an escalation of it.
    entry('acme', 'spoof-1', 2, { text: SPAM, sourceEventId: 'victim-2' }),
  ]);
  expect(requests.FailedEntryCount).toBe(0);
  await settleRuntime(rt, 60_000);
  // The attacker's forged result, under acme's own source: the bus policy refuses it, locally as in
  // AWS (test/infra/result-publishing.test.ts reads the same policy).
  producerForgery = await putEvents([forgedResult('forged-0')]).catch((error: unknown) => error);
  // The same forgery through a handler's own credentials (a handler bug, or a compromised one),
  // which the bus policy lets through: it reaches the archive, where the queries must not believe it.
  const handlerForgery = await putEvents([forgedResult('forged-1')], tier1Credentials());
  expect(handlerForgery.FailedEntryCount).toBe(0);
  await settleRuntime(rt, 60_000);
}, 240_000);

afterAll(async () => {
  await rt?.stop();
}, 60_000);

describe('two tenants with the same envelope id', () => {
  it('each get their own outcome in exactly-once-outcomes', async () => {
    const rows = (await outcomes()).filter((r) => r.source_event_id === 'coll-1');
    expect(rows.map((r) => [r.tenant, r.outcome, r.label]).sort()).toEqual([
      ['acme', 'InferenceCompleted', 'spam'],
      ['globex', 'InferenceCompleted', 'ham'],
    ]);
  });

  it('are traced apart: trace asks which tenant, and --tenant or a result id picks one', async () => {
    const ambiguous = await cli(['trace', 'coll-1']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(
      /event id "coll-1" is used by 2 tenants \(acme, globex\): say which with --tenant, e\.g\. inferbus trace coll-1 --tenant acme/,
    );
    const acme = await cli(['trace', 'coll-1', '--tenant', 'acme']);
    expect(acme.code, acme.stderr).toBe(0);
    expect(acme.stdout).toMatch(/^event coll-1 \(tenant acme, stream collide, seq 1\)/);
    expect(acme.stdout).toMatch(/outcome: completed by tier [12] of task spam: spam/);
    const globex = jsonLines(
      (await cli(['trace', 'globex:coll-1:t1:completed', '--format', 'json'])).stdout,
    )[0];
    expect(globex).toMatchObject({ eventId: 'coll-1', tenant: 'globex', found: true });
    expect(globex.outcome).toMatch(/^completed by tier [12] of task spam: ham/);
    expect(new Set(globex.archiveRows.map((r: { tenant: string }) => r.tenant))).toEqual(new Set(['globex']));
    const bad = await cli(['trace', 'coll-1', '--tenant', 'Not A Tenant']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tenant "Not A Tenant" is not a tenant id/);
  });
});

describe('ids that are not the producer’s to name', () => {
  it('dead-letters a tier-1 request carrying payload.sourceEventId and files nothing under the named id', async () => {
    const rows = await outcomes();
    const victim = rows.filter((r) => r.source_event_id === 'victim-2');
    // globex's own result only: neither acme's spoofed request nor the forged result counts.
    expect(victim.map((r) => [r.tenant, r.outcome, r.label])).toEqual([
      ['globex', 'InferenceCompleted', 'ham'],
    ]);
    expect(rows.find((r) => r.source_event_id === 'spoof-1')).toMatchObject({
      tenant: 'acme',
      outcome: 'InferenceFailed',
      error_code: 'InvalidPayload',
    });
    const trace = await cli(['trace', 'spoof-1']);
    expect(trace.code, trace.stderr).toBe(0);
    expect(trace.stdout).toMatch(
      /InvalidPayload: detail\.payload\.sourceEventId: only escalations published by inferbus/,
    );
  });

  it('refuses a producer putting a result detail-type, with the bus policy as AWS applies it', () => {
    // Every entry of the request is denied, so the whole request is (see README, Permissions).
    expect(producerForgery).toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringMatching(
        /not authorized to perform: events:PutEvents .* explicit deny in a resource-based policy/,
      ),
    });
  });

  it('keeps a forged result out of the queries and out of trace, though the archive holds it', async () => {
    const raw = await cli([
      'query',
      "SELECT source, tenant FROM events WHERE dt = ? AND envelope_id = 'forged-1'",
      '--param',
      today(),
      '--format',
      'json',
    ]);
    expect(jsonLines(raw.stdout)).toEqual([{ source: 'inferbus.acme', tenant: 'globex' }]);
    const trace = jsonLines((await cli(['trace', 'victim-2', '--format', 'json'])).stdout)[0];
    expect(trace.outcome).toMatch(/^completed by tier [12] of task spam: ham/);
    expect(trace.archiveRows.some((r: { envelope_id: string }) => r.envelope_id === 'forged-1')).toBe(false);
  });
});
