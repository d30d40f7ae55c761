import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTaskDefinition } from '../../functions/tasks/definition';
import { PROJECT_ROOT } from '../../lib/app';
import { ensureSynthesized } from '../../local/template';
import { jsonLines, runCli, settle, startTestRuntime } from '../support/local-cli';

const runIn = (cwd: string, ...args: string[]) =>
  promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'bin', 'inferbus.mjs'), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
const run = (...args: string[]) => runIn(PROJECT_ROOT, ...args);

/** A synthesized stage of inference functions alone, as the CDK app writes their environment. */
function fixtureStage(
  tiers: { task: string; tier: number; last: boolean; model: string; memory: number; threshold?: string }[],
) {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-cost-fixture-'));
  mkdirSync(join(dir, 'cdk.out'));
  const resources = Object.fromEntries(
    tiers.map((t) => [
      `${t.task}Tier${t.tier}`,
      {
        Type: 'AWS::Lambda::Function',
        Properties: {
          MemorySize: t.memory,
          Architectures: ['arm64'],
          Environment: {
            Variables: {
              INFERBUS_TASK: t.task,
              INFERBUS_TIER: String(t.tier),
              INFERBUS_LAST_TIER: String(t.last),
              MODEL_NAME: t.model,
              CASCADE_THRESHOLD: t.threshold ?? 'manifest',
            },
          },
        },
      },
    ]),
  );
  writeFileSync(
    join(dir, 'cdk.out', 'inferbus-fixture.template.json'),
    JSON.stringify({ Resources: resources }),
  );
  return dir;
}

describe('inferbus cost, per task, from the stage template and the task definition', () => {
  const spam = [
    { task: 'spam', tier: 1, last: false, model: 'tier1', memory: 1024, threshold: '0.9' },
    { task: 'spam', tier: 2, last: true, model: 'tier2', memory: 2048 },
  ];

  it("prices each task's cascade against all-tier-2 on its held-out examples, and the whole stage", async () => {
    const cwd = fixtureStage(spam);
    const { stdout } = await runIn(
      cwd,
      'cost',
      '--stage',
      'fixture',
      '--requests-per-second',
      '40',
      '--format',
      'json',
    );
    const report = JSON.parse(stdout);
    const [task] = report.tasks;
    const heldOut = (await (await loadTaskDefinition('spam')).loadSplits()).test;
    expect(task).toMatchObject({ task: 'spam', requestsPerSecond: 40 });
    expect(task.input.tier1).toMatchObject({ memoryMiB: 1024 });
    expect(task.input.tier2).toMatchObject({ memoryMiB: 2048 });
    expect(task.measured).toMatchObject({
      models: ['tier1', 'tier2'],
      threshold: 0.9,
      thresholdFrom: 'stage CASCADE_THRESHOLD',
      sample: {
        examples: heldOut.length,
        heldOut: heldOut.length,
        byLabel: {
          ham: heldOut.filter((e) => e.label === 'ham').length,
          spam: heldOut.filter((e) => e.label === 'spam').length,
        },
      },
    });
    expect(task.measured.tier1).toMatchObject({ runs: 15 });
    expect(task.measured.escalationRate).toBeGreaterThan(0);
    expect(task.input.escalationRate).toBe(task.measured.escalationRate);
    expect(task.cascade.lambdaDurationPerMillion).toBeLessThan(task.allTier2.lambdaDurationPerMillion);
    expect(report.whole).toMatchObject({ tasks: ['spam'], cascadePerMillion: task.cascade.totalPerMillion });
    expect(report.prices.asOf).toBeDefined();

    const table = await runIn(cwd, 'cost', '--stage', 'fixture', '--escalation-rate', '0.1');
    expect(table.stdout).toMatch(/^task spam \(tier1 -> tier2\):$/m);
    expect(table.stdout).toMatch(
      /escalation at threshold 0\.9 \(stage CASCADE_THRESHOLD\): .* \d+ ham, \d+ spam; .*priced at 10\.00% \(given\)/,
    );
    expect(table.stdout).toMatch(/^whole stage \(spam; requests spread evenly over the stage's 1 task\(s\)/m);
  }, 120_000);

  it('prices packed traffic beside unpacked, requests per entry from packing the held-out inputs with the policy', async () => {
    const cwd = fixtureStage(spam);
    const json = async (...args: string[]) =>
      JSON.parse((await runIn(cwd, 'cost', '--stage', 'fixture', '--format', 'json', ...args)).stdout);
    const report = await json();
    const [task] = report.tasks;
    const line = (estimate: { lines: { item: string; dollars: number }[] }, item: string) =>
      estimate.lines.find((l) => l.item === item)?.dollars as number;
    expect(task.packed.policy).toMatchObject({ maxItems: 500, maxEntryBytes: 64_512, codec: 'zstd' });
    // SpamAssassin e-mails: about 23 per 64 KB unit with zstd (BENCHMARKS.md, Encoding).
    expect(task.packed.packing.requestsPerEntry).toBeGreaterThan(15);
    for (const scenario of ['cascade', 'allTier2'] as const) {
      const [packed, unpacked] = [task.packed[scenario], task[scenario]];
      expect(line(packed, 'EventBridge custom events')).toBeLessThan(
        line(unpacked, 'EventBridge custom events') / 10,
      );
      expect(line(packed, 'SQS requests')).toBeLessThan(line(unpacked, 'SQS requests') / 5);
      expect(packed.totalPerMillion).toBeLessThan(unpacked.totalPerMillion);
    }
    expect(report.whole.packedCascadePerMillion).toBe(task.packed.cascade.totalPerMillion);

    const json50 = await json('--codec', 'json', '--pack-max', '5');
    // Packs of 5, and the few e-mails too large to share a 64 KB entry alone.
    expect(json50.tasks[0].packed.packing.requestsPerEntry).toBeGreaterThan(4.5);
    expect(json50.tasks[0].packed.packing.requestsPerEntry).toBeLessThanOrEqual(5);
    const unpackedOnly = await json('--no-pack');
    expect(unpackedOnly.tasks[0].packed).toBeUndefined();
    expect(unpackedOnly.whole.packedCascadePerMillion).toBeNull();
    await expect(runIn(cwd, 'cost', '--stage', 'fixture', '--pack-bytes', '10')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--pack-bytes must be a whole number from 1024 to 1048576'),
    });

    const table = await runIn(cwd, 'cost', '--stage', 'fixture');
    expect(table.stdout).toMatch(
      /packed \(producers' default policy: up to 500 requests and 64512 B per entry, zstd\): [\d.]+ requests per entry/,
    );
    expect(table.stdout).toMatch(
      /^ {2}packing: cascade \$[\d.]+ per million packed against \$[\d.]+ unpacked/m,
    );
    expect(table.stdout).toMatch(/^ {2}packed: all-tier-2 costs [\d.]+x the cascade in total/m);
  }, 120_000);

  it("takes the manifest's calibrated threshold when the stage says `manifest`", async () => {
    const cwd = fixtureStage(spam.map((t) => ({ ...t, threshold: undefined })));
    const { stdout } = await runIn(cwd, 'cost', '--stage', 'fixture', '--format', 'json');
    expect(JSON.parse(stdout).tasks[0].measured.thresholdFrom).toBe('manifest cascade');
  }, 120_000);

  it('refuses an unknown --task naming the tasks there are, and a cascade it cannot price', async () => {
    const cwd = fixtureStage([
      ...spam,
      { task: 'spam', tier: 3, last: true, model: 'tier2-int8', memory: 2048 },
    ]);
    await expect(runIn(cwd, 'cost', '--stage', 'fixture', '--task', 'nope')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--task nope: not a task of stage fixture (it has spam)'),
    });
    await expect(runIn(cwd, 'cost', '--stage', 'fixture')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('task spam has 3 tier(s); the cost model prices a two-tier cascade'),
    });
  }, 60_000);

  it('says how to get a template for a stage that was never synthesized', async () => {
    await expect(run('cost', '--stage', 'nosuchstage')).rejects.toMatchObject({
      code: 3,
      stderr: expect.stringContaining('npx cdk synth -c stage=nosuchstage'),
    });
  });

  it('rejects an escalation rate outside 0..1', async () => {
    await expect(run('cost', '--escalation-rate', '2')).rejects.toMatchObject({ code: 2 });
  });
});

describe('inferbus cost measures the escalation rate replay measures', () => {
  /** Percentage points: both score the same held-out examples with the same models and threshold. */
  const TOLERANCE = 0.005;

  beforeAll(async () => {
    await ensureSynthesized({ projectRoot: PROJECT_ROOT, cdkOutDir: 'cdk.out', stage: 'dev', log: () => {} });
  }, 180_000);

  it('at the dev threshold, on the held-out split sent through the local runtime', async () => {
    const cost = JSON.parse(
      (await run('cost', '--stage', 'dev', '--task', 'spam', '--format', 'json')).stdout,
    );
    const [spam] = cost.tasks;
    const heldOut = (await (await loadTaskDefinition('spam')).loadSplits()).test;
    expect(spam.measured.sample.examples).toBe(heldOut.length);

    const rt = await startTestRuntime(mkdtempSync(join(tmpdir(), 'inferbus-cost-')));
    try {
      const work = mkdtempSync(join(tmpdir(), 'inferbus-cost-work-'));
      const samples = await runCli(rt, work, [
        'events',
        'sample',
        '--task',
        'spam',
        '--count',
        String(heldOut.length),
      ]);
      const sent = await runCli(rt, work, ['put-events', '--json', '-'], {}, samples.stdout);
      expect(sent.code, sent.stderr).toBe(0);
      await settle(rt, 120_000);
      const replay = await runCli(rt, work, ['replay', '--task', 'spam', '--format', 'json']);
      expect(replay.code, replay.stderr).toBe(0);
      const [current] = jsonLines(replay.stdout)[0].tasks[0].runs;
      expect(current.events).toBe(heldOut.length);
      expect(current.thresholds).toEqual([spam.measured.threshold]);
      expect(current.escalationRate).toBeGreaterThan(0);
      expect(Math.abs(spam.measured.escalationRate - current.escalationRate)).toBeLessThanOrEqual(TOLERANCE);
      // The cost is priced at the median of the timed runs, quoted with its spread.
      for (const timing of current.timing) {
        expect(timing.runs).toBeGreaterThanOrEqual(15);
        expect(timing.p25).toBeLessThanOrEqual(timing.median);
        expect(timing.median).toBeLessThanOrEqual(timing.p75);
      }
      expect(current.msPerEvent[0]).toBe(current.timing[0].median);
    } finally {
      await rt.stop();
    }
  }, 240_000);
});
