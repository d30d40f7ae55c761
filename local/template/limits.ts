import { InvalidInputTransformerError, validateInputTransformer } from '../eventbridge/transform.js';
import type { TemplateModel } from '../model.js';
import { TemplateError } from './errors.js';
import { type CfnTemplate, isRecord } from './template.js';

/**
 * AWS service limits a template can cross, checked when the local runtime loads it, so that a
 * template `cdk deploy` would fail on is refused here too. Each number is AWS's documented value
 * (default quotas where a quota is adjustable).
 */
export const AWS_LIMITS = {
  /** CloudFormation: resources per stack. */
  stackResources: 500,
  /** CloudFormation: template body in S3, "1 MB" (taken as 1,000,000 bytes: the stricter reading). */
  templateBytes: 1_000_000,
  /** Lambda: all environment variables of a function, 4 KB. */
  lambdaEnvironmentBytes: 4096,
  lambdaLayers: 5,
  /** EventBridge: rules per event bus (default quota). */
  rulesPerBus: 300,
  targetsPerRule: 5,
  sqsVisibilityTimeout: [0, 43_200],
  sqsMessageRetention: [60, 1_209_600],
  sqsDelaySeconds: [0, 900],
  sqsMaximumMessageSize: [1024, 1_048_576],
  sqsMaxReceiveCount: [1, 1000],
  /** Lambda SQS event source (standard queues). */
  esmBatchSize: [1, 10_000],
  esmBatchingWindowSeconds: [0, 300],
  esmMaximumConcurrency: [2, 1000],
} as const;

/** Lambda environment variable names: a letter, then letters, digits and underscores. */
const ENV_KEY = /^[a-zA-Z][a-zA-Z0-9_]+$/;

/**
 * The size Lambda measures: its error quotes the variables as one JSON object ("String
 * measured: {...}"), so keys, values and the JSON punctuation all count, in UTF-8 bytes.
 */
export function lambdaEnvironmentBytes(environment: Record<string, string>): number {
  return Buffer.byteLength(JSON.stringify(environment), 'utf8');
}

/** Throws one TemplateError listing every limit the template crosses, each with its resource. */
export function checkServiceLimits(template: CfnTemplate, model: TemplateModel): void {
  const problems = serviceLimitProblems(template, model);
  if (problems.length > 0) {
    throw new TemplateError(
      `Stack ${model.stackName} would be refused by AWS:\n  - ${problems.join('\n  - ')}\nFix the CDK app and synthesize again.`,
    );
  }
}

/** Every limit the template crosses, one sentence each naming the resource (empty when none). */
export function serviceLimitProblems(template: CfnTemplate, model: TemplateModel): string[] {
  const problems: string[] = [];
  const range = (where: string, what: string, value: number | undefined, [min, max]: readonly number[]) => {
    if (
      value !== undefined &&
      (!Number.isInteger(value) || value < (min as number) || value > (max as number))
    ) {
      problems.push(`${where}: ${what} is ${value}; AWS allows ${min} to ${max}.`);
    }
  };

  const resourceCount = Object.keys(template.Resources).length;
  if (resourceCount > AWS_LIMITS.stackResources) {
    problems.push(
      `Stack ${model.stackName} has ${resourceCount} resources; CloudFormation allows ${AWS_LIMITS.stackResources} per stack. Split the stack or configure fewer tenants.`,
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(template, undefined, 1), 'utf8');
  if (bytes > AWS_LIMITS.templateBytes) {
    problems.push(
      `Stack ${model.stackName}'s template is ${bytes} bytes; CloudFormation allows ${AWS_LIMITS.templateBytes}. Split the stack.`,
    );
  }

  for (const fn of model.functions) {
    const size = lambdaEnvironmentBytes(fn.environment);
    if (size > AWS_LIMITS.lambdaEnvironmentBytes) {
      problems.push(
        `${fn.logicalId}: its environment variables take ${size} bytes; Lambda allows ${AWS_LIMITS.lambdaEnvironmentBytes} (4 KB) in all. Move large values to a layer, a file or a table.`,
      );
    }
    for (const key of Object.keys(fn.environment)) {
      if (!ENV_KEY.test(key)) {
        problems.push(
          `${fn.logicalId}: environment variable name ${JSON.stringify(key)} is invalid; Lambda requires a letter followed by letters, digits or "_".`,
        );
      }
    }
    if (fn.layerDirs.length > AWS_LIMITS.lambdaLayers) {
      problems.push(
        `${fn.logicalId}: ${fn.layerDirs.length} layers; Lambda allows ${AWS_LIMITS.lambdaLayers} per function.`,
      );
    }
  }

  const rulesPerBus = new Map<string, number>();
  for (const rule of model.rules) {
    rulesPerBus.set(rule.eventBusName, (rulesPerBus.get(rule.eventBusName) ?? 0) + 1);
    if (rule.targets.length > AWS_LIMITS.targetsPerRule) {
      problems.push(
        `${rule.logicalId}: ${rule.targets.length} targets; EventBridge allows ${AWS_LIMITS.targetsPerRule} per rule.`,
      );
    }
    for (const target of rule.targets) {
      if (!target.inputTransformer) continue;
      try {
        validateInputTransformer(target.inputTransformer);
      } catch (error) {
        if (!(error instanceof InvalidInputTransformerError)) throw error;
        problems.push(`${rule.logicalId} target ${target.id}: ${error.message}.`);
      }
    }
  }
  for (const [bus, count] of rulesPerBus) {
    if (count > AWS_LIMITS.rulesPerBus) {
      problems.push(
        `Event bus ${bus} has ${count} rules; EventBridge allows ${AWS_LIMITS.rulesPerBus} per bus (the default quota). Request a quota increase, then raise this limit, or configure fewer tenants.`,
      );
    }
  }

  for (const queue of model.queues) {
    range(
      queue.logicalId,
      'VisibilityTimeout',
      queue.visibilityTimeoutSeconds,
      AWS_LIMITS.sqsVisibilityTimeout,
    );
    range(
      queue.logicalId,
      'MessageRetentionPeriod',
      queue.messageRetentionSeconds,
      AWS_LIMITS.sqsMessageRetention,
    );
    range(
      queue.logicalId,
      'RedrivePolicy.maxReceiveCount',
      queue.redrive?.maxReceiveCount,
      AWS_LIMITS.sqsMaxReceiveCount,
    );
    const props = template.Resources[queue.logicalId]?.Properties ?? {};
    range(queue.logicalId, 'DelaySeconds', literalNumber(props.DelaySeconds), AWS_LIMITS.sqsDelaySeconds);
    range(
      queue.logicalId,
      'MaximumMessageSize',
      literalNumber(props.MaximumMessageSize),
      AWS_LIMITS.sqsMaximumMessageSize,
    );
  }

  const queueByArn = new Map(model.queues.map((q) => [q.arn, q]));
  const functionById = new Map(model.functions.map((f) => [f.logicalId, f]));
  for (const esm of model.eventSourceMappings) {
    range(esm.logicalId, 'BatchSize', esm.batchSize, AWS_LIMITS.esmBatchSize);
    range(
      esm.logicalId,
      'MaximumBatchingWindowInSeconds',
      esm.maxBatchingWindowSeconds,
      AWS_LIMITS.esmBatchingWindowSeconds,
    );
    range(
      esm.logicalId,
      'ScalingConfig.MaximumConcurrency',
      esm.maxConcurrency,
      AWS_LIMITS.esmMaximumConcurrency,
    );
    if (esm.batchSize > 10 && esm.maxBatchingWindowSeconds < 1) {
      problems.push(
        `${esm.logicalId}: BatchSize ${esm.batchSize} is above 10, which Lambda allows only with MaximumBatchingWindowInSeconds of at least 1.`,
      );
    }
    const queue = queueByArn.get(esm.queueArn);
    const fn = functionById.get(esm.functionLogicalId);
    if (queue && fn && queue.visibilityTimeoutSeconds < fn.timeoutSeconds) {
      problems.push(
        `${esm.logicalId}: queue ${queue.logicalId} has a visibility timeout of ${queue.visibilityTimeoutSeconds} s, below the ${fn.timeoutSeconds} s timeout of ${fn.logicalId}; Lambda refuses such an event source (raise the visibility timeout).`,
      );
    }
  }

  return problems;
}

/** A property's number when the template states it literally (numbers may be strings in CFN). */
function literalNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  if (isRecord(value)) return undefined;
  return undefined;
}
