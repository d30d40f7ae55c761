import { randomUUID } from 'node:crypto';
import type { UnmappedOperationError } from './actions.js';
import type { Denial } from './authorizer.js';

/** An HTTP answer in a service's own protocol. */
export interface GuardResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * AWS's access-denied answer, per service, as the SDK parses it:
 * - SQS (JSON 1.0, query-compatible): 403, `x-amzn-query-error: AccessDenied;Sender`, the SDK's
 *   error name is then `AccessDenied`, and SQS writes the action lower-cased in the message;
 * - EventBridge (JSON 1.1): 400 `AccessDeniedException`;
 * - DynamoDB (JSON 1.0): 400 `com.amazonaws.dynamodb.v20120810#AccessDeniedException`;
 * - S3 (REST XML): 403 `<Error><Code>AccessDenied</Code>…`.
 */
export function accessDenied(service: string, denial: Denial): GuardResponse {
  const requestId = randomUUID();
  if (service === 'sqs') {
    const message = denial.message.replaceAll(denial.action, denial.action.toLowerCase());
    return json(403, 'application/x-amz-json-1.0', requestId, {
      body: { __type: 'com.amazon.coral.service#AccessDeniedException', Message: message },
      headers: { 'x-amzn-query-error': 'AccessDenied;Sender' },
    });
  }
  if (service === 'dynamodb') {
    return json(400, 'application/x-amz-json-1.0', requestId, {
      body: { __type: 'com.amazonaws.dynamodb.v20120810#AccessDeniedException', Message: denial.message },
    });
  }
  if (service === 's3') {
    return {
      status: 403,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${escapeXml(denial.message)}</Message><RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`,
    };
  }
  return json(400, 'application/x-amz-json-1.1', requestId, {
    body: { __type: 'AccessDeniedException', message: denial.message },
    headers: { 'x-amzn-errortype': 'AccessDeniedException' },
  });
}

/**
 * A call with a function's credentials that the action table does not know: 501, so the SDK does
 * not retry it, with the table's own message naming the operation and where to add it.
 */
export function unmapped(service: string, error: UnmappedOperationError, who: string): GuardResponse {
  const message = `${error.message} (called with the credentials of ${who})`;
  const requestId = randomUUID();
  if (service === 's3') {
    return {
      status: 501,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code><Message>${escapeXml(message)}</Message><RequestId>${requestId}</RequestId></Error>`,
    };
  }
  const contentType = service === 'events' ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0';
  return json(501, contentType, requestId, {
    body: { __type: 'LocalIamUnmappedOperation', message },
    headers: service === 'sqs' ? { 'x-amzn-query-error': 'LocalIamUnmappedOperation;Receiver' } : {},
  });
}

function json(
  status: number,
  contentType: string,
  requestId: string,
  { body, headers = {} }: { body: unknown; headers?: Record<string, string> },
): GuardResponse {
  return {
    status,
    headers: { 'content-type': contentType, 'x-amzn-requestid': requestId, ...headers },
    body: JSON.stringify(body),
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
