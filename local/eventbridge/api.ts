import { randomUUID } from 'node:crypto';
import { memberShapeError, operationFor } from '../aws-json-shapes.js';
import type { LocalEventBus } from './bus.js';
import { EventBridgeApiError, type PutEventsRequestEntry } from './event.js';
import { InvalidEventPatternError } from './pattern.js';

/** The EventBridge operations the local endpoint answers, as AWS JSON 1.1 (`X-Amz-Target: AWSEvents.*`). */
export const TARGET_PREFIX = 'AWSEvents.';
export const CONTENT_TYPE = 'application/x-amz-json-1.1';

export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

type Json = Record<string, unknown>;

function respond(status: number, payload: unknown, extra: Record<string, string> = {}): ApiResponse {
  const body = JSON.stringify(payload);
  return {
    status,
    headers: {
      'content-type': CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      'x-amzn-requestid': randomUUID(),
      ...extra,
    },
    body,
  };
}

function error(code: string, message: string, status = 400): ApiResponse {
  return respond(status, { __type: code, message }, { 'x-amzn-errortype': code });
}

function optionalString(body: Json, key: string): string | undefined {
  const value = body[key];
  const problem = memberShapeError(key, value, 'String');
  if (problem) throw new EventBridgeApiError('SerializationException', problem);
  return (value ?? undefined) as string | undefined;
}

/** The EventPattern parameter's documented length constraint (TestEventPattern, PutRule). */
export const MAX_EVENT_PATTERN_LENGTH = 4096;

function requiredString(body: Json, key: string): string {
  const value = optionalString(body, key);
  if (value === undefined) {
    throw new EventBridgeApiError(
      'ValidationException',
      `1 validation error detected: Value null at '${key.charAt(0).toLowerCase()}${key.slice(1)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

function page<T>(items: T[], body: Json): { items: T[]; next?: string } {
  const start = Number(optionalString(body, 'NextToken') ?? 0) || 0;
  const problem = memberShapeError('Limit', body.Limit, 'Integer');
  if (problem) throw new EventBridgeApiError('SerializationException', problem);
  const limit = typeof body.Limit === 'number' && body.Limit > 0 ? body.Limit : items.length;
  const end = start + limit;
  return { items: items.slice(start, end), ...(end < items.length && { next: String(end) }) };
}

function parseJsonParam(text: string, onError: () => never): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return onError();
  }
}

/**
 * The envelope fields TestEventPattern requires of its event. The API reference lists `resources`
 * too, but AWS accepts an event without it (LocalStack's tests, validated against AWS, record so).
 */
const REQUIRED_EVENT_FIELDS = ['id', 'account', 'source', 'time', 'region', 'detail-type'] as const;

function requireEnvelopeFields(event: unknown): void {
  const missing =
    event !== null && typeof event === 'object' && !Array.isArray(event)
      ? REQUIRED_EVENT_FIELDS.filter((field) => !(field in event))
      : REQUIRED_EVENT_FIELDS;
  // AWS answers only "Parameter Event is not valid."; the missing fields are named to help.
  if (missing.length > 0) {
    throw new EventBridgeApiError(
      'ValidationException',
      `Parameter Event is not valid. (it needs ${REQUIRED_EVENT_FIELDS.join(', ')}; missing: ${missing.join(', ')})`,
    );
  }
}

const operations = new Map<string, (bus: LocalEventBus, body: Json) => unknown>(
  Object.entries({
    PutEvents: (bus: LocalEventBus, body: Json) => {
      const problem = memberShapeError('Entries', body.Entries, 'List');
      if (problem) throw new EventBridgeApiError('SerializationException', problem);
      optionalString(body, 'EndpointId');
      return bus.putEventsDurably(undefined, body.Entries as PutEventsRequestEntry[]);
    },

    TestEventPattern: (bus: LocalEventBus, body: Json) => {
      const text = requiredString(body, 'EventPattern');
      // Also bounds a pattern's nesting (about 800 levels at most), which compiling recurses over.
      if (text.length > MAX_EVENT_PATTERN_LENGTH) {
        throw new EventBridgeApiError(
          'ValidationException',
          `1 validation error detected: Value at 'eventPattern' failed to satisfy constraint: Member must have length less than or equal to ${MAX_EVENT_PATTERN_LENGTH} (it has ${text.length})`,
        );
      }
      const pattern = parseJsonParam(text, () => {
        throw new InvalidEventPatternError('Filter is not an object');
      });
      const event = parseJsonParam(requiredString(body, 'Event'), () => {
        throw new EventBridgeApiError('ValidationException', 'Parameter Event is not valid.');
      });
      requireEnvelopeFields(event);
      return { Result: bus.testEventPattern(pattern, event) };
    },

    ListRules: (bus: LocalEventBus, body: Json) => {
      const rules = bus.listRules(optionalString(body, 'EventBusName'), optionalString(body, 'NamePrefix'));
      const { items, next } = page(rules, body);
      return {
        Rules: items.map((r) => ({
          Name: r.name,
          Arn: r.arn,
          EventPattern: JSON.stringify(r.eventPattern),
          State: r.enabled ? 'ENABLED' : 'DISABLED',
          EventBusName: r.eventBusName,
        })),
        ...(next && { NextToken: next }),
      };
    },

    DescribeEventBus: (bus: LocalEventBus, body: Json) => {
      const model = bus.describeBus(optionalString(body, 'Name'));
      return { Name: model.name, Arn: model.arn };
    },

    ListEventBuses: (bus: LocalEventBus, body: Json) => {
      const prefix = optionalString(body, 'NamePrefix');
      const buses = bus.listBuses().filter((b) => !prefix || b.name.startsWith(prefix));
      const { items, next } = page(buses, body);
      return {
        EventBuses: items.map((b) => ({ Name: b.name, Arn: b.arn })),
        ...(next && { NextToken: next }),
      };
    },
  }),
);

/**
 * Answers one EventBridge API call. `target` is the X-Amz-Target header (`AWSEvents.PutEvents`);
 * `body` the raw request body. Never throws: failures become AWS-shaped error responses.
 */
export async function handleEventBridgeRequest(
  bus: LocalEventBus,
  target: string | undefined,
  body: string,
): Promise<ApiResponse> {
  const handler = operationFor(operations, TARGET_PREFIX, target);
  if (!handler) {
    return error(
      'UnknownOperationException',
      `The local EventBridge does not implement ${target ?? '(no X-Amz-Target)'}.`,
    );
  }
  let request: unknown;
  try {
    request = body.trim() === '' ? {} : JSON.parse(body);
  } catch {
    return error('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    return error('SerializationException', 'The request body must be a JSON object.');
  }
  try {
    return respond(200, await handler(bus, request as Json));
  } catch (e) {
    if (e instanceof EventBridgeApiError) return error(e.code, e.message, e.status);
    if (e instanceof InvalidEventPatternError) return error(e.code, e.message);
    return error('InternalException', `The local EventBridge failed: ${(e as Error).message}`, 500);
  }
}
