import * as z from 'zod/mini';
import { type Envelope, envelopeSchema } from './envelope';
import { type InferenceRequest, inferenceRequestSchema } from './inference';

/**
 * Turns an SQS record body (an EventBridge event delivered by a rule) into a validated envelope
 * and inference request. Poison is reported, never thrown: the handler sends it to the DLQ with
 * the reason and moves on, because retrying malformed input only delays the same failure.
 */
export const eventBridgeEventSchema = z.object({
  id: z.string().check(z.minLength(1)),
  'detail-type': z.string().check(z.minLength(1)),
  source: z.string().check(z.minLength(1)),
  time: z.optional(z.string()),
  detail: z.unknown(),
});

export type PoisonCode = 'MalformedJson' | 'InvalidEvent' | 'InvalidEnvelope' | 'InvalidPayload';

export type ParsedRecord =
  | {
      readonly ok: true;
      readonly eventId: string;
      readonly detailType: string;
      readonly envelope: Envelope;
      readonly request: InferenceRequest;
    }
  | {
      readonly ok: false;
      readonly errorCode: PoisonCode;
      readonly errorMessage: string;
      /** Whatever could be read before the failure, so the failure can still be attributed. */
      readonly tenant?: string;
      readonly envelopeId?: string;
      /**
       * Set for InvalidPayload only: the envelope is valid itself, so the record's place in its
       * stream is known. Other poison has no trustworthy (stream, seq).
       */
      readonly envelope?: Envelope;
    };

export function parseRecordBody(body: string): ParsedRecord {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return {
      ok: false,
      errorCode: 'MalformedJson',
      errorMessage: `body is not JSON: ${(error as Error).message}`,
    };
  }
  const event = eventBridgeEventSchema.safeParse(json);
  if (!event.success) {
    return {
      ok: false,
      errorCode: 'InvalidEvent',
      errorMessage: `not an EventBridge event: ${describe(event.error)}`,
    };
  }
  const detail = event.data.detail as Record<string, unknown> | null;
  const hint = {
    tenant: typeof detail?.tenant === 'string' ? detail.tenant : undefined,
    envelopeId: typeof detail?.id === 'string' ? detail.id : undefined,
  };
  const envelope = envelopeSchema.safeParse(detail);
  if (!envelope.success) {
    return {
      ok: false,
      errorCode: 'InvalidEnvelope',
      errorMessage: `detail: ${describe(envelope.error)}`,
      ...hint,
    };
  }
  const request = inferenceRequestSchema.safeParse(envelope.data.payload);
  if (!request.success) {
    return {
      ok: false,
      errorCode: 'InvalidPayload',
      errorMessage: `detail.payload: ${describe(request.error)}`,
      ...hint,
      envelope: envelope.data,
    };
  }
  return {
    ok: true,
    eventId: event.data.id,
    detailType: event.data['detail-type'],
    envelope: envelope.data,
    request: request.data,
  };
}

/** `path: message` for each issue, joined; short enough for an SQS message attribute. */
export function describe(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
