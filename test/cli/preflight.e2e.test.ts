import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { loadStageConfig } from '../../lib/config';
import { AccountStub } from '../support/account-stub';
import { jsonLines } from '../support/local-cli';
import { resourcesOf, type TemplateJson, templateVariant } from '../support/template-variant';

/**
 * `inferbus preflight` end to end: the real `bin/inferbus.mjs` on synthesized templates (the dev
 * stage as it is, and variants with a grant removed or an environment over 4 KB), and the account
 * checks with the real SDK clients against a stub speaking Lambda's, CloudFormation's and Service
 * Quotas' protocols.
 */
const home = mkdtempSync(join(tmpdir(), 'inferbus-preflight-home-'));
const NO_CREDENTIALS = {
  PATH: process.env.PATH,
  HOME: home,
  NODE_NO_WARNINGS: '1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: join(home, 'no-config'),
  AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function preflight(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/inferbus.mjs'), 'preflight', ...args],
      { cwd: home, env: { ...NO_CREDENTIALS, ...env } as NodeJS.ProcessEnv, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const failures = (run: Run) => jsonLines(run.stdout).filter((row) => row.verdict === 'fail');

let asIs: string;
beforeAll(async () => {
  // A copy of cdk.out, fresher than the sources: preflight checks it without synthesizing.
  asIs = await templateVariant(() => {});
}, 300_000);

describe('offline', () => {
  it('passes the dev stage as synthesized: every declared call allowed, every limit kept (exit 0)', async () => {
    const run = await preflight(['--stage', 'dev', '--cdk-out', asIs, '--offline', '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const rows = jsonLines(run.stdout);
    expect(failures(run)).toEqual([]);
    const checks = rows.map((r) => `${r.verdict} ${r.check} ${r.resource}`);
    expect(checks).toContain('pass limits inferbus-dev');
    expect(checks.some((c) => /^pass TaskSpamTier1\w+ dynamodb:PutItem .*TenantStateTable/.test(c))).toBe(
      true,
    );
    expect(
      checks.some((c) =>
        /^pass TaskSpamTier2\w+ sqs:SendMessageBatch .*inferbus-dev-spam-t2-acme-dlq$/.test(c),
      ),
    ).toBe(true);
    expect(
      checks.some((c) => /^pass TaskSpamTier2\w+ events:PutEvents .*event-bus\/inferbus-dev$/.test(c)),
    ).toBe(true);
    expect(rows.find((r) => r.check === 'account')).toMatchObject({
      verdict: 'skip',
      detail: expect.stringContaining('--offline'),
    });
  });

  it('names the call a removed grant would deny, with the fix (exit 1)', async () => {
    const withoutPutItem = await templateVariant((template: TemplateJson) => {
      for (const [, policy] of resourcesOf(template, 'AWS::IAM::Policy', 'TaskSpamTier1')) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          const actions = [statement.Action].flat();
          statement.Action = actions.filter((a: string) => a !== 'dynamodb:PutItem');
        }
      }
    });
    const run = await preflight(['--stage', 'dev', '--cdk-out', withoutPutItem, '--offline']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /FAIL TaskSpamTier1\w+ dynamodb:PutItem \(arn:aws:dynamodb:[^)]*TenantStateTable\w+\): would be denied: User: arn:aws:sts::000000000000:assumed-role\/[^ ]+ is not authorized to perform: dynamodb:PutItem/,
    );
    expect(run.stdout).toMatch(/grant the role dynamodb:PutItem on/);
    expect(run.stdout).toMatch(/1 check\(s\) would fail/);
  });

  it('lists an environment over 4 KB and a bad variable name together, not only the first (exit 1)', async () => {
    const oversized = await templateVariant((template: TemplateJson) => {
      const [[, fn]] = resourcesOf(template, 'AWS::Lambda::Function', 'TaskSpamTier1') as [[string, any]];
      fn.Properties.Environment.Variables.LARGE_SETTING = 'x'.repeat(4200);
      const [[, tier2]] = resourcesOf(template, 'AWS::Lambda::Function', 'TaskSpamTier2') as [[string, any]];
      tier2.Properties.Environment.Variables['1BAD'] = 'y';
    });
    const run = await preflight(['--stage', 'dev', '--cdk-out', oversized, '--offline', '--format', 'json']);
    expect(run.code).toBe(1);
    const limits = failures(run).filter((r) => r.check === 'limits');
    expect(limits).toEqual([
      expect.objectContaining({
        resource: expect.stringMatching(/^TaskSpamTier1Function/),
        detail: expect.stringMatching(/take \d+ bytes; Lambda allows 4096 \(4 KB\)/),
      }),
      expect.objectContaining({
        resource: expect.stringMatching(/^TaskSpamTier2Function/),
        detail: expect.stringContaining('"1BAD" is invalid'),
      }),
    ]);
  });

  it('checks the calls inferbus local recorded against the template, and says what it cannot check', async () => {
    const state = mkdtempSync(join(tmpdir(), 'inferbus-preflight-state-'));
    mkdirSync(join(state, 'iam'));
    const queue = 'arn:aws:sqs:eu-west-1:000000000000:inferbus-dev-spam-t1-acme';
    writeFileSync(
      join(state, 'iam', 'observed.json'),
      JSON.stringify({
        version: 1,
        stackName: 'inferbus-dev',
        updatedAt: new Date().toISOString(),
        calls: [
          // Tier 2 sending to a tier-1 queue: no grant covers it.
          {
            principal: 'TaskSpamTier2FunctionEB675E75',
            roleArn: 'arn:aws:iam::000000000000:role/x',
            action: 'sqs:SendMessage',
            resource: queue,
            allowed: true,
          },
          {
            principal: 'RetiredFunction',
            roleArn: 'arn:aws:iam::000000000000:role/y',
            action: 'sqs:SendMessage',
            resource: queue,
            allowed: true,
          },
        ],
      }),
    );
    const run = await preflight([
      '--stage',
      'dev',
      '--cdk-out',
      asIs,
      '--offline',
      '--state-dir',
      state,
      '--format',
      'json',
    ]);
    expect(run.code).toBe(1);
    const rows = jsonLines(run.stdout);
    expect(rows).toContainEqual(
      expect.objectContaining({
        check: 'TaskSpamTier2FunctionEB675E75 sqs:SendMessage (observed)',
        resource: queue,
        verdict: 'fail',
        detail: expect.stringContaining('is not authorized to perform: sqs:SendMessage'),
      }),
    );
    expect(rows).toContainEqual(
      expect.objectContaining({ check: 'RetiredFunction sqs:SendMessage (observed)', verdict: 'skip' }),
    );
  });

  it('refuses an --observed file that is missing or not one, naming it (exit 2)', async () => {
    const missing = await preflight([
      '--stage',
      'dev',
      '--cdk-out',
      asIs,
      '--offline',
      '--observed',
      'nope.json',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--observed \S*nope\.json: no such file; run `inferbus local`/);
    const bad = join(home, 'bad-observed.json');
    writeFileSync(bad, JSON.stringify({ version: 1, stackName: 'inferbus-dev', calls: [{ principal: 1 }] }));
    const wrong = await preflight(['--stage', 'dev', '--cdk-out', asIs, '--offline', '--observed', bad]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/bad-observed\.json is not an observed-calls file/);
  });

  it('refuses a bad stage name (exit 2)', async () => {
    const run = await preflight(['--stage', 'Prod!', '--offline']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--stage "Prod!": lower-case letters/);
  });
});

describe('account', () => {
  const stub = new AccountStub({
    unreservedConcurrency: 1000,
    bootstrap: { status: 'UPDATE_COMPLETE', version: 28 },
    appliedRulesQuota: 300,
    defaultRulesQuota: 300,
  });
  let endpoint: string;
  const credentials = { AWS_ACCESS_KEY_ID: 'AKIDSTUB', AWS_SECRET_ACCESS_KEY: 'stub-secret' };
  beforeAll(async () => {
    endpoint = await stub.start();
  });
  afterAll(() => stub.stop());

  it('passes an account with room: concurrency, bootstrap version, rules quota (exit 0)', async () => {
    const run = await preflight(['--stage', 'dev', '--cdk-out', asIs, '--format', 'json'], {
      ...credentials,
      AWS_ENDPOINT_URL: endpoint,
    });
    expect(run.code).toBe(0);
    const rows = jsonLines(run.stdout);
    expect(rows.find((r) => r.check === 'lambda concurrency')).toMatchObject({
      verdict: 'pass',
      detail: expect.stringContaining('1000 − 100'),
    });
    expect(rows.find((r) => r.check === 'cdk bootstrap')).toMatchObject({
      verdict: 'pass',
      resource: 'CDKToolkit (eu-west-1)',
      detail: expect.stringContaining('version 28 ≥ 6'),
    });
    expect(rows.find((r) => r.check === 'quota: rules per bus')).toMatchObject({
      verdict: 'pass',
      resource: expect.stringMatching(/^inferbus-dev \(\d+ rules\)$/),
    });
    expect(stub.requests).toEqual(
      expect.arrayContaining([
        'lambda:GetAccountSettings',
        'cloudformation:DescribeStacks CDKToolkit',
        'servicequotas:GetServiceQuota',
      ]),
    );
  });

  it('fails an account short of concurrency, without bootstrap, under the default rules quota (exit 1)', async () => {
    stub.state = { unreservedConcurrency: 101, defaultRulesQuota: 10 };
    // What the dev stage provisions: every tier of every task, each its minimum.
    const provisioned = loadStageConfig('dev')
      .tasks.flatMap((task) => task.tiers)
      .reduce((sum, tier) => sum + tier.provisionedConcurrency.min, 0);
    expect(provisioned).toBeGreaterThan(1);
    const run = await preflight(['--stage', 'dev', '--cdk-out', asIs], {
      ...credentials,
      AWS_ENDPOINT_URL: endpoint,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `FAIL lambda concurrency (inferbus-dev provisioned concurrency ${provisioned}): unreserved concurrency 101 − 100 that Lambda keeps unreserved = 1, below the ${provisioned} the stage provisions`,
    );
    expect(run.stdout).toMatch(
      /FAIL cdk bootstrap \(CDKToolkit \(eu-west-1\)\): CDKToolkit does not exist: run `npx cdk bootstrap`/,
    );
    expect(run.stdout).toMatch(
      /FAIL quota: rules per bus .*above the default quota of 10 \(events L-244521F2\)/,
    );
    expect(stub.requests).toContain('servicequotas:GetAWSDefaultServiceQuota');
  });

  it('skips the account checks, saying so, when no credentials can be found (exit 0)', async () => {
    const run = await preflight(['--stage', 'dev', '--cdk-out', asIs, '--format', 'json']);
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout).find((r) => r.check === 'account')).toMatchObject({
      verdict: 'skip',
      detail: expect.stringMatching(/^not checked: no AWS credentials found .*pass --profile/),
    });
  });
});
