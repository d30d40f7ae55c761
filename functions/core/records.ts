import * as z from 'zod/mini';
import { type Envelope, envelopeSchema } from './envelope';
import { DetailType, RESULT_SOURCE } from './events';
import { type InferenceRequest, inferenceRequestSchema, MAX_REQUEST_ID_CHARS } from './inference';

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
      readonly source: string;
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
       * Set when the envelope is valid itself (InvalidPayload, or a record refused by
       * `checkProvenance`), so the record's place in its stream is known. Other poison has no
       * trustworthy (stream, seq).
       */
      readonly envelope?: Envelope;
    };

/**
 * Turns an SQS record body into a validated envelope and request, and checks that the record may
 * enter this tier (see `checkProvenance`).
 */
export function parseTierRecord(body: string, tier: number): ParsedRecord {
  const parsed = parseRecordBody(body);
  return parsed.ok ? (checkProvenance(parsed, tier) ?? parsed) : parsed;
}

/**
 * Who may hand a tier its work. The entry tier (1) takes producers' requests: `sourceEventId`
 * names the request an escalation continues, so a producer that sets it would have its result
 * filed under another request's id; it is poison, not ignored, so the producer learns of it. Its
 * id must leave room for the result ids derived from it. Later tiers take only escalations the
 * handlers published (detail-type EscalationRequested from RESULT_SOURCE) naming their request.
 */
export function checkProvenance(
  parsed: Extract<ParsedRecord, { ok: true }>,
  tier: number,
): Extract<ParsedRecord, { ok: false }> | undefined {
  const { envelope, request } = parsed;
  const poison = (errorCode: PoisonCode, errorMessage: string) => ({
    ok: false as const,
    errorCode,
    errorMessage,
    tenant: envelope.tenant,
    envelopeId: envelope.id,
    envelope,
  });
  if (tier === 1) {
    if (request.sourceEventId !== undefined) {
      return poison(
        'InvalidPayload',
        "detail.payload.sourceEventId: only escalations published by inferbus carry it; remove it from the request (its result is filed under the request's own detail.id)",
      );
    }
    if (envelope.id.length > MAX_REQUEST_ID_CHARS) {
      return poison(
        'InvalidEnvelope',
        `detail.id: a request id is at most ${MAX_REQUEST_ID_CHARS} characters, this one has ${envelope.id.length}; use a shorter id`,
      );
    }
    return undefined;
  }
  if (parsed.detailType !== DetailType.EscalationRequested || parsed.source !== RESULT_SOURCE) {
    return poison(
      'InvalidEvent',
      `tier ${tier} takes only ${DetailType.EscalationRequested} events from ${RESULT_SOURCE}, not ${parsed.detailType} from ${parsed.source}`,
    );
  }
  if (request.sourceEventId === undefined) {
    return poison(
      'InvalidPayload',
      'detail.payload.sourceEventId: an escalation must name the request it continues',
    );
  }
  return undefined;
}

/** {@link parseTierRecord} for an event already parsed (a request of a pack, expanded). */
export function parseTierEvent(json: unknown, tier: number): ParsedRecord {
  const parsed = parseRecordEvent(json);
  return parsed.ok ? (checkProvenance(parsed, tier) ?? parsed) : parsed;
}

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
  return parseRecordEvent(json);
}

function parseRecordEvent(json: unknown): ParsedRecord {
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
    source: event.data.source,
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
