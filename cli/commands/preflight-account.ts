import { describeError } from '../../functions/producer/errors';

/** One row of preflight's report (the offline part's rows have the same shape). */
export interface PreflightRow {
  readonly check: string;
  readonly resource: string;
  readonly verdict: 'pass' | 'fail' | 'skip';
  readonly detail: string;
}

/** What the account checks need from the offline part. */
export interface AccountNeeds {
  readonly stackName: string;
  readonly provisionedConcurrency: number;
  readonly rulesPerBus: readonly { readonly bus: string; readonly rules: number }[];
  readonly requiredBootstrapVersion?: number;
}

export interface AccountTarget {
  readonly region: string;
  /** Named profile (`--profile`); otherwise the SDK's default credential chain. */
  readonly profile?: string;
}

/** Lambda keeps this much of the account's concurrency unreserved: provisioned concurrency cannot take it. */
export const LAMBDA_UNRESERVED_MINIMUM = 100;
/** Service Quotas: Amazon EventBridge "Number of rules" (per event bus). */
export const EVENTBRIDGE_RULES_QUOTA = { serviceCode: 'events', quotaCode: 'L-244521F2' } as const;
export const CDK_TOOLKIT_STACK = 'CDKToolkit';

const isMissingModule = (error: unknown) =>
  (error as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' ||
  (error as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND';

const notChecked = (check: string, resource: string, pkg: string): PreflightRow => ({
  check,
  resource,
  verdict: 'skip',
  detail: `not checked: ${pkg} is not installed (npm install ${pkg})`,
});

/**
 * The account checks, each independent of the others: Lambda's unreserved concurrency covers the
 * stage's provisioned concurrency, the CDK bootstrap stack is there and recent enough, and the
 * rules-per-bus quota covers the stage's rules. Returns undefined (with the reason) when no
 * credentials can be found, so the caller says the account was not checked.
 */
export async function runAccountChecks(
  needs: AccountNeeds,
  target: AccountTarget,
): Promise<{ rows: PreflightRow[] } | { skipped: string }> {
  const config = {
    region: target.region,
    maxAttempts: 2,
    ...(target.profile && { profile: target.profile }),
  };
  const noCredentials = await credentialProblem(config);
  if (noCredentials) return { skipped: noCredentials };
  const rows = await Promise.all([
    lambdaConcurrency(needs, config),
    bootstrapStack(needs, config, target.region),
    ...needs.rulesPerBus.map((bus) => rulesQuota(bus, config)),
  ]);
  return { rows };
}

type ClientConfig = { region: string; maxAttempts: number; profile?: string };

/** Whether the SDK's credential chain finds anything: its first line when it does not. */
async function credentialProblem(config: ClientConfig): Promise<string | undefined> {
  let client: { config: { credentials: () => Promise<unknown> }; destroy(): void };
  try {
    const { LambdaClient } = await import('@aws-sdk/client-lambda');
    client = new LambdaClient(config);
  } catch (error) {
    if (isMissingModule(error)) return undefined; // Each check says its own client is missing.
    throw error;
  }
  try {
    await client.config.credentials();
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0] ?? 'no credentials';
  } finally {
    client.destroy();
  }
}

async function lambdaConcurrency(needs: AccountNeeds, config: ClientConfig): Promise<PreflightRow> {
  const check = 'lambda concurrency';
  const resource = `${needs.stackName} provisioned concurrency ${needs.provisionedConcurrency}`;
  let sdk: typeof import('@aws-sdk/client-lambda');
  try {
    sdk = await import('@aws-sdk/client-lambda');
  } catch (error) {
    if (isMissingModule(error)) return notChecked(check, resource, '@aws-sdk/client-lambda');
    throw error;
  }
  const client = new sdk.LambdaClient(config);
  try {
    const settings = await client.send(new sdk.GetAccountSettingsCommand({}));
    const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions;
    if (typeof unreserved !== 'number') {
      return {
        check,
        resource,
        verdict: 'fail',
        detail:
          'GetAccountSettings gave no AccountLimit.UnreservedConcurrentExecutions: cannot tell, so not counted as a pass',
      };
    }
    const room = unreserved - LAMBDA_UNRESERVED_MINIMUM;
    return room >= needs.provisionedConcurrency
      ? {
          check,
          resource,
          verdict: 'pass',
          detail: `unreserved concurrency ${unreserved} − ${LAMBDA_UNRESERVED_MINIMUM} kept unreserved = ${room} ≥ ${needs.provisionedConcurrency}`,
        }
      : {
          check,
          resource,
          verdict: 'fail',
          detail: `unreserved concurrency ${unreserved} − ${LAMBDA_UNRESERVED_MINIMUM} that Lambda keeps unreserved = ${room}, below the ${needs.provisionedConcurrency} the stage provisions: request a higher "Concurrent executions" quota (Service Quotas, lambda L-B99A9384) or provision less`,
        };
  } catch (error) {
    return { check, resource, verdict: 'fail', detail: `GetAccountSettings failed: ${describeError(error)}` };
  } finally {
    client.destroy();
  }
}

async function bootstrapStack(
  needs: AccountNeeds,
  config: ClientConfig,
  region: string,
): Promise<PreflightRow> {
  const check = 'cdk bootstrap';
  const resource = `${CDK_TOOLKIT_STACK} (${region})`;
  let sdk: typeof import('@aws-sdk/client-cloudformation');
  try {
    sdk = await import('@aws-sdk/client-cloudformation');
  } catch (error) {
    if (isMissingModule(error)) return notChecked(check, resource, '@aws-sdk/client-cloudformation');
    throw error;
  }
  const client = new sdk.CloudFormationClient(config);
  const bootstrap = `run \`npx cdk bootstrap\` for this account and ${region}`;
  try {
    const { Stacks = [] } = await client.send(
      new sdk.DescribeStacksCommand({ StackName: CDK_TOOLKIT_STACK }),
    );
    const stack = Stacks[0];
    if (!stack)
      return {
        check,
        resource,
        verdict: 'fail',
        detail: `DescribeStacks found no ${CDK_TOOLKIT_STACK}: ${bootstrap}`,
      };
    const status = String(stack.StackStatus ?? '');
    if (!/^(CREATE|UPDATE|IMPORT)_COMPLETE$|^UPDATE_ROLLBACK_COMPLETE$/.test(status)) {
      return {
        check,
        resource,
        verdict: 'fail',
        detail: `${CDK_TOOLKIT_STACK} is ${status || 'in no known state'}: ${bootstrap} again`,
      };
    }
    const version = Number(stack.Outputs?.find((o) => o.OutputKey === 'BootstrapVersion')?.OutputValue);
    const required = needs.requiredBootstrapVersion;
    if (required !== undefined && !(version >= required)) {
      return {
        check,
        resource,
        verdict: 'fail',
        detail: `bootstrap version ${Number.isFinite(version) ? version : '(no BootstrapVersion output)'}, the template requires ${required}: ${bootstrap} with this CDK`,
      };
    }
    return {
      check,
      resource,
      verdict: 'pass',
      detail: `${status}, bootstrap version ${Number.isFinite(version) ? version : 'unknown'}${required !== undefined ? ` ≥ ${required}` : ''}`,
    };
  } catch (error) {
    if ((error as Error).name === 'ValidationError' && /does not exist/.test((error as Error).message)) {
      return {
        check,
        resource,
        verdict: 'fail',
        detail: `${CDK_TOOLKIT_STACK} does not exist: ${bootstrap}`,
      };
    }
    return {
      check,
      resource,
      verdict: 'fail',
      detail: `DescribeStacks ${CDK_TOOLKIT_STACK} failed: ${describeError(error)}`,
    };
  } finally {
    client.destroy();
  }
}

async function rulesQuota(bus: { bus: string; rules: number }, config: ClientConfig): Promise<PreflightRow> {
  const check = 'quota: rules per bus';
  const resource = `${bus.bus} (${bus.rules} rules)`;
  let sdk: typeof import('@aws-sdk/client-service-quotas');
  try {
    sdk = await import('@aws-sdk/client-service-quotas');
  } catch (error) {
    if (isMissingModule(error)) return notChecked(check, resource, '@aws-sdk/client-service-quotas');
    throw error;
  }
  const client = new sdk.ServiceQuotasClient(config);
  const code = `${EVENTBRIDGE_RULES_QUOTA.serviceCode} ${EVENTBRIDGE_RULES_QUOTA.quotaCode}`;
  try {
    let value: number | undefined;
    let source = 'applied';
    try {
      value = (
        await client.send(
          new sdk.GetServiceQuotaCommand({
            ServiceCode: EVENTBRIDGE_RULES_QUOTA.serviceCode,
            QuotaCode: EVENTBRIDGE_RULES_QUOTA.quotaCode,
          }),
        )
      ).Quota?.Value;
    } catch (error) {
      // An account that never changed a quota has no applied value: the default applies.
      if ((error as Error).name !== 'NoSuchResourceException') throw error;
      source = 'default';
      value = (
        await client.send(
          new sdk.GetAWSDefaultServiceQuotaCommand({
            ServiceCode: EVENTBRIDGE_RULES_QUOTA.serviceCode,
            QuotaCode: EVENTBRIDGE_RULES_QUOTA.quotaCode,
          }),
        )
      ).Quota?.Value;
    }
    if (typeof value !== 'number') {
      return {
        check,
        resource,
        verdict: 'fail',
        detail: `Service Quotas gave no value for ${code}: cannot tell, so not counted as a pass`,
      };
    }
    return bus.rules <= value
      ? { check, resource, verdict: 'pass', detail: `${bus.rules} ≤ ${value} (${source} quota ${code})` }
      : {
          check,
          resource,
          verdict: 'fail',
          detail: `${bus.rules} rules, above the ${source} quota of ${value} (${code}): request an increase in Service Quotas or configure fewer tenants`,
        };
  } catch (error) {
    return {
      check,
      resource,
      verdict: 'fail',
      detail: `Service Quotas ${code} failed: ${describeError(error)}`,
    };
  } finally {
    client.destroy();
  }
}
