import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackCodec } from '../../functions/core/packing/codec';
import { type PackInput, planPacks } from '../../functions/core/packing/pack';
import { PROJECT_ROOT } from '../../lib/app';
import { OBSERVED_CALLS_FILE, readObservedCalls } from '../../local/iam/observed-log';
import { runOfflinePreflight } from '../../local/preflight/offline';
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
 * Packed requests end to end through the local runtime: packs put on the bus with the real SDK
 * (one tenant's encoded, another's plain, both tasks, one pack partly poison), each request
 * answered, archived as one request row and one result row, poison dead-lettered one by one and
 * redriven, a packed request traced; then the calls the handlers made (their Firehose writes
 * among them) authorized against the synthesized roles by preflight.
 */
const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-packs-'));
const work = mkdtempSync(join(tmpdir(), 'inferbus-packs-work-'));
const POISON = ['acme', 'spam'] as const;
let rt: LocalRuntime;
let stopped = false;
/** Every request sent, by id: its tenant, task, and whether it is poison. */
const sent = new Map<string, { tenant: string; task: string; poison: boolean }>();
let packsSent = 0;

const cli = (args: string[], input?: string) => runCli(rt, work, args, {}, input);
const settle = () => settleRuntime(rt, 90_000);

async function query<T = Record<string, string>>(sql: string): Promise<T[]> {
  const run = await cli(['query', sql, '--format', 'json']);
  expect(run.code, run.stderr).toBe(0);
  return jsonLines(run.stdout) as T[];
}

beforeAll(async () => {
  rt = await startTestRuntime(stateDir);
  const codec = await createPackCodec();
  const bus = rt.model.buses[0]?.name as string;
  const client = new EventBridgeClient({
    endpoint: rt.endpoint,
    region: rt.model.region,
    credentials: LOCAL_S3_CREDENTIALS,
  });
  for (const [tenant, encoded] of [
    ['acme', true],
    ['globex', false],
  ] as const) {
    const samples = await cli(['events', 'sample', '--tenant', tenant, '--count', '16']);
    const envelopes = jsonLines(samples.stdout);
    let poisoned = 0;
    const inputs: PackInput[] = envelopes.map((envelope) => {
      const poison = tenant === POISON[0] && envelope.task === POISON[1] && poisoned++ % 3 === 1;
      const sentEnvelope = poison ? { ...envelope, payload: { note: 'neither text nor claim' } } : envelope;
      sent.set(envelope.id, { tenant, task: envelope.task, poison });
      return { envelope: sentEnvelope, source: `inferbus.${tenant}`, detailType: 'InferenceRequested' };
    });
    const planned = planPacks(inputs, undefined, encoded ? codec : undefined);
    // Both tasks, each in one pack: no request travels alone.
    expect(planned.map((p) => p.indexes.length)).toEqual([8, 8]);
    for (const { entry } of planned) {
      expect(JSON.parse(entry.Detail as string)).toHaveProperty(encoded ? 'data' : 'items');
    }
    const out = await client.send(
      new PutEventsCommand({
        Entries: planned.map((p) => ({ ...p.entry, Resources: undefined, EventBusName: bus })),
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
    packsSent += planned.length;
  }
  expect([...sent.values()].filter((r) => r.poison)).toHaveLength(3);
  await settle();
}, 180_000);

afterAll(async () => {
  if (!stopped) await rt?.stop();
}, 30_000);

const ids = (filter: (r: { poison: boolean }) => boolean) =>
  [...sent].filter(([, r]) => filter(r)).map(([id]) => id);

describe('packed requests through the local runtime', () => {
  it('gives every request its outcome (exactly-once-outcomes): an answer, or its failure for poison', async () => {
    const run = await cli(namedQueryToday('exactly-once-outcomes'));
    expect(run.code, run.stderr).toBe(0);
    const outcomes = new Map(jsonLines(run.stdout).map((o) => [o.source_event_id, o]));
    expect([...outcomes.keys()].sort()).toEqual([...sent.keys()].sort());
    for (const [id, request] of sent) {
      const outcome = outcomes.get(id);
      expect(outcome, id).toMatchObject({ tenant: request.tenant, task: request.task });
      if (request.poison)
        expect(outcome).toMatchObject({ outcome: 'InferenceFailed', error_code: 'InvalidPayload' });
      else expect(outcome.outcome).toBe('InferenceCompleted');
    }
  });

  it('archives exactly one request row and one result row per request, and no row for a pack', async () => {
    const requests = await query<{ tenant: string; envelope_id: string; n: string }>(
      "SELECT tenant, envelope_id, count(*) AS n FROM events WHERE detail_type = 'InferenceRequested' GROUP BY tenant, envelope_id",
    );
    expect(requests.map((r) => r.envelope_id).sort()).toEqual([...sent.keys()].sort());
    expect(requests.filter((r) => r.n !== '1')).toEqual([]);
    const results = await query<{ source_event_id: string; n: string }>(
      "SELECT source_event_id, count(*) AS n FROM events WHERE detail_type = 'InferenceCompleted' GROUP BY source_event_id",
    );
    expect(results.map((r) => r.source_event_id).sort()).toEqual(ids((r) => !r.poison).sort());
    expect(results.filter((r) => r.n !== '1')).toEqual([]);
    // A pack archived whole would be a row without an envelope id.
    expect(await query('SELECT event_id, detail_type FROM events WHERE envelope_id IS NULL')).toEqual([]);
    // The named query per tenant and detail type counts the same requests.
    const volume = await cli(namedQueryToday('tenant-volume'));
    const requested = jsonLines(volume.stdout).filter((r) => r.detail_type === 'InferenceRequested');
    expect(requested.map((r) => [r.tenant, r.events])).toEqual([
      ['acme', '16'],
      ['globex', '16'],
    ]);
    expect(packsSent).toBe(4);
  });

  it('dead-letters the poison requests of a pack one by one, as plain events with reasons, and redrives them', async () => {
    const dlq = `${POISON[1]}-t1-${POISON[0]}-dlq`;
    const show = await cli(['dlq', 'show', dlq, '--format', 'json']);
    expect(show.code, show.stderr).toBe(0);
    const letters = jsonLines(show.stdout);
    expect(letters.map((l) => l.eventId).sort()).toEqual(ids((r) => r.poison).sort());
    for (const letter of letters) {
      expect(letter).toMatchObject({ tenant: 'acme', attributes: { ERROR_CODE: 'InvalidPayload' } });
      expect(letter.attributes.ERROR_MESSAGE).toMatch(/payload/i);
    }
    const redrive = await cli(['dlq', 'redrive', dlq]);
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toMatch(/3 message\(s\) moved/);
    await settle();
    // Redriven, read again as single requests, and dead-lettered again for the same reason.
    const again = jsonLines((await cli(['dlq', 'show', dlq, '--format', 'json'])).stdout);
    expect(again.map((l) => l.eventId).sort()).toEqual(ids((r) => r.poison).sort());
    expect(again.every((l) => l.attributes.ERROR_CODE === 'InvalidPayload')).toBe(true);
  });

  it('traces a packed request from acceptance to its result and archive rows', async () => {
    const [id] = ids((r) => !r.poison);
    const run = await cli(['trace', id as string, '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const [trace] = jsonLines(run.stdout);
    expect(trace).toMatchObject({ eventId: id, found: true, tenant: 'acme', dlqMessages: [] });
    const types = trace.archiveRows.map((r: { detail_type: string }) => r.detail_type);
    expect(types).toContain('InferenceRequested');
    expect(types).toContain('InferenceCompleted');
    const text = await cli(['trace', id as string]);
    expect(text.stdout).toMatch(/outcome: completed by tier [12] of task spam/);
  });

  it("records the handlers' Firehose writes and preflight authorizes them against the synthesized roles", async () => {
    await rt.stop();
    stopped = true;
    const file = readObservedCalls(join(stateDir, OBSERVED_CALLS_FILE));
    const writes = (file?.calls ?? []).filter((c) => c.action === 'firehose:PutRecordBatch');
    // Both tasks' entry tiers wrote request and result rows; some later tier wrote its results' rows.
    const writers = new Set(writes.map((c) => c.principal.replace(/[0-9A-F]{8}$/, '')));
    expect(writers).toContain('TaskSpamTier1Function');
    expect(writers).toContain('TaskSensorTier1Function');
    expect(writes.every((c) => c.allowed && /:deliverystream\//.test(c.resource))).toBe(true);
    const report = await runOfflinePreflight({
      projectRoot: PROJECT_ROOT,
      cdkOutDir: join(PROJECT_ROOT, 'cdk.out'),
      stage: 'dev',
      stateDir,
      log: () => {},
    });
    expect(report.rows.filter((r) => r.verdict === 'fail')).toEqual([]);
    // Every tier function's declared Firehose write is bound to the archive stream and granted.
    const declared = report.rows.filter((r) => r.check.endsWith(' firehose:PutRecordBatch'));
    expect(declared).toHaveLength(rt.model.functions.filter((f) => f.environment.INFERBUS_TIER).length);
    for (const row of declared) {
      expect(row).toMatchObject({ verdict: 'pass', resource: expect.stringMatching(/:deliverystream\//) });
    }
  });
});
