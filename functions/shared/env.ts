import * as z from 'zod/mini';
import { tenantPoliciesSchema } from '../core/tenant-policy';

/** A handler cannot start: the message names the variable and what it should hold. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

const stringRecord = z.record(z.string(), z.string());
const jsonRecord = z.pipe(
  z.string(),
  z.transform((text, ctx) => {
    try {
      return stringRecord.parse(JSON.parse(text));
    } catch {
      ctx.issues.push({ code: 'custom', message: 'must be a JSON object of strings', input: text });
      return z.NEVER;
    }
  }),
);
const policiesJson = z.pipe(
  z.string(),
  z.transform((text, ctx) => {
    try {
      return tenantPoliciesSchema.parse(JSON.parse(text));
    } catch {
      ctx.issues.push({
        code: 'custom',
        message:
          'must be a JSON object of tenant id → {ratePerSecond, burst, ordering: "flag"|"hold", maxHoldSeconds}',
        input: text,
      });
      return z.NEVER;
    }
  }),
);
const count = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));

export const handlerEnvSchema = z.object({
  EVENT_BUS_NAME: z.string().check(z.minLength(1)),
  INFERBUS_TIER: count(1, 9),
  MODELS_DIR: z._default(z.string().check(z.minLength(1)), '/opt/models'),
  /** Which manifest model this function serves. @default tier<INFERBUS_TIER> */
  MODEL_NAME: z.optional(z.string().check(z.minLength(1))),
  CASCADE_THRESHOLD: z._default(
    z.union([z.literal('manifest'), z.coerce.number().check(z.minimum(0.5), z.maximum(1))]),
    'manifest',
  ),
  /** Queue ARN → URL of that queue's DLQ. */
  DLQ_URLS: z._default(jsonRecord, {}),
  MAX_RECEIVE_COUNT: z._default(count(1, 1000), 3),
  ORT_INTRA_OP_THREADS: z._default(count(1, 64), 1),
  /** DynamoDB table of tenant quota buckets and stream sequence state; unset: no quota, no ordering. */
  TENANT_STATE_TABLE: z.optional(z.string().check(z.minLength(1))),
  /** Tenant id → quota and ordering policy (from the stage configuration). */
  TENANT_POLICIES: z._default(policiesJson, {}),
  /** Work queue ARN → URL: where over-quota and held records are re-queued with a delay. */
  WORK_QUEUE_URLS: z._default(jsonRecord, {}),
});
export type HandlerEnv = z.infer<typeof handlerEnvSchema>;

export function readHandlerEnv(env: NodeJS.ProcessEnv = process.env): HandlerEnv {
  const parsed = handlerEnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    return env[name] === undefined
      ? `${name} is not set`
      : `${name}=${JSON.stringify(env[name])}: ${issue.message}`;
  });
  throw new ConfigurationError(`The handler's environment is invalid: ${problems.join('; ')}`);
}
