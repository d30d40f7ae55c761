// zod/mini: handlers ship this file.
import * as z from 'zod/mini';
import type { OrderingPolicy } from './ordering';

/**
 * What the entry tier enforces per tenant: the token-bucket quota and the ordering policy. The CDK
 * app writes the map into the handler's `TENANT_POLICIES` variable from the stage configuration.
 */
export interface TenantPolicy {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly ordering: OrderingPolicy;
  readonly maxHoldSeconds: number;
}

export const tenantPolicySchema = z.object({
  ratePerSecond: z.number().check(z.positive()),
  burst: z.int().check(z.minimum(1)),
  ordering: z.enum(['flag', 'hold']),
  maxHoldSeconds: z.int().check(z.minimum(1)),
});

export const tenantPoliciesSchema = z.record(z.string(), tenantPolicySchema);
export type TenantPolicies = Readonly<Record<string, TenantPolicy>>;

/** SQS caps a message delay at 15 minutes. */
export const MAX_DELAY_SECONDS = 900;

/** Delay for a record refused by the bucket: when a token is due, at least 1 s, at most SQS's cap. */
export function quotaDelaySeconds(retryAfterMs: number): number {
  return Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

/**
 * Next look at a held record: a quarter of the tenant's hold (at least 1 s), never past the hold's
 * end, so a gap that fills is noticed within maxHold/4 and one that does not costs about four
 * re-queues.
 */
export function holdDelaySeconds(policy: TenantPolicy, heldForMs: number): number {
  const remaining = Math.ceil((policy.maxHoldSeconds * 1000 - heldForMs) / 1000);
  const step = Math.max(1, Math.ceil(policy.maxHoldSeconds / 4));
  return Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.min(step, remaining)));
}
