import type { EventSourceMappingModel, FunctionModel } from '../model.js';
import type { ExtractContext } from './context.js';
import { at, TemplateError } from './errors.js';
import type { CfnResource } from './template.js';
import { isRecord } from './template.js';

export const DEFAULT_TIMEOUT_SECONDS = 3;
export const DEFAULT_MEMORY_MIB = 128;
export const DEFAULT_SQS_BATCH_SIZE = 10;

/**
 * Functions that only serve CloudFormation custom resources (CDK's auto-delete-objects provider and
 * the like): nothing invokes them at run time, so the local runtime leaves them out.
 */
function customResourceProviders(ctx: ExtractContext): Set<string> {
  const ids = new Set<string>();
  for (const resource of Object.values(ctx.template.Resources)) {
    if (!resource.Type.startsWith('Custom::') && resource.Type !== 'AWS::CloudFormation::CustomResource')
      continue;
    const token = resource.Properties?.ServiceToken;
    const getAtt = isRecord(token) ? token['Fn::GetAtt'] : undefined;
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') ids.add(getAtt[0]);
  }
  return ids;
}

function environment(ctx: ExtractContext, logicalId: string, resource: CfnResource): Record<string, string> {
  const variables = ctx.prop(logicalId, resource, 'Environment.Variables');
  if (variables === undefined) return {};
  if (!isRecord(variables)) {
    throw new TemplateError(`${at(logicalId, 'Properties.Environment.Variables')} must be a map.`);
  }
  return Object.fromEntries(
    Object.entries(variables).map(([k, v]) => [
      k,
      typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v),
    ]),
  );
}

function layerDirs(ctx: ExtractContext, logicalId: string, resource: CfnResource): string[] {
  const raw = resource.Properties?.Layers;
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new TemplateError(`${at(logicalId, 'Properties.Layers')} must be a list.`);
  const layers = ctx.resources('AWS::Lambda::LayerVersion');
  return raw.map((entry, i) => {
    const ref = isRecord(entry) ? entry.Ref : undefined;
    const direct = typeof ref === 'string' ? layers.find(([id]) => id === ref) : undefined;
    if (direct) return ctx.assetDir(direct[0], direct[1]);
    const arn = ctx.resolver.resolveString(entry, logicalId, `Properties.Layers[${i}]`);
    const byArn = layers.find(([id]) => ctx.resolver.names.arn(id, id) === arn);
    if (byArn) return ctx.assetDir(byArn[0], byArn[1]);
    throw new TemplateError(
      `${at(logicalId, `Properties.Layers[${i}]`)} is ${arn}, a layer outside this stack; the local runtime only runs layers ` +
        'whose contents are in cdk.out. Add the layer to the stack as a LayerVersion asset.',
    );
  });
}

/** Provisioned execution environments per function name, summed over the function's aliases. */
function provisionedConcurrency(ctx: ExtractContext): Map<string, number> {
  const byFunction = new Map<string, number>();
  for (const [aliasId, alias] of ctx.resources('AWS::Lambda::Alias')) {
    const count = ctx.number(
      aliasId,
      alias,
      'ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions',
      0,
    );
    if (count <= 0) continue;
    const fn = parseFunctionReference(ctx.string(aliasId, alias, 'FunctionName') ?? '').name;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + count);
  }
  return byFunction;
}

/** The execution role's ARN, when the function's Role is one of the template's roles. */
function roleOf(ctx: ExtractContext, logicalId: string, resource: CfnResource): { roleArn?: string } {
  const role = ctx.string(logicalId, resource, 'Role');
  return role?.startsWith('arn:') ? { roleArn: role } : {};
}

export function extractFunctions(ctx: ExtractContext): FunctionModel[] {
  const providers = customResourceProviders(ctx);
  const provisioned = provisionedConcurrency(ctx);
  return ctx
    .resources('AWS::Lambda::Function')
    .filter(([logicalId]) => !providers.has(logicalId))
    .map(([logicalId, resource]) => ({
      logicalId,
      name: ctx.resolver.names.physicalName(logicalId),
      arn: ctx.resolver.names.arn(logicalId, logicalId),
      assetDir: ctx.assetDir(logicalId, resource),
      handler: ctx.string(logicalId, resource, 'Handler') ?? 'index.handler',
      runtime: ctx.string(logicalId, resource, 'Runtime') ?? 'nodejs22.x',
      environment: environment(ctx, logicalId, resource),
      timeoutSeconds: ctx.number(logicalId, resource, 'Timeout', DEFAULT_TIMEOUT_SECONDS),
      memoryMiB: ctx.number(logicalId, resource, 'MemorySize', DEFAULT_MEMORY_MIB),
      ...roleOf(ctx, logicalId, resource),
      layerDirs: layerDirs(ctx, logicalId, resource),
      provisionedConcurrency: provisioned.get(ctx.resolver.names.physicalName(logicalId)) ?? 0,
    }));
}

/**
 * Splits an ESM FunctionName (name, `name:qualifier`, a function or alias ARN, or a partial ARN)
 * into the function name and the qualifier.
 */
export function parseFunctionReference(value: string): { name: string; qualifier?: string } {
  const parts = value.split(':');
  let rest = parts;
  if (parts[0] === 'arn') rest = parts.slice(6);
  else if (parts.length >= 3 && parts[1] === 'function') rest = parts.slice(2);
  const [name, qualifier] = rest;
  return { name: name ?? value, ...(qualifier && { qualifier }) };
}

export function extractEventSourceMappings(
  ctx: ExtractContext,
  functions: readonly FunctionModel[],
): EventSourceMappingModel[] {
  const aliases = new Map<string, string>();
  for (const [aliasId, alias] of ctx.resources('AWS::Lambda::Alias')) {
    const fn = parseFunctionReference(ctx.string(aliasId, alias, 'FunctionName') ?? '').name;
    aliases.set(`${fn}:${ctx.resolver.names.physicalName(aliasId)}`, fn);
  }
  const out: EventSourceMappingModel[] = [];
  for (const [logicalId, resource] of ctx.resources('AWS::Lambda::EventSourceMapping')) {
    const queueArn = ctx.string(logicalId, resource, 'EventSourceArn');
    if (!queueArn?.startsWith('arn:aws:sqs:')) continue;
    const reference = ctx.string(logicalId, resource, 'FunctionName') ?? '';
    const { name, qualifier } = parseFunctionReference(reference);
    const fn = functions.find((f) => f.name === name);
    if (!fn) {
      throw new TemplateError(
        `${at(logicalId, 'Properties.FunctionName')} is ${reference}, which is not a function of this stack.`,
      );
    }
    const aliasName =
      qualifier && qualifier !== '$LATEST' && !/^\d+$/.test(qualifier) ? qualifier : undefined;
    if (aliasName && !aliases.has(`${name}:${aliasName}`)) {
      throw new TemplateError(
        `${at(logicalId, 'Properties.FunctionName')} names alias ${aliasName}, which this stack does not define.`,
      );
    }
    const types = ctx.prop(logicalId, resource, 'FunctionResponseTypes');
    const maxConcurrency = ctx.number(logicalId, resource, 'ScalingConfig.MaximumConcurrency');
    out.push({
      logicalId,
      queueArn,
      functionLogicalId: fn.logicalId,
      ...(aliasName && { aliasName }),
      batchSize: ctx.number(logicalId, resource, 'BatchSize', DEFAULT_SQS_BATCH_SIZE),
      maxBatchingWindowSeconds: ctx.number(logicalId, resource, 'MaximumBatchingWindowInSeconds', 0),
      ...(maxConcurrency !== undefined && { maxConcurrency }),
      reportBatchItemFailures: Array.isArray(types) && types.includes('ReportBatchItemFailures'),
      enabled: ctx.boolean(logicalId, resource, 'Enabled', true),
    });
  }
  return out;
}
