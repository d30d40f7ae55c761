import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import type { Manifest } from '../core/manifest';
import { isValidThreshold, minThreshold } from '../core/task/decide';
import { taskIdSchema } from '../core/task/id';
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
  /** The task this function serves; its files are in `<MODELS_DIR>/<INFERBUS_TASK>/`. */
  INFERBUS_TASK: taskIdSchema,
  /** 1-based position in the task's tiers (1: the entry tier). */
  INFERBUS_TIER: count(1, 9),
  /** Whether this is the task's last tier, which answers every request and never escalates. */
  INFERBUS_LAST_TIER: z.pipe(
    z.enum(['true', 'false']),
    z.transform((v) => v === 'true'),
  ),
  MODELS_DIR: z._default(z.string().check(z.minLength(1)), '/opt/models'),
  /** Which manifest model this function serves (the manifest entry's `name`). */
  MODEL_NAME: z.string().check(z.minLength(1)),
  /**
   * `manifest`: the threshold the task's manifest calibrated for this model at this tier; or a
   * number, which must lie in [1/K, 1] for the task's K labels (checked when the manifest loads).
   */
  CASCADE_THRESHOLD: z._default(
    z.union([z.literal('manifest'), z.coerce.number().check(z.gt(0), z.maximum(1))]),
    'manifest',
  ),
  /**
   * The archive's Firehose delivery stream: the handler writes the archive rows of what travels in
   * packs there (the archive rules leave packs out), so without it packed traffic is not archived.
   */
  ARCHIVE_STREAM_NAME: z.string().check(z.minLength(1)),
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

/**
 * The threshold this tier escalates below, for the task of `manifest`. A number is checked against
 * the task's K labels; `manifest` takes the threshold of the calibrated cascade that runs
 * MODEL_NAME at position INFERBUS_TIER (the last tier needs none). The error says what to set.
 */
export function cascadeThreshold(env: HandlerEnv, manifest: Manifest): number {
  const { labels, id: task } = manifest.task;
  const k = labels.length;
  const range = `[1/${k}, 1] = [${minThreshold(k).toFixed(4)}, 1]`;
  if (env.CASCADE_THRESHOLD !== 'manifest') {
    if (!isValidThreshold(env.CASCADE_THRESHOLD, k)) {
      throw new ConfigurationError(
        `CASCADE_THRESHOLD=${env.CASCADE_THRESHOLD} is outside ${range} for task ${task}'s ${k} labels: a confidence is never below 1/${k}; set a number in that range or "manifest"`,
      );
    }
    return env.CASCADE_THRESHOLD;
  }
  // The last tier never escalates: its threshold is never read.
  if (env.INFERBUS_LAST_TIER) return 1;
  const position = env.INFERBUS_TIER - 1;
  const found = new Set(
    manifest.cascades
      .filter((c) => c.tiers[position] === env.MODEL_NAME && position < c.tiers.length - 1)
      .map((c) => c.thresholds[position] as number),
  );
  if (found.size !== 1) {
    const why =
      found.size === 0
        ? `no cascade in its manifest runs model ${env.MODEL_NAME} at tier ${env.INFERBUS_TIER} before another tier`
        : `its manifest's cascades give model ${env.MODEL_NAME} at tier ${env.INFERBUS_TIER} different thresholds (${[...found].join(', ')})`;
    throw new ConfigurationError(
      `CASCADE_THRESHOLD=manifest, but for task ${task} ${why}; set CASCADE_THRESHOLD to a number in ${range} or calibrate the cascade (inferbus models calibrate)`,
    );
  }
  return [...found][0] as number;
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
