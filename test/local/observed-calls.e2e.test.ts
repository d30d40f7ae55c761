import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { runDemo } from '../../local/demo/run-demo';
import { LocalAuthorizer } from '../../local/iam/authorizer';
import { OBSERVED_CALLS_FILE, readObservedCalls, writeObservedCalls } from '../../local/iam/observed-log';
import { runOfflinePreflight } from '../../local/preflight/offline';
import { loadTemplateModel } from '../../local/template';
import { startTestRuntime } from '../support/local-cli';

/**
 * What the local runtime records for `inferbus preflight`: the distinct calls each function made,
 * allowed or denied, written to `<stateDir>/iam/observed.json` at stop, and read back by preflight.
 */
describe('observed calls', () => {
  it('are written at stop and checked by preflight against the same template (all allowed)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-observed-'));
    const rt = await startTestRuntime(stateDir);
    try {
      await runDemo(rt, { events: 20, out: () => {}, progress: () => {} });
    } finally {
      await rt.stop();
    }
    const file = readObservedCalls(join(stateDir, OBSERVED_CALLS_FILE));
    expect(file?.stackName).toBe('inferbus-dev');
    const seen = new Set(file?.calls.map((c) => `${c.principal.replace(/[0-9A-F]{8}$/, '')} ${c.action}`));
    expect(seen).toContain('TaskSpamTier1Function dynamodb:BatchGetItem');
    expect(seen).toContain('TaskSpamTier1Function events:PutEvents');
    expect(file?.calls.every((c) => c.allowed)).toBe(true);

    const report = await runOfflinePreflight({
      projectRoot: PROJECT_ROOT,
      cdkOutDir: join(PROJECT_ROOT, 'cdk.out'),
      stage: 'dev',
      stateDir,
      log: () => {},
    });
    expect(report.rows.filter((r) => r.verdict === 'fail')).toEqual([]);
    expect(report.rows.some((r) => r.verdict === 'skip' && r.check === 'observed calls')).toBe(false);
  });

  it('keep denied calls too, marked, so preflight replays what failed locally', () => {
    const model = loadTemplateModel(join(PROJECT_ROOT, 'cdk.out'), 'inferbus-dev', {
      endpoint: 'http://127.0.0.1:1',
    });
    const iam = new LocalAuthorizer(model);
    const tier2 = model.functions.find((f) => f.logicalId.startsWith('TaskSpamTier2'))?.logicalId as string;
    const caller = iam.callerOf(iam.credentialsOf(tier2).accessKeyId);
    const tableArn = model.tables[0]?.arn as string;
    expect(iam.decide(caller, { action: 'dynamodb:PutItem', resource: tableArn })).toBeDefined();
    const stateDir = mkdtempSync(join(tmpdir(), 'inferbus-observed-'));
    writeObservedCalls(stateDir, model.stackName, iam);
    expect(readObservedCalls(join(stateDir, OBSERVED_CALLS_FILE))?.calls).toEqual([
      expect.objectContaining({
        principal: tier2,
        action: 'dynamodb:PutItem',
        resource: tableArn,
        allowed: false,
      }),
    ]);
    expect(iam.observed()).toEqual([]);
  });
});
