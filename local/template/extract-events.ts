import { validatePattern } from '../eventbridge/pattern.js';
import type { BusModel, InputTransformerModel, RuleModel, TargetModel } from '../model.js';
import type { ExtractContext } from './context.js';
import { at, TemplateError } from './errors.js';
import { isRecord } from './template.js';

export function extractBuses(ctx: ExtractContext): BusModel[] {
  return ctx.resources('AWS::Events::EventBus').map(([logicalId]) => ({
    logicalId,
    name: ctx.resolver.names.physicalName(logicalId),
    arn: ctx.resolver.names.arn(logicalId, logicalId),
  }));
}

/** The rule's pattern, parsed and checked as CloudFormation would when it creates the rule. */
function parsePattern(logicalId: string, value: unknown): unknown {
  let pattern = value;
  if (typeof value === 'string') {
    try {
      pattern = JSON.parse(value);
    } catch (error) {
      throw new TemplateError(
        `${at(logicalId, 'Properties.EventPattern')} is not valid JSON: ${(error as Error).message}`,
      );
    }
  }
  try {
    validatePattern(pattern);
  } catch (error) {
    throw new TemplateError(
      `${at(logicalId, 'Properties.EventPattern')} would be refused by EventBridge: ${(error as Error).message.replace(/\.?$/, '.')} ` +
        'Fix the rule in the CDK app and synthesize again.',
    );
  }
  return pattern;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw new TemplateError(`${where} must be a map of strings.`);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

function target(logicalId: string, raw: unknown, index: number): TargetModel {
  const where = at(logicalId, `Properties.Targets[${index}]`);
  if (!isRecord(raw) || typeof raw.Arn !== 'string' || typeof raw.Id !== 'string') {
    throw new TemplateError(`${where} needs an Id and an Arn.`);
  }
  let inputTransformer: InputTransformerModel | undefined;
  if (raw.InputTransformer !== undefined) {
    const t = raw.InputTransformer;
    if (!isRecord(t) || typeof t.InputTemplate !== 'string') {
      throw new TemplateError(`${where}.InputTransformer needs an InputTemplate string.`);
    }
    const inputPathsMap = stringMap(t.InputPathsMap, `${where}.InputTransformer.InputPathsMap`);
    inputTransformer = { inputTemplate: t.InputTemplate, ...(inputPathsMap && { inputPathsMap }) };
  }
  const dlq = isRecord(raw.DeadLetterConfig) ? raw.DeadLetterConfig.Arn : undefined;
  const retry = isRecord(raw.RetryPolicy) ? raw.RetryPolicy : undefined;
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  return {
    id: raw.Id,
    arn: raw.Arn,
    ...(typeof raw.Input === 'string' && { input: raw.Input }),
    ...(typeof raw.InputPath === 'string' && { inputPath: raw.InputPath }),
    ...(inputTransformer && { inputTransformer }),
    ...(typeof dlq === 'string' && { deadLetterArn: dlq }),
    ...(typeof raw.RoleArn === 'string' && { roleArn: raw.RoleArn }),
    ...(retry && {
      retryPolicy: {
        ...(retry.MaximumRetryAttempts !== undefined && {
          maximumRetryAttempts: num(retry.MaximumRetryAttempts),
        }),
        ...(retry.MaximumEventAgeInSeconds !== undefined && {
          maximumEventAgeInSeconds: num(retry.MaximumEventAgeInSeconds),
        }),
      },
    }),
  };
}

/** Rules with an event pattern; schedule-only rules are not matched against bus events. */
export function extractRules(ctx: ExtractContext): RuleModel[] {
  const rules: RuleModel[] = [];
  for (const [logicalId, resource] of ctx.resources('AWS::Events::Rule')) {
    const rawPattern = ctx.prop(logicalId, resource, 'EventPattern');
    if (rawPattern === undefined) continue;
    const name = ctx.resolver.names.physicalName(logicalId);
    const eventBusName = ctx.resolver.names.busNameOf(ctx.string(logicalId, resource, 'EventBusName'));
    const targets = ctx.prop(logicalId, resource, 'Targets') ?? [];
    if (!Array.isArray(targets))
      throw new TemplateError(`${at(logicalId, 'Properties.Targets')} must be a list.`);
    const state = ctx.string(logicalId, resource, 'State') ?? 'ENABLED';
    rules.push({
      logicalId,
      name,
      arn: ctx.resolver.names.ruleArn(name, eventBusName),
      eventBusName,
      eventPattern: parsePattern(logicalId, rawPattern),
      enabled: state !== 'DISABLED',
      targets: targets.map((t, i) => target(logicalId, t, i)),
    });
  }
  return rules;
}
