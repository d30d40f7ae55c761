import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { loadStageConfig } from '../../lib/config';
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
let sampleTasks: string[] = [];

const cli = (args: string[], input?: string) => runCli(rt, work, args, {}, input);

const settle = () => settleRuntime(rt, 30_000);

beforeAll(async () => {
  rt = await startTestRuntime(stateDir);
  const samples = (await cli(['events', 'sample', '--count', '30'])).stdout;
  const envelopes = jsonLines(samples);
  sampleIds = envelopes.map((e) => e.id);
  sampleTenants = envelopes.map((e) => e.tenant);
  sampleSpam = envelopes.filter((e) => e.payload.expectedLabel === 'spam').length;
  sampleTasks = envelopes.map((e) => e.task);
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
    expect(run.stdout).toMatch(
      new RegExp(`^event ${id} \\(task spam, tenant \\w+, stream [\\w-]+, seq \\d+\\)\n`),
    );
    const lines = run.stdout.split('\n');
    const accepted = lines.findIndex((l) => /\saccepted\s+InferenceRequested from inferbus\./.test(l));
    // The first sample is the first task's (spam): its result shows the label, score and both probabilities.
    const result = lines.findIndex((l) =>
      /\stier [12] result\s+(ham|spam) \(score [\d.]+; ham [\d.]+, spam [\d.]+/.test(l),
    );
    expect(accepted).toBeGreaterThan(0);
    expect(result).toBeGreaterThan(accepted);
    expect(run.stdout).toMatch(/outcome: completed by tier [12] of task spam: (ham|spam)/);
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
    // Two DLQs per lane (the work queue's, the rule's), a lane per tenant of every tier of every
    // task; then the archive rule's DLQ, the unrouted-requests queue and its rule's DLQ.
    const dev = loadStageConfig('dev');
    const dlqs = dev.tenants.length * dev.tasks.flatMap((task) => task.tiers).length * 2 + 3;
    expect(run.stderr).toMatch(
      new RegExp(
        `nothing found for event .*: looked in archive inferbus_dev\\.events \\(dt >= \\d{4}-\\d{2}-\\d{2}.*and ${dlqs} dead-letter queue\\(s\\) of stage dev`,
      ),
    );
    expect(run.stdout).toBe('');
    const help = await cli(['trace', '--help']);
    expect(help.stdout).toMatch(/Examples:\n {2}inferbus trace /);
    expect((await cli(['trace', 'x', '--since', 'yesterday'])).code).toBe(2);
  });
});

describe('inferbus replay', () => {
  it('reproduces what was served, per task, with the current manifests and the stage thresholds', async () => {
    const run = await cli(['replay', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const [report] = jsonLines(run.stdout);
    expect(report.replayed).toBe(30);
    expect(report.skipped).toEqual({ 'row(s) whose payload is not an inference request': 1 });
    expect(report.wroteToAws).toBe(false);
    const tasks = [...new Set(sampleTasks)];
    expect(report.tasks.map((t: { task: string }) => t.task)).toEqual(tasks);
    for (const task of report.tasks) {
      expect(task.replayed).toBe(sampleTasks.filter((t) => t === task.task).length);
      const [current] = task.runs;
      expect(current).toMatchObject({ role: 'current', task: task.task, rejected: 0 });
      expect(current.thresholds).toHaveLength(current.models.length - 1);
      expect(current.agreement).toMatchObject({ same: task.replayed, compared: task.replayed, rate: 1 });
      expect(current.tierAgreement.rate).toBe(1);
      expect(current.accuracy.labelled).toBe(task.replayed);
      expect(current.costPerMillionUsd.totalUsd).toBeGreaterThan(0);
      expect(current.timing[0]).toMatchObject({ runs: 15, eventsPerRun: task.replayed });
      expect(current.msPerEvent[0]).toBe(current.timing[0].median);
    }
    const spam = report.tasks.find((t: { task: string }) => t.task === 'spam');
    expect(spam.runs[0].models).toEqual(['tier1', 'tier2']);
    expect(report.pricing.price).toMatch(
      /Lambda arm64 \$0\.0000133334\/GB-s, us-east-1 list price as of \d{4}-\d{2}/,
    );
    expect(report.pricing.memoryMiB.spam.memoryMiB).toEqual([1024, 2048]);

    const table = await cli(['replay', '--task', 'spam']);
    expect(table.stdout).toMatch(/^task spam: \d+ request\(s\)$/m);
    expect(table.stdout).toMatch(/agreement with served\s+100\.00% \((\d+)\/\1 labels\)/);
    // Compute is quoted as the median of 15 timed runs with its spread, and priced at the median.
    expect(table.stdout).toMatch(
      /tier-1 ms\/event here\s+\d+\.\d{3} ms \(p25–p75 [\d.]+–[\d.]+, 15 runs of \d+\)/,
    );
    expect(table.stdout).toMatch(/compute \$\/1M events \(median\)/);
    // The samples carry the held-out split's spam share (287 of 913), not only the hams that sort first.
    const spamSent = sampleTasks.filter((t) => t === 'spam').length;
    expect(Math.abs(sampleSpam - (spamSent * 287) / 913)).toBeLessThanOrEqual(1);
    expect(table.stdout).toMatch(/Nothing was written to AWS\./);
  });

  it('compares a candidate manifest of one task with another threshold side by side', async () => {
    const dir = mkdtempSync(join(work, 'candidate-'));
    for (const file of ['manifest.json', 'tier1.onnx', 'tier2.onnx', 'tier2-int8.onnx']) {
      copyFileSync(join(PROJECT_ROOT, 'models', 'spam', file), join(dir, file));
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
    expect(report.tasks.map((t: { task: string }) => t.task)).toEqual(['spam']);
    const [current, candidate] = report.tasks[0].runs;
    expect(candidate).toMatchObject({ role: 'candidate', thresholds: [0.999], thresholdFrom: '--threshold' });
    expect(candidate.escalations).toBeGreaterThan(current.escalations);
    expect(typeof report.tasks[0].changedLabels).toBe('number');

    const table = await cli(['replay', '--manifest', join(dir, 'manifest.json'), '--threshold', '0.999']);
    expect(table.stdout).toMatch(/^\s+current\s+candidate$/m);
    expect(table.stdout).toMatch(/escalation rate\s+\S+ \((\d+)\/(\d+)\)\s+\S+ \(\d+\/\2\)/);
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

    const low = await cli(['replay', '--task', 'spam', '--threshold', '0.2']);
    expect(low.code).toBe(2);
    expect(low.stderr).toMatch(/--threshold 0\.2 is outside \[1\/2, 1\]/);
    const task = await cli(['replay', '--task', 'nope']);
    expect(task.code).toBe(2);
    expect(task.stderr).toMatch(/--task nope: not a task of .* \(it has spam/);
    const help = await cli(['replay', '--help']);
    expect(help.stdout).toMatch(/must return the columns payload|must return payload/);
    expect(help.stdout).toMatch(/Examples:\n {2}inferbus replay/);
  });
});
