import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../../functions/core/envelope';
import { isReservedTenantId, RESERVED_TENANT_IDS } from '../../functions/core/events';
import { MODEL_NAME_PATTERN, TASK_ID_PATTERN } from '../../functions/core/manifest';

/**
 * The typed, validated configuration of one stage. Every number carries its unit in its name;
 * ranges are the limits AWS enforces (or tighter ones we choose), so a bad value fails synth
 * instead of failing `cdk deploy` halfway through.
 */

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** How long `hold` waits for a gap to fill unless a tenant says otherwise. */
export const DEFAULT_MAX_HOLD_SECONDS = 60;
/** A held event waits at most this long; SQS keeps work messages for 4 days, so this is far inside it. */
export const MAX_HOLD_SECONDS_LIMIT = 3600;

export const tenantOrderingSchema = z.object({
  policy: z
    .enum(['flag', 'hold'], { error: 'must be "flag" (process and mark gaps) or "hold" (wait for gaps)' })
    .default('flag'),
  maxHoldSeconds: z
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1 second')
    .max(
      MAX_HOLD_SECONDS_LIMIT,
      `must be at most ${MAX_HOLD_SECONDS_LIMIT} seconds (an hour); a longer gap is better reported than waited for`,
    )
    .default(DEFAULT_MAX_HOLD_SECONDS),
});

/** An account id or an IAM root/role/user ARN. */
const principalSchema = z
  .string()
  .regex(
    /^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+))$/,
    'must be a 12-digit account id or an IAM root, role or user ARN',
  );

export const tenantConfigSchema = z.object({
  id: z
    .string()
    .regex(
      TENANT_ID_PATTERN,
      'must be 1-32 characters: lowercase letters, digits and "-", starting with a letter',
    )
    .refine((id) => !isReservedTenantId(id), {
      message: `is reserved; choose an id other than ${RESERVED_TENANT_IDS.join(', ')}`,
    }),
  /** Share of each tier's event-source maximum concurrency this tenant's queue may use (0, 1]. */
  maxConcurrencyShare: z.number().gt(0).max(1),
  /**
   * Token-bucket quota: sustained events per second and the burst allowed above it. Events over
   * quota are delayed (re-queued with a delay), never dropped.
   */
  quota: z.object({ ratePerSecond: z.number().positive().max(100_000), burst: int(1, 1_000_000) }),
  /**
   * What the entry tier does with an event whose sequence number is ahead of a gap in its
   * (tenant, stream): `flag` processes it at once and marks its result with the gap; `hold`
   * re-queues it until the gap fills, for at most `maxHoldSeconds`, then processes it and
   * publishes a SequenceGap event. Duplicates (a number already processed) are skipped either way.
   */
  ordering: tenantOrderingSchema.default({ policy: 'flag', maxHoldSeconds: DEFAULT_MAX_HOLD_SECONDS }),
  /**
   * AWS principals (account ids or IAM role ARNs) allowed to publish as this tenant. They may put
   * events only with `source` = `inferbus.<id>`. Empty: only this account publishes.
   */
  publisherPrincipals: z.array(principalSchema).default([]),
  /**
   * AWS principals allowed to inspect this tenant's dead-letter queues (receive, change visibility,
   * read attributes). Every other tenant's principals are denied all access to them. Deleting and
   * redriving stay with this account's operators. Empty: only this account reads them.
   */
  dlqReaderPrincipals: z.array(principalSchema).default([]),
});

/** The most tiers one task's cascade may have (a manifest cascade lists at most nine). */
export const MAX_TIERS_PER_TASK = 9;

export const tierConfigSchema = z
  .object({
    /** The manifest model this tier runs (`models/<task>/manifest.json` → `models[].name`). */
    model: z
      .string()
      .regex(
        MODEL_NAME_PATTERN,
        'must be a model name of the task\'s manifest (lowercase letters, digits and "-")',
      ),
    /**
     * The confidence at or above which this tier's answer is final; below it the request goes to
     * the next tier. `manifest` uses the threshold calibrated for this cascade
     * (`models/<task>/manifest.json` → `cascades`). Every tier but the last has one; it must lie in
     * [1/K, 1] for the task's K labels, which is checked against the manifest at synth.
     */
    threshold: z.union([z.literal('manifest'), z.number().min(0).max(1)]).optional(),
    memoryMiB: int(128, 10_240),
    timeoutSeconds: int(1, 900),
    provisionedConcurrency: z.object({
      /** 0 turns provisioned concurrency (and its autoscaling) off for this tier. */
      min: int(0, 1000),
      max: int(1, 1000),
      /** Target tracking on ProvisionedConcurrencyUtilization. */
      targetUtilization: z.number().min(0.1).max(0.9),
    }),
    /** SQS event source: records per invocation. Above 10 needs a batching window (an AWS rule). */
    batchSize: int(1, 10_000),
    maxBatchingWindowSeconds: int(0, 300),
    /** Event source maximum concurrency for the whole tier (split across tenants by share). */
    maxConcurrency: int(2, 1000),
    /** Receives before a message moves to the queue's DLQ. */
    maxReceiveCount: int(1, 1000),
  })
  .superRefine((tier, ctx) => {
    if (tier.provisionedConcurrency.min > tier.provisionedConcurrency.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['provisionedConcurrency', 'min'],
        message: `must be <= provisionedConcurrency.max (${tier.provisionedConcurrency.max})`,
      });
    }
    if (tier.batchSize > 10 && tier.maxBatchingWindowSeconds < 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxBatchingWindowSeconds'],
        message: `must be >= 1 when batchSize is above 10 (batchSize is ${tier.batchSize})`,
      });
    }
  });

export const taskConfigSchema = z
  .object({
    id: z
      .string()
      .regex(TASK_ID_PATTERN, 'must be 1-12 lowercase letters and digits, starting with a letter'),
    /** Cheapest first: a request enters the first tier and escalates down the list. */
    tiers: z
      .array(tierConfigSchema)
      .min(1, 'must list at least one tier')
      .max(MAX_TIERS_PER_TASK, `must list at most ${MAX_TIERS_PER_TASK} tiers`),
  })
  .superRefine((task, ctx) => {
    task.tiers.forEach((tier, index) => {
      const last = index === task.tiers.length - 1;
      if (last && tier.threshold !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tiers', index, 'threshold'],
          message: 'the last tier answers every request it gets; remove its threshold',
        });
      }
    });
  });

export const stageConfigSchema = z
  .object({
    stage: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,15}$/, 'must be 1-16 characters: lowercase letters, digits and "-"'),
    /** Leave `account` out to deploy to the account of the current credentials. */
    env: z.object({
      account: z
        .string()
        .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
        .optional(),
      region: z
        .string()
        .regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, 'must be an AWS region such as eu-west-1'),
    }),
    architecture: z.enum(['arm64', 'x86_64']).default('arm64'),
    tenants: z.array(tenantConfigSchema).min(1, 'must list at least one tenant'),
    /**
     * The tasks this stage serves, each with its own tiers. A request names its task in
     * `detail.task`; a request without one belongs to the first task listed here.
     */
    tasks: z.array(taskConfigSchema).min(1, 'must list at least one task'),
    archive: z.object({
      /** Firehose buffering; Parquet conversion requires at least 64 MiB. */
      bufferingIntervalSeconds: int(0, 900),
      bufferingSizeMiB: int(64, 128),
      /** Days before archived Parquet objects expire; 0 keeps them forever. */
      retentionDays: int(0, 36_500),
      /** Days the EventBridge archive keeps events for replay; 0 keeps them forever. */
      replayRetentionDays: int(0, 36_500),
      /** Athena per-query data-scanned limit (the workgroup rejects larger scans). */
      athenaBytesScannedCutoffPerQuery: int(10 * 1024 * 1024, 10 * 1024 ** 4),
      /** Days before Athena query results expire. */
      athenaResultsRetentionDays: int(1, 3650),
    }),
    alarms: z.object({
      email: z.email().optional(),
      /** Alarm when a work queue's oldest message is older than this. */
      maxQueueAgeSeconds: int(60, 1_209_600),
    }),
    logRetentionDays: z.union([
      z.literal(1),
      z.literal(3),
      z.literal(7),
      z.literal(14),
      z.literal(30),
      z.literal(90),
      z.literal(365),
    ]),
    /** `destroy` removes buckets and logs with the stack (dev); `retain` keeps them (prod). */
    removalPolicy: z.enum(['destroy', 'retain']),
  })
  .superRefine((config, ctx) => {
    const tasks = new Set<string>();
    config.tasks.forEach((task, index) => {
      if (tasks.has(task.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tasks', index, 'id'],
          message: `duplicates task "${task.id}"`,
        });
      }
      tasks.add(task.id);
    });
    const seen = new Set<string>();
    config.tenants.forEach((tenant, index) => {
      if (seen.has(tenant.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', index, 'id'],
          message: `duplicates tenant "${tenant.id}"`,
        });
      }
      seen.add(tenant.id);
    });
    // Isolation is enforced per principal: one that belongs to two tenants would be both allowed
    // and denied the same resources. A whole account (id or :root) counts as every principal in it.
    const owner = new Map<string, string>();
    const principalsOf = (tenant: (typeof config.tenants)[number]) =>
      (['publisherPrincipals', 'dlqReaderPrincipals'] as const).flatMap((field) =>
        tenant[field].map((principal, at) => ({ principal, path: [field, at] })),
      );
    for (const tenant of config.tenants) {
      for (const { principal } of principalsOf(tenant)) {
        const account = accountLevel(principal);
        if (account) owner.set(account, owner.get(account) ?? tenant.id);
        else owner.set(principal, owner.get(principal) ?? tenant.id);
      }
    }
    config.tenants.forEach((tenant, index) => {
      for (const { principal, path } of principalsOf(tenant)) {
        const keys = [principal, accountLevel(principal), /:iam::(\d{12}):/.exec(principal)?.[1]];
        const other = keys.map((k) => (k ? owner.get(k) : undefined)).find((t) => t && t !== tenant.id);
        if (other) {
          ctx.addIssue({
            code: 'custom',
            path: ['tenants', index, ...path],
            message: `${principal} overlaps a principal of tenant "${other}" (the same principal or account); a principal may belong to one tenant only`,
          });
        }
      }
    });
  });

/** The account id when `principal` stands for a whole account (an id or its :root ARN). */
function accountLevel(principal: string): string | undefined {
  return /^\d{12}$/.test(principal) ? principal : /^arn:[^:]+:iam::(\d{12}):root$/.exec(principal)?.[1];
}

export type StageConfig = z.infer<typeof stageConfigSchema>;
export type StageConfigInput = z.input<typeof stageConfigSchema>;
export type TenantConfig = z.infer<typeof tenantConfigSchema>;
export type TenantOrderingConfig = z.infer<typeof tenantOrderingSchema>;
export type TierConfig = z.infer<typeof tierConfigSchema>;
export type TaskConfig = z.infer<typeof taskConfigSchema>;
