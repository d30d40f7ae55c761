import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { LocalRuntime } from '../../local/runtime';
import { ensureSynthesized, loadTemplateModel } from '../../local/template';

/**
 * Bad input: a template whose rule carries a pattern EventBridge would refuse. The runtime refuses
 * to start with an error naming the template resource and the reason, as CloudFormation would
 * refuse to create the rule, instead of starting with the rule silently matching nothing.
 */
const cdkOut = join(PROJECT_ROOT, 'cdk.out');
const LOCAL = { endpoint: 'http://127.0.0.1:0' };
let brokenCdkOut: string;
let ruleId: string;

beforeAll(async () => {
  await ensureSynthesized({ projectRoot: PROJECT_ROOT, cdkOutDir: cdkOut, stage: 'dev', log: () => {} });
  brokenCdkOut = mkdtempSync(join(tmpdir(), 'inferbus-badpattern-'));
  for (const name of readdirSync(cdkOut)) {
    // Asset folders are large and unchanged: link them; copy the manifest and templates.
    if (name.startsWith('asset.')) symlinkSync(join(cdkOut, name), join(brokenCdkOut, name));
    else if (name.endsWith('.json'))
      writeFileSync(join(brokenCdkOut, name), readFileSync(join(cdkOut, name)));
  }
  const templatePath = join(brokenCdkOut, 'inferbus-dev.template.json');
  const template = JSON.parse(readFileSync(templatePath, 'utf8'));
  const [id, rule] = Object.entries<any>(template.Resources).find(
    ([logicalId, r]) => r.Type === 'AWS::Events::Rule' && logicalId.startsWith('TaskSpamTier1TenantAcme'),
  ) as [string, any];
  ruleId = id;
  rule.Properties.EventPattern.detail = { tenant: [{ prefix: 5 }] };
  writeFileSync(templatePath, JSON.stringify(template));
});

describe('a template with an invalid event pattern', () => {
  it('is refused by the template reader, naming the resource and the reason', () => {
    expect(() => loadTemplateModel(brokenCdkOut, undefined, LOCAL)).toThrow(
      new RegExp(
        `${ruleId}\\.Properties\\.EventPattern would be refused by EventBridge: Event pattern is not valid\\. Reason: .*prefix.*Fix the rule in the CDK app`,
      ),
    );
  });

  it('stops the local runtime from starting, with the same message', async () => {
    const logs: string[] = [];
    await expect(
      LocalRuntime.start({
        projectRoot: PROJECT_ROOT,
        stage: 'dev',
        port: 0,
        stateDir: mkdtempSync(join(tmpdir(), 'inferbus-badpattern-state-')),
        cdkOutDir: brokenCdkOut,
        log: (l) => logs.push(l),
      }),
    ).rejects.toThrow(new RegExp(`${ruleId}\\.Properties\\.EventPattern would be refused`));
  });

  it('leaves the valid synthesized templates loading as before', () => {
    expect(loadTemplateModel(cdkOut, undefined, LOCAL).rules.length).toBeGreaterThan(0);
  });
});
