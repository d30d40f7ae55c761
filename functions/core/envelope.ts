// zod/mini: the same validation in a twentieth of the bundle (handlers ship this file).
import * as z from 'zod/mini';
import { taskIdSchema } from './task/id';

/**
 * The inferbus envelope: what every event carries in its EventBridge `detail`.
 * One schema for producers, handlers, the local runtime and the archive columns.
 */
export const TENANT_ID_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

export const tenantIdSchema = z
  .string()
  .check(
    z.regex(
      TENANT_ID_PATTERN,
      'tenant ids are 1-32 characters: lowercase letters, digits and "-", starting with a letter',
    ),
  );

export const envelopeSchema = z.object({
  /**
   * Unique per logical event within its tenant; the idempotency key everywhere downstream. A
   * request's id is at most 128 characters (the entry tier checks it); results derive theirs from
   * it with the tenant and a suffix (`<tenant>:<id>:t1:completed`), hence the larger bound here.
   */
  id: z.string().check(z.minLength(1), z.maxLength(192)),
  tenant: tenantIdSchema,
  /** Ordering scope inside a tenant: sequence numbers increase per (tenant, stream). */
  stream: z.string().check(z.minLength(1), z.maxLength(128)),
  seq: z.int().check(z.nonnegative()),
  /** Hybrid logical clock stamp, `<wall-ms>-<counter>-<node>`, set by the producer. */
  hlc: z.string().check(z.minLength(1), z.maxLength(64)),
  type: z.string().check(z.minLength(1), z.maxLength(128)),
  /**
   * The task a request is for (routing reads `detail.task`); a request without it belongs to the
   * stage's first task. Results, escalations and failures always name the task that handled them.
   */
  task: z.optional(taskIdSchema),
  payload: z.record(z.string(), z.unknown()),
  metadata: z._default(z.record(z.string(), z.string()), {}),
  time: z.iso.datetime({ offset: true }),
});

export type Envelope = z.infer<typeof envelopeSchema>;
export type EnvelopeInput = z.input<typeof envelopeSchema>;
