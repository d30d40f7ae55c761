import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LambdaArchitecture } from '../functions/core/pricing';
import { entryRouteOf } from '../functions/core/routing';

/** The project's root folder (where models/ and cdk.out/ live). */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** How one inference tier of a stage is deployed, as its synthesized template says. */
export interface DeployedTier {
  /** INFERBUS_TASK: the task this tier serves. */
  readonly task: string;
  readonly tier: number;
  readonly memoryMiB: number;
  readonly architecture: LambdaArchitecture;
  /** A number when the stage overrides the manifest's threshold (CASCADE_THRESHOLD); absent for `manifest`. */
  readonly threshold?: number;
  /** MODEL_NAME: the manifest entry this tier runs. */
  readonly modelName?: string;
  /** INFERBUS_LAST_TIER: whether this tier always answers. */
  readonly lastTier: boolean;
  /** Largest SQS event source batch size feeding this tier's function. */
  readonly batchSize: number;
  /** Provisioned concurrency of the `live` alias (0 when off). */
  readonly provisionedConcurrency: number;
}

export interface StageDeployment {
  readonly templatePath: string;
  /**
   * Per task (INFERBUS_TASK), in template order (the stage config's order, so the first is the task
   * of requests that name none), its tiers by 1-based position.
   */
  readonly tasks: ReadonlyMap<string, ReadonlyMap<number, DeployedTier>>;
  /** Firehose buffering interval of the archive, seconds. */
  readonly archiveBufferingIntervalSeconds?: number;
  /** Tenants whose InferenceRequested events a rule routes (`tenantRequestPattern`), sorted. */
  readonly routedTenants: readonly string[];
  /** Tasks with entry rules, the default task (requests naming none) first, then sorted. */
  readonly routedTasks: readonly string[];
}

/**
 * Reads each task's tiers' memory, architecture, threshold and model from the synthesized CloudFormation
 * template of the stage (`cdk.out/inferbus-<stage>.template.json`, in the current folder or the
 * project's), the same file `cdk deploy` deploys. Undefined when there is none.
 */
export function readStageDeployment(stackName: string, cdkOut?: string): StageDeployment | undefined {
  const candidates = cdkOut ? [resolve(cdkOut)] : [resolve('cdk.out'), join(PACKAGE_ROOT, 'cdk.out')];
  const templatePath = candidates
    .map((dir) => join(dir, `${stackName}.template.json`))
    .find((path) => existsSync(path));
  if (!templatePath) return undefined;
  let template: { Resources?: Record<string, { Type?: string; Properties?: Record<string, unknown> }> };
  try {
    template = JSON.parse(readFileSync(templatePath, 'utf8'));
  } catch {
    return undefined;
  }
  const resources = Object.entries(template.Resources ?? {});
  const routes = entryRoutes(resources.map(([, r]) => r));
  const refersTo = (value: unknown, logicalId: string) =>
    JSON.stringify(value ?? null).includes(`"${logicalId}"`);
  const tasks = new Map<string, Map<number, DeployedTier>>();
  for (const [logicalId, resource] of resources) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const p = resource.Properties ?? {};
    const vars = ((p.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {}) as Record<
      string,
      unknown
    >;
    const tier = Number(vars.INFERBUS_TIER);
    const task = vars.INFERBUS_TASK;
    // A function without INFERBUS_TASK is no inference tier of this build (or a template from before tasks).
    if (!Number.isInteger(tier) || tier < 1 || typeof task !== 'string') continue;
    const threshold = Number(vars.CASCADE_THRESHOLD);
    // Aliases point at a version of this function; mappings point at the alias.
    const aliases = resources.filter(
      ([, r]) => r.Type === 'AWS::Lambda::Alias' && refersTo(r.Properties?.FunctionName, logicalId),
    );
    const batchSizes = resources
      .filter(
        ([, r]) =>
          r.Type === 'AWS::Lambda::EventSourceMapping' &&
          (refersTo(r.Properties?.FunctionName, logicalId) ||
            aliases.some(([aliasId]) => refersTo(r.Properties?.FunctionName, aliasId))),
      )
      .map(([, r]) => Number(r.Properties?.BatchSize ?? 10));
    const provisioned = aliases.map(([, r]) =>
      Number(
        (
          r.Properties?.ProvisionedConcurrencyConfig as
            | { ProvisionedConcurrentExecutions?: number }
            | undefined
        )?.ProvisionedConcurrentExecutions ?? 0,
      ),
    );
    const tiers = tasks.get(task) ?? new Map<number, DeployedTier>();
    tasks.set(task, tiers);
    tiers.set(tier, {
      task,
      tier,
      lastTier: vars.INFERBUS_LAST_TIER === 'true',
      memoryMiB: typeof p.MemorySize === 'number' ? p.MemorySize : 128,
      architecture: (p.Architectures as string[] | undefined)?.[0] === 'arm64' ? 'arm64' : 'x86_64',
      ...(Number.isFinite(threshold) ? { threshold } : {}),
      ...(typeof vars.MODEL_NAME === 'string' ? { modelName: vars.MODEL_NAME } : {}),
      batchSize: batchSizes.length > 0 ? Math.max(...batchSizes) : 10,
      provisionedConcurrency: Math.max(0, ...provisioned),
    });
  }
  const stream = resources.find(([, r]) => r.Type === 'AWS::KinesisFirehose::DeliveryStream')?.[1];
  const buffering = (
    stream?.Properties?.ExtendedS3DestinationConfiguration as
      | { BufferingHints?: { IntervalInSeconds?: number } }
      | undefined
  )?.BufferingHints?.IntervalInSeconds;
  return {
    templatePath,
    tasks,
    ...routes,
    ...(buffering !== undefined ? { archiveBufferingIntervalSeconds: buffering } : {}),
  };
}

/** Tenants and tasks that have a rule with exactly their `tenantRequestPattern` (the entry-tier rules). */
function entryRoutes(resources: readonly { Type?: string; Properties?: Record<string, unknown> }[]): {
  routedTenants: string[];
  routedTasks: string[];
} {
  const tenants = new Set<string>();
  const tasks = new Set<string>();
  let defaultTask: string | undefined;
  for (const resource of resources) {
    if (resource.Type !== 'AWS::Events::Rule') continue;
    const route = entryRouteOf(resource.Properties?.EventPattern);
    if (!route) continue;
    tenants.add(route.tenant);
    tasks.add(route.task);
    if (route.isDefault) defaultTask = route.task;
  }
  const others = [...tasks].filter((task) => task !== defaultTask).sort();
  return { routedTenants: [...tenants].sort(), routedTasks: defaultTask ? [defaultTask, ...others] : others };
}
