import { DetailType, tenantSource } from './events';

/**
 * Which InferenceRequested events reach a tenant, and which reach none. The tier-1 rules and the
 * "unrouted" rule are built here from one list of tenants, so the unrouted patterns are the exact
 * complement of the tenant patterns; the CLI explains an unrouted event with the same logic.
 *
 * Patterns are EventBridge JSON (`detail-type`, not CDK's `detailType`): the CDK passes them
 * through unchanged, and the local pattern engine and tests read them as they are.
 */
export type EventPatternJson = Record<string, unknown>;

/** EventBridge's default event pattern size quota (characters; adjustable up to 4,096). */
export const MAX_EVENT_PATTERN_CHARS = 2048;

/** The tier-1 rule of one tenant: its requests, published under its own source. */
export function tenantRequestPattern(tenant: string): EventPatternJson {
  return {
    source: [tenantSource(tenant)],
    'detail-type': [DetailType.InferenceRequested],
    detail: { tenant: [tenant] },
  };
}

/**
 * Patterns that together match every InferenceRequested event that no `tenantRequestPattern` of
 * `tenants` matches, each at most `maxChars` long. Their `$or` branches are disjoint (split by
 * `source`), so an event matches at most one pattern and is delivered once however they are cut:
 * - a source that is no configured tenant's source;
 * - tenant T's source with a `detail.tenant` other than T, or none (`anything-but` alone does
 *   not match a missing field in aws/event-ruler, so `exists: false` is listed beside it).
 */
export function unroutedRequestPatterns(
  tenants: readonly string[],
  maxChars = MAX_EVENT_PATTERN_CHARS,
): EventPatternJson[] {
  if (tenants.length === 0) throw new Error('unroutedRequestPatterns: at least one tenant is needed');
  const branches: EventPatternJson[] = [
    { source: [{ 'anything-but': tenants.map(tenantSource) }] },
    ...tenants.map((tenant) => ({
      source: [tenantSource(tenant)],
      detail: { tenant: [{ 'anything-but': [tenant] }, { exists: false }] },
    })),
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

export type UnroutedCode = 'MissingTenant' | 'SourceTenantMismatch' | 'NoTenantConfiguration';
export interface Unrouted {
  readonly code: UnroutedCode;
  readonly message: string;
}

/**
 * Why an InferenceRequested event with this `source` and `detail.tenant` reaches no tenant rule,
 * or undefined when it is routed. Without `configured` (a DLQ reader does not know the stage's
 * tenants, and an event in the unrouted queue was, by construction, unrouted when it arrived), a
 * well-formed event is taken to name an unconfigured tenant.
 */
export function unroutedReason(
  source: unknown,
  tenant: unknown,
  configured?: readonly string[],
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
  if (configured?.includes(tenant)) return undefined;
  return {
    code: 'NoTenantConfiguration',
    message:
      `no tenant configuration for ${tenant}` +
      (configured ? ` (configured: ${configured.join(', ') || 'none'})` : ''),
  };
}
