import { randomUUID } from 'node:crypto';
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
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new EventBridgeApiError('ValidationException', `${key} must be a string.`);
  return value;
}

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

const operations: Record<string, (bus: LocalEventBus, body: Json) => unknown> = {
  PutEvents: (bus, body) => bus.putEventsDurably(undefined, body.Entries as PutEventsRequestEntry[]),

  TestEventPattern: (bus, body) => {
    const pattern = parseJsonParam(requiredString(body, 'EventPattern'), () => {
      throw new InvalidEventPatternError('Filter is not an object');
    });
    const event = parseJsonParam(requiredString(body, 'Event'), () => {
      throw new EventBridgeApiError('ValidationException', 'Parameter Event is not valid.');
    });
    requireEnvelopeFields(event);
    return { Result: bus.testEventPattern(pattern, event) };
  },

  ListRules: (bus, body) => {
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

  DescribeEventBus: (bus, body) => {
    const model = bus.describeBus(optionalString(body, 'Name'));
    return { Name: model.name, Arn: model.arn };
  },

  ListEventBuses: (bus, body) => {
    const prefix = optionalString(body, 'NamePrefix');
    const buses = bus.listBuses().filter((b) => !prefix || b.name.startsWith(prefix));
    const { items, next } = page(buses, body);
    return { EventBuses: items.map((b) => ({ Name: b.name, Arn: b.arn })), ...(next && { NextToken: next }) };
  },
};

/**
 * Answers one EventBridge API call. `target` is the X-Amz-Target header (`AWSEvents.PutEvents`);
 * `body` the raw request body. Never throws: failures become AWS-shaped error responses.
 */
export async function handleEventBridgeRequest(
  bus: LocalEventBus,
  target: string | undefined,
  body: string,
): Promise<ApiResponse> {
  const operation = target?.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : undefined;
  const handler = operation ? operations[operation] : undefined;
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
