import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { FunctionModel } from '../model.js';

/**
 * The process environment a Lambda execution environment gives a function, rebuilt for a local
 * worker: the template's variables (with `/opt/...` values pointed at the layer folders), the
 * variables Lambda reserves, and the caller's extras (endpoints, credentials), in that order of
 * precedence (later wins). Nothing is inherited from the developer's shell except `PATH`, so a
 * handler never picks up a real AWS profile by accident.
 */
export interface EnvironmentOptions {
  /** Region for `AWS_REGION`; default: the function ARN's region. */
  readonly region?: string;
  /** Endpoint variables, credentials and anything else the caller wants the handler to see. */
  readonly extra?: Record<string, string>;
  /** Lambda's log format variable (`Text` unless the caller knows the template says `JSON`). */
  readonly logFormat?: 'Text' | 'JSON';
}

export function regionOfArn(arn: string): string | undefined {
  const region = arn.split(':')[3];
  return region ? region : undefined;
}

/** `nodejs22.x` -> 22; undefined for anything else. */
export function nodeMajorOf(runtime: string): number | undefined {
  const match = /^nodejs(\d+)\.x$/.exec(runtime);
  return match ? Number(match[1]) : undefined;
}

/**
 * Lambda extracts layers into /opt in order, a later layer overwriting an earlier one's files, so
 * the effective file for an /opt path comes from the last layer that has it. Returns the layer
 * dirs in that lookup order.
 */
function lookupOrder(layerDirs: readonly string[]): string[] {
  return [...layerDirs].reverse();
}

/**
 * The folders Lambda's `NODE_PATH` names under /opt, mapped to the layer folders that exist:
 * `/opt/nodejs/node<major>/node_modules` before `/opt/nodejs/node_modules`, like the runtime.
 */
export function layerNodePath(layerDirs: readonly string[], runtime: string): string[] {
  const major = nodeMajorOf(runtime);
  const layers = lookupOrder(layerDirs);
  const candidates = [
    ...(major === undefined ? [] : layers.map((dir) => join(dir, 'nodejs', `node${major}`, 'node_modules'))),
    ...layers.map((dir) => join(dir, 'nodejs', 'node_modules')),
  ];
  return candidates.filter((dir) => existsSync(dir));
}

/**
 * Rewrites a value naming a file under /opt to the layer folder holding it, e.g. `/opt/models`
 * -> `<models layer>/models`. A value no layer provides is returned unchanged (the handler then
 * fails with an error naming the /opt path, which points at the missing layer).
 */
export function remapOptPath(value: string, layerDirs: readonly string[]): string {
  if (value !== '/opt' && !value.startsWith('/opt/')) return value;
  const rest = value.slice('/opt'.length);
  for (const dir of lookupOrder(layerDirs)) {
    const candidate = join(dir, rest);
    if (existsSync(candidate)) return candidate;
  }
  return value;
}

export function lambdaEnvironment(
  fn: FunctionModel,
  options: EnvironmentOptions = {},
): Record<string, string> {
  const region = options.region ?? regionOfArn(fn.arn) ?? 'us-east-1';
  const fromTemplate: Record<string, string> = {};
  for (const [key, value] of Object.entries(fn.environment)) {
    fromTemplate[key] = remapOptPath(value, fn.layerDirs);
  }
  const nodePath = [...layerNodePath(fn.layerDirs, fn.runtime), fn.assetDir];
  const reserved: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    NODE_PATH: nodePath.join(delimiter),
    LAMBDA_TASK_ROOT: fn.assetDir,
    _HANDLER: fn.handler,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMiB),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    AWS_LAMBDA_LOG_FORMAT: options.logFormat ?? 'Text',
  };
  return { ...fromTemplate, ...reserved, ...(options.extra ?? {}) };
}

/**
 * The flags of Lambda's Node.js runtime (its /var/runtime/bootstrap) that change what a handler
 * sees: `global.gc`, the HTTP header limit, and an old-space heap limit of the function's memory
 * less a tenth, so a handler runs out of heap locally where it would in Lambda. (Without it V8
 * sizes the heap from the machine's memory. The smaller limit also makes V8 collect more often:
 * in the local pipeline, tier-1 workers used about 12% more CPU and the pipeline's peak memory
 * was about 130 MiB lower, measured side by side.)
 *
 * Lambda also gives the young generation that tenth (two semi-spaces of memory / 20). That only
 * tunes garbage collection and is left out: on this project's 2 shared cores it cost the tier-1
 * workers a further 5% of CPU and 230 MiB of memory, measured side by side.
 */
export function lambdaNodeArgs(memoryMiB: number): string[] {
  return [
    '--expose-gc',
    '--max-http-header-size=81920',
    `--max-old-space-size=${memoryMiB - Math.floor(memoryMiB / 10)}`,
  ];
}
