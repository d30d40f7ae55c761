import type { IncomingHttpHeaders } from 'node:http';
import { handleEventBridgeRequest } from '../eventbridge/api.js';
import type { LocalEventBus } from '../eventbridge/bus.js';
import { type FirehoseApiContext, handleFirehoseRequest } from '../firehose/api.js';
import type { ServiceResponse } from '../server.js';
import { handleSqsRequest, type SqsResponse } from '../sqs/api.js';
import type { QueueStore } from '../sqs/store.js';
import { type EndpointGuard, putEventsWithDenials } from './endpoint-guard.js';

const authorizationOf = (headers: IncomingHttpHeaders) =>
  typeof headers.authorization === 'string' ? headers.authorization : undefined;

/** The EventBridge endpoint behind the guard. */
export async function guardedEventBridge(
  guard: EndpointGuard | undefined,
  bus: LocalEventBus,
  target: string,
  body: string,
  headers: IncomingHttpHeaders,
): Promise<ServiceResponse> {
  if (!guard || !target.startsWith('AWSEvents.')) return handleEventBridgeRequest(bus, target, body);
  let parsed: unknown;
  const parse = () => {
    try {
      parsed ??= body.trim() === '' ? {} : JSON.parse(body);
    } catch {
      parsed = {};
    }
    return parsed;
  };
  const verdict = guard.json('events', target.slice('AWSEvents.'.length), parse, authorizationOf(headers));
  if (!verdict.go) return verdict.response;
  if (!verdict.deniedEntries) return handleEventBridgeRequest(bus, target, body);
  return putEventsWithDenials(parse() as Record<string, unknown>, verdict.deniedEntries, (text) =>
    handleEventBridgeRequest(bus, target, text),
  );
}

/** The SQS endpoint (JSON and, through it, query protocol) behind the guard. */
export async function guardedSqs(
  guard: EndpointGuard | undefined,
  queues: QueueStore,
  target: string,
  input: unknown,
  headers: IncomingHttpHeaders,
): Promise<SqsResponse> {
  if (guard && target.startsWith('AmazonSQS.')) {
    const verdict = guard.json('sqs', target.slice('AmazonSQS.'.length), input, authorizationOf(headers));
    if (!verdict.go) {
      const { status, headers: responseHeaders, body } = verdict.response;
      return { status, headers: responseHeaders, body: JSON.parse(body) };
    }
  }
  return handleSqsRequest(queues, target, input);
}

/** The Firehose endpoint (PutRecord, PutRecordBatch) behind the guard. */
export async function guardedFirehose(
  guard: EndpointGuard | undefined,
  context: FirehoseApiContext,
  target: string,
  body: string,
  headers: IncomingHttpHeaders,
): Promise<ServiceResponse> {
  if (guard) {
    const input = () => {
      try {
        return body.trim() === '' ? {} : JSON.parse(body);
      } catch {
        return {};
      }
    };
    const verdict = guard.json(
      'firehose',
      target.slice('Firehose_20150804.'.length),
      input,
      authorizationOf(headers),
    );
    if (!verdict.go) return verdict.response;
  }
  return handleFirehoseRequest(context, target, body);
}
