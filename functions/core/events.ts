/**
 * Event names shared by the CDK rules, the handlers, the producer and the local runtime.
 * Changing a value here changes routing everywhere at once; there is no second copy.
 */
export const EVENT_SOURCE_ROOT = 'inferbus';

/** Every producer's `source` is `inferbus.<tenant>`; results are published as `inferbus.results`. */
export const tenantSource = (tenant: string): string => `${EVENT_SOURCE_ROOT}.${tenant}`;
export const RESULT_SOURCE = `${EVENT_SOURCE_ROOT}.results`;

export const DetailType = {
  InferenceRequested: 'InferenceRequested',
  EscalationRequested: 'EscalationRequested',
  InferenceCompleted: 'InferenceCompleted',
  InferenceFailed: 'InferenceFailed',
  SequenceGap: 'SequenceGap',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

/** What producers put on the bus: requests, nothing else. */
export const PRODUCER_DETAIL_TYPES: readonly DetailType[] = [DetailType.InferenceRequested];

/**
 * What only the inference handlers publish (always under RESULT_SOURCE). The bus policy denies
 * these to every other principal, and the archive's queries trust them only from RESULT_SOURCE.
 */
export const HANDLER_DETAIL_TYPES: readonly DetailType[] = Object.values(DetailType).filter(
  (type) => !PRODUCER_DETAIL_TYPES.includes(type),
);

/**
 * Tenant ids that inferbus keeps for itself: `results` (its source `inferbus.results` would be the
 * handlers' own), `inferbus` and `aws` (confusable sources), and `unknown` (the tenant failure
 * notices name when a record's tenant cannot be read).
 */
export const RESERVED_TENANT_IDS = ['results', 'inferbus', 'aws', 'unknown'] as const;

/** Whether a tenant id may be configured: not reserved, and its source is not the handlers'. */
export const isReservedTenantId = (tenant: string): boolean =>
  (RESERVED_TENANT_IDS as readonly string[]).includes(tenant) || tenantSource(tenant) === RESULT_SOURCE;
