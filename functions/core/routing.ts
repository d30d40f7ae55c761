import { DetailType, RESULT_SOURCE, tenantSource } from './events';

/**
 * Which InferenceRequested events reach a (task, tenant), and which reach none. The entry-tier
 * rules and the "unrouted" rule are built here from one list of tenants and tasks, so the unrouted
 * patterns are the exact complement of the entry patterns; the CLI explains an unrouted event with
 * the same logic.
 *
 * A request names its task in `detail.task`; one without it belongs to the stage's first task
 * (`exists: false`, which EventBridge documents as matching a field that is absent). A `task` of
 * another type (null, a number) or an unknown name is nobody's: the unrouted rule takes it.
 *
 * Patterns are EventBridge JSON (`detail-type`, not CDK's `detailType`): the CDK passes them
 * through unchanged, and the local pattern engine and tests read them as they are.
 */
export type EventPatternJson = Record<string, unknown>;

/** EventBridge's default event pattern size quota (characters; adjustable up to 4,096). */
export const MAX_EVENT_PATTERN_CHARS = 2048;

/** Where a stage's requests can go: its task ids, the first taking requests that name none. */
export interface RequestRoutes {
  readonly tenants: readonly string[];
  /** In the stage's order: the first is the default task. */
  readonly tasks: readonly string[];
}

/** The `detail.task` values that select `task`: its name, and no task at all for the first task. */
function taskValues(task: string, tasks: readonly string[]): unknown[] {
  if (!tasks.includes(task)) throw new Error(`routing: task ${task} is not one of ${tasks.join(', ')}`);
  return tasks[0] === task ? [task, { exists: false }] : [task];
}

/** The entry-tier rule of one task and tenant: the tenant's requests for that task, under its own source. */
export function tenantRequestPattern(
  tenant: string,
  task: string,
  tasks: readonly string[],
): EventPatternJson {
  return {
    source: [tenantSource(tenant)],
    'detail-type': [DetailType.InferenceRequested],
    detail: { tenant: [tenant], task: taskValues(task, tasks) },
  };
}

/** What an entry-tier rule's pattern routes, read back from a template (inverse of tenantRequestPattern). */
export interface EntryRoute {
  readonly tenant: string;
  readonly task: string;
  /** This task takes requests that name no task (the stage's first task). */
  readonly isDefault: boolean;
}

export function entryRouteOf(pattern: unknown): EntryRoute | undefined {
  const p = pattern as { detail?: { tenant?: unknown; task?: unknown } } | null;
  const tenant = Array.isArray(p?.detail?.tenant) ? p.detail.tenant[0] : undefined;
  const taskValues = Array.isArray(p?.detail?.task) ? p.detail.task : [];
  const task = taskValues[0];
  if (typeof tenant !== 'string' || typeof task !== 'string') return undefined;
  const isDefault = taskValues.length === 2;
  // Rebuilt from the same function, so only a pattern exactly like the stack's counts.
  const rebuilt = tenantRequestPattern(tenant, task, isDefault ? [task] : ['', task]);
  return sameJson(pattern, rebuilt) ? { tenant, task, isDefault } : undefined;
}

/** Whether two JSON values are equal, object keys in any order. */
function sameJson(a: unknown, b: unknown): boolean {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.entries(value)
              .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
              .map(([k, v]) => [k, canonical(v)]),
          )
        : value;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/**
 * The rule of tier `tier` (2 or more) of one task and tenant: the escalations tier `tier - 1` of
 * that task published. Handlers put the task and their tier in every result's payload
 * (`payload.task`, `payload.tier`), so tier 2 never sees tier 3's escalations nor another task's.
 */
export function escalationPattern(tenant: string, task: string, tier: number): EventPatternJson {
  if (!Number.isInteger(tier) || tier < 2)
    throw new Error(`routing: escalations go to tier 2 or later, not ${tier}`);
  return {
    source: [RESULT_SOURCE],
    'detail-type': [DetailType.EscalationRequested],
    detail: { tenant: [tenant], payload: { task: [task], tier: [tier - 1] } },
  };
}

/**
 * Patterns that together match every InferenceRequested event that no `tenantRequestPattern` of
 * `routes` matches, each at most `maxChars` long. Their `$or` branches are disjoint (split by
 * `source`, then by `detail.tenant`), so an event matches at most one pattern and is delivered once
 * however they are cut:
 * - a source that is no configured tenant's source;
 * - tenant T's source with a `detail.tenant` other than T, or none (`anything-but` alone does
 *   not match a missing field in aws/event-ruler, so `exists: false` is listed beside it);
 * - tenant T's source and tenant, with a `detail.task` that is no configured task (a missing
 *   task is the first task's, so no `exists: false` here; `anything-but` takes null and numbers).
 */
export function unroutedRequestPatterns(
  routes: RequestRoutes,
  maxChars = MAX_EVENT_PATTERN_CHARS,
): EventPatternJson[] {
  const { tenants, tasks } = routes;
  if (tenants.length === 0) throw new Error('unroutedRequestPatterns: at least one tenant is needed');
  if (tasks.length === 0) throw new Error('unroutedRequestPatterns: at least one task is needed');
  const branches: EventPatternJson[] = [
    { source: [{ 'anything-but': tenants.map(tenantSource) }] },
    ...tenants.flatMap((tenant) => [
      {
        source: [tenantSource(tenant)],
        detail: { tenant: [{ 'anything-but': [tenant] }, { exists: false }] },
      },
      {
        source: [tenantSource(tenant)],
        detail: { tenant: [tenant], task: [{ 'anything-but': [...tasks] }] },
      },
    ]),
  ];
  const patterns: EventPatternJson[] = [];
  let chunk: EventPatternJson[] = [];
  for (const branch of branches) {
    const candidate = [...chunk, branch];
    if (chunk.length > 0 && JSON.stringify(requestPattern(candidate)).length > maxChars) {
      patterns.push(requestPattern(chunk));
      chunk = [branch];
    } else chunk = candidate;
  }
  patterns.push(requestPattern(chunk));
  for (const pattern of patterns) {
    const size = JSON.stringify(pattern).length;
    if (size > maxChars) {
      throw new Error(
        `an unrouted-request pattern is ${size} characters, over EventBridge's ${maxChars}: ` +
          'a tenant id or the tenant list is too long for one pattern branch',
      );
    }
  }
  return patterns;
}

/** InferenceRequested events matching any of `branches` (`$or` needs two or more). */
function requestPattern(branches: readonly EventPatternJson[]): EventPatternJson {
  const base = { 'detail-type': [DetailType.InferenceRequested] };
  return branches.length === 1 ? { ...base, ...branches[0] } : { ...base, $or: [...branches] };
}

export type UnroutedCode = 'MissingTenant' | 'SourceTenantMismatch' | 'NoTenantConfiguration' | 'UnknownTask';
export interface Unrouted {
  readonly code: UnroutedCode;
  readonly message: string;
}

/**
 * Why an InferenceRequested event with this `source`, `detail.tenant` and `detail.task` reaches no
 * entry rule, or undefined when it is routed. Without `configured` (a DLQ reader does not know the
 * stage's tenants and tasks, and an event in the unrouted queue was, by construction, unrouted when
 * it arrived), a well-formed event is taken to name an unconfigured tenant or task.
 */
export function unroutedReason(
  source: unknown,
  tenant: unknown,
  task: unknown,
  configured?: Partial<RequestRoutes>,
): Unrouted | undefined {
  if (typeof tenant !== 'string' || tenant.length === 0) {
    return { code: 'MissingTenant', message: 'detail.tenant is missing or not a string' };
  }
  if (source !== tenantSource(tenant)) {
    return {
      code: 'SourceTenantMismatch',
      message: `source ${JSON.stringify(source)} does not match detail.tenant ${JSON.stringify(tenant)} (expected ${tenantSource(tenant)})`,
    };
  }
  if (task !== undefined && (typeof task !== 'string' || !(configured?.tasks ?? [task]).includes(task))) {
    return {
      code: 'UnknownTask',
      message:
        `detail.task ${JSON.stringify(task)} is no task of this stage` +
        (configured?.tasks
          ? ` (tasks: ${configured.tasks.join(', ')}; leave it out for ${configured.tasks[0]})`
          : ''),
    };
  }
  const tenants = configured?.tenants;
  if (tenants?.includes(tenant)) return undefined;
  return {
    code: 'NoTenantConfiguration',
    message:
      `no tenant configuration for ${tenant}` +
      (tenants
        ? ` (configured: ${tenants.join(', ') || 'none'})`
        : task === undefined
          ? ''
          : ` or no task ${JSON.stringify(task)}`),
  };
}
