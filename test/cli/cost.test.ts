import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { stages } from '../../lib/config/stages';
import { ensureSynthesized } from '../../local/template';

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
    const { tier1 } = stages.dev.tiers;
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
