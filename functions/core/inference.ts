import * as z from 'zod/mini';
import { MAX_FEATURE_COUNT } from './task/inputs';

/**
 * What an inference request carries in its envelope `payload`, and what results carry. A request
 * holds exactly one input: text inline, a claim check pointing at S3 when the text is too large for
 * an EventBridge entry, or a vector of numbers (`features`). Which one a task takes, and which
 * labels it has, the handler checks against its task (functions/core/task/).
 */
export const claimCheckSchema = z.object({
  bucket: z.string().check(z.minLength(3), z.maxLength(63)),
  key: z.string().check(z.minLength(1), z.maxLength(1024)),
  bytes: z.optional(z.int().check(z.nonnegative())),
  sha256: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/))),
});
export type ClaimCheck = z.infer<typeof claimCheckSchema>;

/**
 * How a result stands in its (tenant, stream) order, set by the entry tier and carried through
 * escalation: `gap` the numbers missing when it was processed (flag policy, or a hold that ran
 * out after `heldMs`), `late` it arrived after its gap had been given up, `reused` its number
 * had been taken by another event before (`earlierId`, null when no longer known).
 */
export const orderingMarkSchema = z.object({
  gap: z.optional(z.tuple([z.int(), z.int()])),
  late: z.optional(z.boolean()),
  heldMs: z.optional(z.number()),
  reused: z.optional(z.object({ seq: z.int(), earlierId: z.nullable(z.string()) })),
});
export type OrderingMark = z.infer<typeof orderingMarkSchema>;

export const inferenceRequestSchema = z
  .object({
    text: z.optional(z.string()),
    claim: z.optional(claimCheckSchema),
    features: z.optional(z.array(z.number()).check(z.maxLength(MAX_FEATURE_COUNT))),
    /** Ground truth, when the producer knows it (evaluation traffic): one of the task's labels. */
    expectedLabel: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
    /** Set on escalations: the id of the original request, which results must point at. */
    sourceEventId: z.optional(z.string().check(z.minLength(1))),
    /** Set on escalations of results that were out of order. */
    ordering: z.optional(orderingMarkSchema),
  })
  .check(
    z.refine((p) => [p.text, p.claim, p.features].filter((input) => input !== undefined).length === 1, {
      message: 'payload needs exactly one of "text", "claim" or "features"',
    }),
  );
export type InferenceRequest = z.infer<typeof inferenceRequestSchema>;

/** Payload of InferenceCompleted and EscalationRequested. */
export interface InferenceResultPayload {
  readonly sourceEventId: string;
  readonly task: string;
  readonly tier: number;
  /** The manifest name of the model that answered. */
  readonly model: string;
  readonly label: string;
  /** Probability of `label`, i.e. the model's confidence in its answer. */
  readonly score: number;
  /** The probability of every label of the task, in the task's label order. */
  readonly probabilities: Readonly<Record<string, number>>;
  /** `<model>@<sha256 prefix>`: exactly which bytes produced the answer. */
  readonly modelVersion: string;
  readonly latencyMs: number;
  readonly duplicate: boolean;
  readonly expectedLabel?: string;
  readonly ordering?: OrderingMark;
}

/** Payload of InferenceFailed: why a request went to a DLQ. */
export interface InferenceFailurePayload {
  readonly sourceEventId: string;
  readonly task: string;
  readonly tier: number;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly attempts: number;
}

export type ResultKind = 'completed' | 'escalated' | 'failed';

/**
 * Result envelope ids are derived from the tenant and the source id, so a retried publish is
 * recognisably the same result, and two tenants' requests that share an envelope id (ids are the
 * producers' own) never share a result id: `<tenant>:<sourceId>:t<tier>:<kind>`. Tenant ids hold
 * no `:`, so the first `:` ends the tenant.
 */
export const resultEventId = (tenant: string, sourceId: string, tier: number, kind: ResultKind) =>
  `${tenant}:${sourceId}:t${tier}:${kind}`;

/** The parts of a result id, or undefined when `id` is not one. */
export function parseResultEventId(
  id: string,
): { tenant: string; sourceId: string; tier: number; kind: ResultKind } | undefined {
  const match = /^([a-z][a-z0-9-]{0,31}):(.+):t(\d+):(completed|escalated|failed)$/.exec(id);
  if (!match) return undefined;
  const [, tenant, sourceId, tier, kind] = match as unknown as [string, string, string, string, ResultKind];
  return { tenant, sourceId, tier: Number(tier), kind };
}

/** Requests' envelope ids are at most this long, so the result ids derived from them fit an envelope. */
export const MAX_REQUEST_ID_CHARS = 128;

/**
 * Where a tenant's claim-checked payloads live in the claim bucket. A handler reads a claim only
 * under the prefix of the envelope's tenant, so no producer can point its request at another
 * tenant's text.
 */
export const claimKeyPrefix = (tenant: string) => `claims/${tenant}/`;
export const claimKeyFor = (tenant: string, id: string) =>
  `${claimKeyPrefix(tenant)}${encodeURIComponent(id)}`;
