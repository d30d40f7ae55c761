import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import type { LocalRuntime } from '../../local/runtime';
import { jsonLines, runCli, settle as settleRuntime, startTestRuntime } from '../support/local-cli';

/**
 * `inferbus trace` and `inferbus replay` end to end: the real CLI spawned against its own local
 * runtime, fed a few sample events and one poison event, real output parsed.
 */
const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-trace-'));
const work = mkdtempSync(join(tmpdir(), 'inferbus-trace-work-'));
let rt: LocalRuntime;
let sampleIds: string[] = [];
let sampleTenants: string[] = [];
let sampleSpam = 0;

const cli = (args: string[], input?: string) => runCli(rt, work, args, {}, input);

const settle = () => settleRuntime(rt, 30_000);

beforeAll(async () => {
  rt = await startTestRuntime(stateDir);
  const samples = (await cli(['events', 'sample', '--count', '30'])).stdout;
  const envelopes = jsonLines(samples);
  sampleIds = envelopes.map((e) => e.id);
  sampleTenants = envelopes.map((e) => e.tenant);
  sampleSpam = envelopes.filter((e) => e.payload.expectedLabel === 'spam').length;
  const poison = { ...envelopes[0], id: 'poison-trace-1', payload: { note: 'neither text nor claim' } };
  const sent = await cli(['put-events', '--json', '-'], `${samples}${JSON.stringify(poison)}\n`);
  expect(sent.code, sent.stderr).toBe(0);
  await settle();
}, 50_000);

afterAll(async () => {
  await rt?.stop();
}, 20_000);

describe('inferbus trace', () => {
  it('shows the path of a processed event as a timeline, and as JSON', async () => {
    const id = sampleIds[0] as string;
    const run = await cli(['trace', id]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^event ${id} \\(tenant \\w+`));
    const lines = run.stdout.split('\n');
    const accepted = lines.findIndex((l) => /\saccepted\s+InferenceRequested from inferbus\./.test(l));
    const result = lines.findIndex((l) => /\stier [12] result\s+(ham|spam) \(score/.test(l));
    expect(accepted).toBeGreaterThan(0);
    expect(result).toBeGreaterThan(accepted);
    expect(run.stdout).toMatch(/outcome: completed by tier [12]: (ham|spam)/);
    expect(run.stdout).toMatch(/archive rows \(\d+\):/);

    const json = await cli(['trace', id, '--format', 'json']);
    const [trace] = jsonLines(json.stdout);
    expect(trace).toMatchObject({ eventId: id, found: true, dlqMessages: [] });
    expect(trace.timeline[0].step).toBe('accepted');
    expect(
      trace.archiveRows.some((r: { detail_type: string }) => r.detail_type === 'InferenceCompleted'),
    ).toBe(true);
    // A result's own id (tenant-scoped) traces the same request.
    const byResult = await cli(['trace', `${sampleTenants[0]}:${id}:t1:completed`, '--format', 'json']);
    expect(jsonLines(byResult.stdout)[0]).toMatchObject({ eventId: id, tenant: sampleTenants[0] });
  });

  it('shows a poison event in its DLQ with the reason, without deleting it', async () => {
    const run = await cli(['trace', 'poison-trace-1']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/tier 1 failed\s+InvalidPayload: /);
    expect(run.stdout).toMatch(/dead-lettered\s+in DLQ spam-t1-acme-dlq \(handler DLQ\): InvalidPayload/);
    expect(run.stdout).toMatch(/outcome: dead-lettered in spam-t1-acme-dlq: InvalidPayload/);
    const json = jsonLines((await cli(['trace', 'poison-trace-1', '--format', 'json'])).stdout)[0];
    expect(json.dlqMessages).toHaveLength(1);
    expect(json.dlqMessages[0]).toMatchObject({
      queue: 'spam-t1-acme-dlq',
      errorCode: 'InvalidPayload',
    });
    expect(rt.queueCounts().find((q) => q.name.includes('spam-t1-acme-dlq'))?.visible).toBe(1);
  });

  it('says nothing was found, and where it looked, for an unknown id (exit 1)', async () => {
    const run = await cli(['trace', "no-such-event' OR '1'='1"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /nothing found for event .*: looked in archive inferbus_dev\.events \(dt >= \d{4}-\d{2}-\d{2}.*and 15 dead-letter queue\(s\) of stage dev/,
    );
    expect(run.stdout).toBe('');
    const help = await cli(['trace', '--help']);
    expect(help.stdout).toMatch(/Examples:\n {2}inferbus trace /);
    expect((await cli(['trace', 'x', '--since', 'yesterday'])).code).toBe(2);
  });
});

describe('inferbus replay', () => {
  it('reproduces what was served with the current manifest and the stage threshold', async () => {
    const run = await cli(['replay', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const [report] = jsonLines(run.stdout);
    expect(report.replayed).toBe(30);
    expect(report.skipped).toEqual({ 'row(s) whose payload is not an inference request': 1 });
    expect(report.wroteToAws).toBe(false);
    const [current] = report.runs;
    expect(current).toMatchObject({
      role: 'current',
      threshold: 0.9,
      models: { tier1: 'tier1', tier2: 'tier2' },
    });
    expect(current.agreement).toMatchObject({ same: 30, compared: 30, rate: 1 });
    expect(current.tierAgreement.rate).toBe(1);
    expect(current.accuracy.labelled).toBe(30);
    expect(current.costPerMillionUsd.totalUsd).toBeGreaterThan(0);
    expect(report.pricing.price).toMatch(
      /Lambda arm64 \$0\.0000133334\/GB-s, us-east-1 list price as of \d{4}-\d{2}/,
    );
    expect(report.pricing).toMatchObject({ tier1MemoryMiB: 1024, tier2MemoryMiB: 2048 });

    const table = await cli(['replay']);
    expect(table.stdout).toMatch(/agreement with served\s+100\.00% \(30\/30 labels\)/);
    // Compute is quoted as the median of 15 timed runs with its spread, and priced at the median.
    expect(table.stdout).toMatch(
      /tier-1 ms\/event here\s+\d+\.\d{3} ms \(p25–p75 [\d.]+–[\d.]+, 15 runs of 30\)/,
    );
    expect(table.stdout).toMatch(/compute \$\/1M events \(median\)/);
    expect(current.timing.tier1).toMatchObject({ runs: 15, eventsPerRun: 30 });
    expect(current.tier1MsPerEvent).toBe(current.timing.tier1.median);
    // The samples carry the held-out split's spam share (287 of 913), not only the hams that sort first.
    expect(sampleSpam).toBeGreaterThanOrEqual(9);
    expect(sampleSpam).toBeLessThanOrEqual(10);
    expect(table.stdout).toMatch(/Nothing was written to AWS\./);
  });

  it('compares a candidate manifest with another threshold side by side', async () => {
    const dir = mkdtempSync(join(work, 'candidate-'));
    for (const file of ['manifest.json', 'tier1.onnx', 'tier2.onnx']) {
      copyFileSync(join(PROJECT_ROOT, 'models', file), join(dir, file));
    }
    const run = await cli([
      'replay',
      '--manifest',
      join(dir, 'manifest.json'),
      '--threshold',
      '0.999',
      '--format',
      'json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const [report] = jsonLines(run.stdout);
    const [current, candidate] = report.runs;
    expect(candidate).toMatchObject({ role: 'candidate', threshold: 0.999, thresholdFrom: '--threshold' });
    expect(candidate.escalationRate).not.toBe(current.escalationRate);
    expect(candidate.escalations).toBeGreaterThan(current.escalations);
    expect(typeof report.changedLabels).toBe('number');

    const table = await cli(['replay', '--manifest', join(dir, 'manifest.json'), '--threshold', '0.999']);
    expect(table.stdout).toMatch(/^\s+current\s+candidate$/m);
    expect(table.stdout).toMatch(/escalation rate\s+\S+ \(\d+\/30\)\s+\S+ \(\d+\/30\)/);
  });

  it('rejects bad input with exit 2 and says what to do', async () => {
    const unknown = await cli(['replay', '--named', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown named query "nope"; known: hourly-tier-volume/);

    const noPayload = await cli([
      'replay',
      '--query',
      'SELECT envelope_id FROM events WHERE dt >= ?',
      '--param',
      '2000-01-01',
    ]);
    expect(noPayload.code).toBe(2);
    expect(noPayload.stderr).toMatch(/must return the columns payload and envelope_id.*missing payload/);

    const missing = await cli(['replay', '--manifest', join(work, 'nowhere', 'manifest.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/manifest .*nowhere\/manifest\.json does not exist/);

    expect((await cli(['replay', '--threshold', '0.2'])).code).toBe(2);
    const help = await cli(['replay', '--help']);
    expect(help.stdout).toMatch(/must return the columns payload|must return payload/);
    expect(help.stdout).toMatch(/Examples:\n {2}inferbus replay/);
  });
});
