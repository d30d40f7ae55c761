import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import { type TenantPolicies, tenantPoliciesSchema } from '../core/tenant-policy';

/** Where the tenant-config layer puts the policies (Lambda extracts layers into /opt). */
export const TENANT_POLICIES_FILE = '/opt/inferbus/tenant-policies.json';

/** A handler cannot start: the message names the variable and what it should hold. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

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
  /** The SDK's endpoint variables: queue URLs are built on them when set (the local runtime). */
  AWS_ENDPOINT_URL_SQS: z.optional(z.url()),
  AWS_ENDPOINT_URL: z.optional(z.url()),
  MAX_RECEIVE_COUNT: z._default(count(1, 1000), 3),
  ORT_INTRA_OP_THREADS: z._default(count(1, 64), 1),
  /** DynamoDB table of tenant quota buckets and stream sequence state; unset: no quota, no ordering. */
  TENANT_STATE_TABLE: z.optional(z.string().check(z.minLength(1))),
  /**
   * JSON file of tenant id → quota and ordering policy (from the stage configuration), shipped in
   * the tenant-config layer so the environment does not grow with the number of tenants.
   */
  TENANT_POLICIES_FILE: z._default(z.string().check(z.minLength(1)), TENANT_POLICIES_FILE),
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

/** Reads and validates the tenant policies file; the error names the file and what it should hold. */
export function readTenantPolicies(path: string): TenantPolicies {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError(
      `TENANT_POLICIES_FILE=${path} cannot be read (${(error as Error).message}); ` +
        'the tier-1 function needs the tenant-config layer that the CDK app attaches to it.',
    );
  }
  try {
    return tenantPoliciesSchema.parse(JSON.parse(text));
  } catch {
    throw new ConfigurationError(
      `TENANT_POLICIES_FILE=${path} must hold a JSON object of tenant id → ` +
        '{ratePerSecond, burst, ordering: "flag"|"hold", maxHoldSeconds}; re-synthesize the stack.',
    );
  }
}
