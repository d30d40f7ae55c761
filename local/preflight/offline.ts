import { join, resolve } from 'node:path';
import { stageResourceNames } from '../../functions/core/stage-names';
import { type AccessRequest, UnmappedOperationError } from '../iam/actions';
import { type Caller, LocalAuthorizer } from '../iam/authorizer';
import { OBSERVED_CALLS_FILE, ObservedCallsError, readObservedCalls } from '../iam/observed-log';
import type { TemplateModel } from '../model';
import {
  type CfnTemplate,
  ensureSynthesized,
  loadTemplateModel,
  readCloudAssembly,
  readTemplate,
  selectStack,
  TemplateError,
} from '../template';
import { serviceLimitProblems } from '../template/limits';
import { bindCall, declarationOf } from './bind-calls';

export type Verdict = 'pass' | 'fail' | 'skip';

/** One line of preflight's report. */
export interface PreflightRow {
  readonly check: string;
  readonly resource: string;
  readonly verdict: Verdict;
  readonly detail: string;
}

export interface OfflinePreflightOptions {
  readonly projectRoot: string;
  readonly cdkOutDir: string;
  readonly stage: string;
  /** An observed-calls file named by the user: it must exist. */
  readonly observedPath?: string;
  /** Where `inferbus local` keeps its state (its observed calls are read when observedPath is not given). */
  readonly stateDir: string;
  readonly log: (line: string) => void;
}

export interface OfflinePreflightReport {
  readonly stackName: string;
  /** The region the stack is synthesized for (`us-east-1` when it names none). */
  readonly region: string;
  readonly rows: readonly PreflightRow[];
  /** Provisioned concurrency the stage asks for, over all its functions. */
  readonly provisionedConcurrency: number;
  /** Rules on each bus the stack creates rules on. */
  readonly rulesPerBus: readonly { readonly bus: string; readonly rules: number }[];
  /** The CDK bootstrap version the template's CheckBootstrapVersion rule asks for. */
  readonly requiredBootstrapVersion?: number;
}

/** A problem with the command's input (exit 2), not with the stack. */
export class PreflightUsageError extends Error {
  override readonly name = 'PreflightUsageError';
}

/**
 * What can be checked without an account: the stage synthesizes, the template stays within AWS's
 * limits, the local IAM can read every role, and every AWS call each function makes (declared
 * beside its handler, and observed by `inferbus local`) is allowed by its role and the resource's
 * policy. Lists every problem rather than stopping at the first.
 */
export async function runOfflinePreflight(options: OfflinePreflightOptions): Promise<OfflinePreflightReport> {
  const projectRoot = resolve(options.projectRoot);
  const cdkOutDir = resolve(projectRoot, options.cdkOutDir);
  const { stackName } = stageResourceNames(options.stage);
  const observedPath = options.observedPath ? resolve(options.observedPath) : undefined;
  // Read before synthesizing: a bad --observed file is a usage error, found in a second.
  const observed = readObserved(observedPath, resolve(options.stateDir, OBSERVED_CALLS_FILE));

  await ensureSynthesized({ projectRoot, cdkOutDir, stage: options.stage, stackName, log: options.log });
  const stack = selectStack(readCloudAssembly(cdkOutDir), stackName);
  const rows: PreflightRow[] = [];
  let model: TemplateModel;
  try {
    model = loadTemplateModel(cdkOutDir, stackName, {
      endpoint: 'http://127.0.0.1:4566',
      checkLimits: false,
    });
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    rows.push({ check: 'template', resource: stack.templatePath, verdict: 'fail', detail: error.message });
    return { stackName, region: stack.region, rows, provisionedConcurrency: 0, rulesPerBus: [] };
  }

  const template = readTemplate(stack.templatePath);
  rows.push(...limitRows(serviceLimitProblems(template, model), stackName));
  const requiredBootstrapVersion = bootstrapVersionRequired(template);
  const iam = new LocalAuthorizer(model, { startupChecks: 'collect' });
  for (const problem of iam.startupProblems)
    rows.push({ check: 'iam setup', resource: stackName, verdict: 'fail', detail: problem });
  const declared = declaredCallRows(model, iam);
  rows.push(...declared.rows);
  rows.push(...observedCallRows(observed, model, iam, declared.keys));

  const rulesPerBus = new Map<string, number>();
  for (const rule of model.rules)
    rulesPerBus.set(rule.eventBusName, (rulesPerBus.get(rule.eventBusName) ?? 0) + 1);
  return {
    stackName,
    region: stack.region,
    rows,
    provisionedConcurrency: model.functions.reduce((n, f) => n + (f.provisionedConcurrency ?? 0), 0),
    rulesPerBus: [...rulesPerBus].map(([bus, rules]) => ({ bus, rules })),
    ...(requiredBootstrapVersion !== undefined && { requiredBootstrapVersion }),
  };
}

/**
 * The version CDK's `CheckBootstrapVersion` rule requires: it refuses the versions it lists
 * (`Fn::Not [Fn::Contains [["1",…,"5"], Ref BootstrapVersion]]`), so one more than the largest.
 */
function bootstrapVersionRequired(template: CfnTemplate): number | undefined {
  const rules = (template as { Rules?: unknown }).Rules;
  const text = JSON.stringify((rules as Record<string, unknown> | undefined)?.CheckBootstrapVersion ?? null);
  const listed = /"Fn::Contains":\[\[((?:"\d+",?)+)\]/.exec(text)?.[1];
  if (!listed) return undefined;
  return Math.max(...listed.split(',').map((v) => Number(JSON.parse(v)))) + 1;
}

function limitRows(problems: readonly string[], stackName: string): PreflightRow[] {
  if (problems.length === 0) {
    return [
      {
        check: 'limits',
        resource: stackName,
        verdict: 'pass',
        detail:
          'resources, template size, Lambda environments and layers, rules and targets, input transformers, SQS and event source settings are within AWS limits',
      },
    ];
  }
  return problems.map((problem) => {
    // Each problem starts with the resource it is about (`Tier1Function…: …`, `Stack … has …`).
    const match = /^([A-Za-z0-9]+): (.*)$/s.exec(problem);
    return {
      check: 'limits',
      resource: match?.[1] ?? stackName,
      verdict: 'fail' as const,
      detail: match?.[2] ?? problem,
    };
  });
}

const requestKey = (principal: string, action: string, resource: string, context?: Record<string, unknown>) =>
  `${principal}\n${action}\n${resource}\n${JSON.stringify(context ?? {})}`;

/** The verdict of a set of requests made with one function's role: the first denial fails it. */
function decideAll(
  iam: LocalAuthorizer,
  caller: Caller,
  requests: readonly AccessRequest[],
): { allowed: true } | { allowed: false; message: string } {
  for (const request of requests) {
    let denial: { message: string } | undefined;
    try {
      denial = iam.decide(caller, request);
    } catch (error) {
      return { allowed: false, message: `cannot be decided: ${(error as Error).message}` };
    }
    if (denial) return { allowed: false, message: denial.message };
  }
  return { allowed: true };
}

function declaredCallRows(model: TemplateModel, iam: LocalAuthorizer) {
  const rows: PreflightRow[] = [];
  const keys = new Set<string>();
  for (const fn of model.functions) {
    const principal = iam.principalOf(fn.logicalId);
    const declaration = declarationOf(fn);
    if (!declaration) {
      rows.push({
        check: 'declared calls',
        resource: fn.logicalId,
        verdict: 'skip',
        detail: 'not an inference tier handler (no INFERBUS_TIER): only its observed calls are checked',
      });
      continue;
    }
    if (!principal) continue; // Its missing role is an "iam setup" failure already.
    const caller: Caller = { kind: 'principal', principal };
    for (const call of declaration.calls) {
      if (call.onlyWhenEnv && !fn.environment[call.onlyWhenEnv]) continue;
      const what = `${fn.logicalId} ${call.service}:${call.operation}`;
      let binding: ReturnType<typeof bindCall>;
      try {
        binding = bindCall(call, fn, model);
      } catch (error) {
        if (!(error instanceof UnmappedOperationError)) throw error;
        rows.push({ check: what, resource: fn.logicalId, verdict: 'fail', detail: error.message });
        continue;
      }
      if ('problem' in binding) {
        rows.push({
          check: what,
          resource: fn.logicalId,
          verdict: 'fail',
          detail: `${declaration.handler} ${call.purpose}, but ${binding.problem}`,
        });
        continue;
      }
      for (const bound of binding.bound) {
        for (const r of bound.requests) keys.add(requestKey(fn.logicalId, r.action, r.resource, r.context));
        const decision = decideAll(iam, caller, bound.requests);
        rows.push({
          check: what,
          resource: bound.resource,
          verdict: decision.allowed ? 'pass' : 'fail',
          detail: decision.allowed
            ? `allowed (${[...new Set(bound.requests.map((r) => r.action))].join(', ')}); it ${call.purpose}`
            : `would be denied: ${decision.message}. The handler ${call.purpose} (declared in ${declaration.handler.replace(/handler\.ts$/, 'calls.ts')}): grant the role ${bound.requests[0]?.action} on ${bound.resource} in the CDK app`,
        });
      }
    }
  }
  return { rows, keys };
}

type Observed = { file: ReturnType<typeof readObservedCalls>; path: string; named: boolean };

function readObserved(named: string | undefined, fallback: string): Observed {
  const path = named ?? fallback;
  try {
    const file = readObservedCalls(path);
    if (!file && named) {
      throw new PreflightUsageError(
        `--observed ${named}: no such file; run \`inferbus local\` (or npm start) first, or leave --observed out`,
      );
    }
    return { file, path, named: Boolean(named) };
  } catch (error) {
    if (error instanceof ObservedCallsError) throw new PreflightUsageError(error.message);
    throw error;
  }
}

function observedCallRows(
  observed: Observed,
  model: TemplateModel,
  iam: LocalAuthorizer,
  declared: ReadonlySet<string>,
): PreflightRow[] {
  const { file, path } = observed;
  if (!file) {
    return [
      {
        check: 'observed calls',
        resource: path,
        verdict: 'skip',
        detail: `none recorded: run \`inferbus local --stage ${model.stackName.replace(/^inferbus-/, '')}\` (or npm start) to record the calls the functions make, then preflight again`,
      },
    ];
  }
  if (file.stackName !== model.stackName) {
    return [
      {
        check: 'observed calls',
        resource: path,
        verdict: 'skip',
        detail: `recorded for stack ${file.stackName}, not ${model.stackName}: not checked (pass --observed with a file of this stage)`,
      },
    ];
  }
  const rows: PreflightRow[] = [];
  const groups = new Map<string, typeof file.calls>();
  for (const call of file.calls) {
    if (declared.has(requestKey(call.principal, call.action, call.resource, call.context))) continue;
    const key = `${call.principal}\n${call.action}\n${call.resource}`;
    groups.set(key, [...(groups.get(key) ?? []), call]);
  }
  for (const calls of groups.values()) {
    const first = calls[0] as (typeof calls)[number];
    const principal = iam.principalOf(first.principal);
    const check = `${first.principal} ${first.action} (observed)`;
    if (!principal) {
      rows.push({
        check,
        resource: first.resource,
        verdict: 'skip',
        detail: `${first.principal} is not a function (or delivery stream) of this template any more`,
      });
      continue;
    }
    const decision = decideAll(
      iam,
      { kind: 'principal', principal },
      calls.map((c) => ({
        action: c.action,
        resource: c.resource,
        ...(c.context && { context: c.context }),
      })),
    );
    rows.push({
      check,
      resource: first.resource,
      verdict: decision.allowed ? 'pass' : 'fail',
      detail: decision.allowed
        ? `allowed; inferbus local saw this call (${join('<state-dir>', OBSERVED_CALLS_FILE)})`
        : `would be denied: ${decision.message}. inferbus local saw the function make this call: grant it in the CDK app, or declare why it no longer does`,
    });
  }
  if (rows.length === 0) {
    rows.push({
      check: 'observed calls',
      resource: path,
      verdict: 'pass',
      detail: `${file.calls.length} recorded call(s), all among the declared calls above`,
    });
  }
  return rows;
}
