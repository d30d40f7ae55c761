import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ServiceResponse } from './server';

/** The calls that bring new work into the runtime; everything else (receive, delete, queries) stays open. */
const NEW_WORK = new Set([
  'AWSEvents.PutEvents',
  'AmazonSQS.SendMessage',
  'AmazonSQS.SendMessageBatch',
  'AmazonSQS.StartMessageMoveTask',
]);

/** Who sent a request, as far as the runtime can tell from its headers. */
export interface RequestCaller {
  /** The `x-amz-security-token` header: the session token of the credentials that signed the request. */
  readonly securityToken: string | undefined;
}

/** The caller of a request, from its headers. */
export function callerFrom(headers: IncomingHttpHeaders): RequestCaller {
  const token = headers['x-amz-security-token'];
  return { securityToken: typeof token === 'string' ? token : undefined };
}

/**
 * The runtime's front door while it stops. Once {@link close}d, calls that bring new work in
 * (PutEvents, SendMessage, SendMessageBatch, StartMessageMoveTask) are refused with 503
 * ServiceUnavailable, so a producer sees failed calls it can retry rather than accepted events
 * that a stopping runtime might lose. Calls from the runtime's own functions still pass: an
 * invocation in flight must be able to publish its results and dead-letter its poison records.
 * The functions are recognised by their credentials, as in Lambda: they get a session token
 * (`AWS_SESSION_TOKEN`) that no one else has.
 */
export class Intake {
  /** Session token of the functions' credentials: random per start, so no outside caller has it. */
  readonly functionSessionToken = randomBytes(24).toString('base64url');
  private closed = false;
  private refusedCalls = 0;

  close(): void {
    this.closed = true;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Calls refused since {@link close}. */
  get refused(): number {
    return this.refusedCalls;
  }

  /** Whether this call must be refused: new work from outside once the intake is closed. */
  refuses(target: string, caller: RequestCaller): boolean {
    if (!this.closed || !NEW_WORK.has(target)) return false;
    if (caller.securityToken === this.functionSessionToken) return false;
    this.refusedCalls++;
    return true;
  }

  /** The EventBridge (AWS JSON 1.1) refusal. */
  eventBridgeRefusal(): ServiceResponse {
    return {
      status: 503,
      headers: { 'x-amzn-errortype': 'ServiceUnavailable' },
      body: { __type: 'ServiceUnavailable', message: REFUSAL },
    };
  }

  /** The SQS (AWS JSON 1.0, query-compatible) refusal; the query protocol renders it as XML. */
  sqsRefusal(): ServiceResponse & { headers: Record<string, string> } {
    return {
      status: 503,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-query-error': 'ServiceUnavailable;Receiver',
      },
      body: { __type: 'com.amazonaws.sqs#ServiceUnavailable', message: REFUSAL },
    };
  }
}

const REFUSAL =
  'inferbus local is shutting down and accepts no new events or messages; nothing in this request was accepted. Retry once it has restarted.';
