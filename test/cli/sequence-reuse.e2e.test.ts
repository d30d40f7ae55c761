import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
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
 * Sequence numbers used twice, end to end: the real SDK and CLI against a local runtime. Another
 * event that reuses a number is answered and flagged; the same event sent twice (the README's AWS
 * CLI example, run twice) ends with its one result; `events sample` run twice loses nothing.
 */
const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-reuse-'));
const work = mkdtempSync(join(tmpdir(), 'inferbus-reuse-work-'));
let rt: LocalRuntime;
const today = () => new Date().toISOString().slice(0, 10);
const cli = (args: string[], input?: string) => runCli(rt, work, args, {}, input);
const settle = () => settleRuntime(rt, 60_000);

/** The README's `aws events put-events` example, with its id and text as given. */
function readmeEntry(id: string, text: string) {
  return {
    EventBusName: rt.model.buses.find((b) => b.name !== 'default')?.name,
    Source: 'inferbus.acme',
    DetailType: 'InferenceRequested',
    Detail: JSON.stringify({
      id,
      tenant: 'acme',
      stream: 'inbox',
      seq: 1,
      hlc: '1764331200000-0-p1',
      type: 'message.received',
      payload: { text },
      metadata: {},
      time: '2026-11-28T12:00:00Z',
    }),
  };
}

async function putEvents(entries: ReturnType<typeof readmeEntry>[]): Promise<void> {
  const events = new EventBridgeClient({
    endpoint: rt.endpoint,
    region: rt.model.region,
    credentials: LOCAL_S3_CREDENTIALS,
  });
  const response = await events.send(new PutEventsCommand({ Entries: entries }));
  events.destroy();
  expect(response.FailedEntryCount).toBe(0);
}

async function sql(statement: string, ...params: string[]): Promise<Record<string, string>[]> {
  const args = params.flatMap((p) => ['--param', p]);
  const run = await cli(['query', statement, ...args, '--format', 'json']);
  expect(run.code, run.stderr).toBe(0);
  return jsonLines(run.stdout);
}

beforeAll(async () => {
  rt = await startTestRuntime(stateDir);
}, 180_000);

afterAll(async () => {
  await rt?.stop();
}, 60_000);

describe('a sequence number used twice', () => {
  it('answers another event at a used number, flagged, and the same event sent again once', async () => {
    await putEvents([readmeEntry('msg-0001', 'hello')]);
    await settle();
    // Another producer reuses (acme, inbox, 1); and the README example is run a second time.
    await putEvents([readmeEntry('other-0001', 'hello from elsewhere'), readmeEntry('msg-0001', 'hello')]);
    await settle();

    const results = await sql(
      "SELECT source_event_id, payload FROM events WHERE dt = ? AND detail_type = 'InferenceCompleted' ORDER BY source_event_id",
      today(),
    );
    expect(results.map((r) => r.source_event_id)).toEqual(['msg-0001', 'other-0001']);
    expect(JSON.parse(results[1]?.payload as string).ordering).toEqual({
      reused: { seq: 1, earlierId: 'msg-0001' },
    });
    expect(JSON.parse(results[0]?.payload as string).ordering).toBeUndefined();

    const reused = await cli(['trace', 'other-0001']);
    expect(reused.code, reused.stderr).toBe(0);
    expect(reused.stdout).toMatch(
      /outcome: completed by tier [12] of task spam: \w+ \(score [\d.]+; ham [\d.]+, spam [\d.]+\); seq 1 reused: taken before by event msg-0001, processed all the same \(ordering\.reused\)/,
    );
    const twice = await cli(['trace', 'msg-0001']);
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stdout).toMatch(/accepted\s+InferenceRequested from inferbus\.acme.*\[2 copies archived\]/);
    expect(twice.stdout).toMatch(
      /outcome: completed by tier [12] of task spam: \w+ \(score [\d.]+; ham [\d.]+, spam [\d.]+\); the same event \(same id\) was accepted 2 times: one event, this one outcome/,
    );

    const outcomes = await cli(namedQueryToday('exactly-once-outcomes'));
    expect(outcomes.code, outcomes.stderr).toBe(0);
    const rows = jsonLines(outcomes.stdout);
    expect(rows.find((r) => r.source_event_id === 'other-0001')).toMatchObject({
      outcome: 'InferenceCompleted',
      ordering_flag: 'reused',
      reused_earlier_id: 'msg-0001',
    });
    expect(rows.filter((r) => r.source_event_id === 'msg-0001')).toHaveLength(1);
  });

  it('loses nothing when `events sample | put-events` runs twice', async () => {
    const runs = [];
    for (let run = 0; run < 2; run++) {
      const samples = await cli(['events', 'sample', '--count', '20']);
      expect(samples.code, samples.stderr).toBe(0);
      const sent = await cli(['put-events', '--json', '-'], samples.stdout);
      expect(sent.code, sent.stderr).toBe(0);
      runs.push(jsonLines(samples.stdout));
    }
    const [first, second] = runs as [{ id: string; stream: string }[], { id: string; stream: string }[]];
    expect(first[0]?.stream).not.toBe(second[0]?.stream);
    await settle();

    const answered = await sql(
      "SELECT DISTINCT source_event_id FROM events WHERE dt = ? AND detail_type = 'InferenceCompleted'",
      today(),
    );
    const ids = new Set(answered.map((r) => r.source_event_id));
    expect([...first, ...second].filter((e) => !ids.has(e.id))).toEqual([]);
  });
});
