import { z } from 'zod';

/**
 * The inferbus envelope: what every event carries in its EventBridge `detail`.
 * One schema for producers, handlers, the local runtime and the archive columns.
 */
export const TENANT_ID_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

export const tenantIdSchema = z
  .string()
  .regex(
    TENANT_ID_PATTERN,
    'tenant ids are 1-32 characters: lowercase letters, digits and "-", starting with a letter',
  );

export const envelopeSchema = z.object({
  /** Unique per logical event; the idempotency key everywhere downstream. */
  id: z.string().min(1).max(128),
  tenant: tenantIdSchema,
  /** Ordering scope inside a tenant: sequence numbers increase per (tenant, stream). */
  stream: z.string().min(1).max(128),
  seq: z.number().int().nonnegative(),
  /** Hybrid logical clock stamp, `<wall-ms>-<counter>-<node>`, set by the producer. */
  hlc: z.string().min(1).max(64),
  type: z.string().min(1).max(128),
  payload: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.string()).default({}),
  time: z.iso.datetime({ offset: true }),
});

export type Envelope = z.infer<typeof envelopeSchema>;
export type EnvelopeInput = z.input<typeof envelopeSchema>;
