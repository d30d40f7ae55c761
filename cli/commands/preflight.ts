import { CliError, ExitCode } from '../errors';
import { formatRows } from '../format';
import type { CliIO } from '../io';
import { type AccountNeeds, type PreflightRow, runAccountChecks } from './preflight-account';

export interface PreflightOptions {
  readonly stage: string;
  readonly format: 'table' | 'json';
  /** As typed; undefined: the package's own cdk.out. */
  readonly cdkOut?: string;
  readonly offline: boolean;
  /** As typed; undefined: `<state-dir>/iam/observed.json`. */
  readonly observed?: string;
  readonly stateDir: string;
  readonly region?: string;
  readonly profile?: string;
}

/** What the offline part (local/preflight, injected by bin/) reports. */
export interface OfflineReport extends AccountNeeds {
  readonly region: string;
  readonly rows: readonly PreflightRow[];
}

export type OfflinePreflight = (options: {
  readonly stage: string;
  readonly cdkOut?: string;
  readonly observed?: string;
  readonly stateDir: string;
  readonly log: (line: string) => void;
}) => Promise<OfflineReport>;

const COLUMNS = ['check', 'resource', 'verdict', 'detail'] as const;

/**
 * `inferbus preflight`: what to run before `cdk deploy`. Exit 0 when every check passes (skipped
 * ones say why), 1 when something would fail, 2 for bad options, 3 when the stage cannot be synthesized.
 */
export async function preflightCommand(
  options: PreflightOptions,
  offline: OfflinePreflight,
  io: CliIO,
): Promise<ExitCode> {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(options.stage)) {
    throw new CliError(
      `--stage ${JSON.stringify(options.stage)}: lower-case letters, digits and "-"`,
      ExitCode.Usage,
    );
  }
  const report = await offline({
    stage: options.stage,
    ...(options.cdkOut !== undefined && { cdkOut: options.cdkOut }),
    ...(options.observed !== undefined && { observed: options.observed }),
    stateDir: options.stateDir,
    log: (line) => io.err(line),
  });
  const rows: PreflightRow[] = [...report.rows];
  if (options.offline) {
    rows.push({ check: 'account', resource: '-', verdict: 'skip', detail: 'not checked: --offline' });
  } else {
    const region = options.region ?? report.region;
    const account = await runAccountChecks(report, {
      region,
      ...(options.profile && { profile: options.profile }),
    });
    if ('skipped' in account) {
      rows.push({
        check: 'account',
        resource: region,
        verdict: 'skip',
        detail: `not checked: no AWS credentials found (${account.skipped}); run \`aws configure\` or \`aws sso login\`, or pass --profile, to check Lambda concurrency, the CDK bootstrap stack and quotas`,
      });
    } else rows.push(...account.rows);
  }

  const failed = rows.filter((r) => r.verdict === 'fail');
  const cells = rows.map((r) => ({ ...r }));
  if (options.format === 'json') {
    for (const line of formatRows(COLUMNS, cells, 'json')) io.out(line);
  } else {
    for (const line of formatRows(COLUMNS, cells, 'table')) io.out(line);
    io.out('');
    for (const row of failed) io.out(`FAIL ${row.check} (${row.resource}): ${row.detail}`);
    for (const row of rows.filter((r) => r.verdict === 'skip')) io.out(`skipped ${row.check}: ${row.detail}`);
    const passed = rows.filter((r) => r.verdict === 'pass').length;
    io.out(
      failed.length === 0
        ? `preflight ${report.stackName}: ${passed} check(s) passed; nothing found that \`cdk deploy\` would be refused for`
        : `preflight ${report.stackName}: ${failed.length} check(s) would fail, ${passed} passed: fix them before \`cdk deploy\``,
    );
  }
  return failed.length === 0 ? ExitCode.Ok : ExitCode.Failed;
}
