import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { stages } from '../../lib/config/stages';
import { ensureSynthesized } from '../../local/template';
import { loadSplits } from '../../models/train/data';
import { jsonLines, runCli, settle, startTestRuntime } from '../support/local-cli';

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'bin', 'inferbus.mjs'), ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });

beforeAll(async () => {
  await ensureSynthesized({ projectRoot: PROJECT_ROOT, cdkOutDir: 'cdk.out', stage: 'dev', log: () => {} });
}, 180_000);

describe('inferbus cost', () => {
  it('prices the synthesized stage: the cascade costs less Lambda duration than all-tier-2', async () => {
    const { stdout } = await run('cost', '--stage', 'dev', '--escalation-rate', '0.1', '--format', 'json');
    const report = JSON.parse(stdout);
    // Read from the synthesized template, so it matches the dev stage's config.
    const tier1 = stages.dev.tasks[0]?.tiers[0];
    if (!tier1) throw new Error('dev has a tier');
    expect(report.input.tier1).toMatchObject({
      memoryMiB: tier1.memoryMiB,
      batchSize: tier1.batchSize,
      provisionedConcurrencyMin: tier1.provisionedConcurrency.min,
    });
    expect(report.input.escalationRate).toBe(0.1);
    expect(report.cascade.totalPerMillion).toBeGreaterThan(0);
    expect(report.cascade.lambdaDurationPerMillion).toBeLessThan(report.allTier2.lambdaDurationPerMillion);
    expect(report.prices.asOf).toBeDefined();
  });

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
  /** Percentage points: both score the same held-out messages with the same models and threshold. */
  const TOLERANCE = 0.005;

  it('at the dev threshold, on the held-out split sent through the local runtime', async () => {
    const cost = JSON.parse((await run('cost', '--stage', 'dev', '--format', 'json')).stdout);
    const heldOut = loadSplits().test;
    expect(cost.measured.sample).toEqual({
      messages: heldOut.length,
      heldOut: heldOut.length,
      byLabel: {
        ham: heldOut.filter((m) => m.label === 0).length,
        spam: heldOut.filter((m) => m.label === 1).length,
      },
    });
    expect(cost.measured.threshold).toBe(0.9);
    expect(cost.measured.tier1).toMatchObject({ runs: 15 });

    const rt = await startTestRuntime(mkdtempSync(join(tmpdir(), 'inferbus-cost-')));
    try {
      const work = mkdtempSync(join(tmpdir(), 'inferbus-cost-work-'));
      const samples = await runCli(rt, work, ['events', 'sample', '--count', String(heldOut.length)]);
      const sent = await runCli(rt, work, ['put-events', '--json', '-'], {}, samples.stdout);
      expect(sent.code, sent.stderr).toBe(0);
      await settle(rt, 120_000);
      const replay = await runCli(rt, work, ['replay', '--format', 'json']);
      expect(replay.code, replay.stderr).toBe(0);
      const [current] = jsonLines(replay.stdout)[0].runs;
      expect(current.events).toBe(heldOut.length);
      expect(current.escalationRate).toBeGreaterThan(0);
      expect(Math.abs(cost.measured.escalationRate - current.escalationRate)).toBeLessThanOrEqual(TOLERANCE);
      expect(cost.input.escalationRate).toBe(cost.measured.escalationRate);
      // The cost is priced at the median of the timed runs, quoted with its spread.
      for (const timing of [current.timing.tier1, current.timing.tier2]) {
        expect(timing.runs).toBeGreaterThanOrEqual(15);
        expect(timing.p25).toBeLessThanOrEqual(timing.median);
        expect(timing.median).toBeLessThanOrEqual(timing.p75);
      }
      expect(current.tier1MsPerEvent).toBe(current.timing.tier1.median);
    } finally {
      await rt.stop();
    }
  }, 240_000);
});
