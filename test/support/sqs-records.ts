import type { SQSRecord } from 'aws-lambda';

export const TEST_QUEUE_ARN = 'arn:aws:sqs:eu-west-1:000000000000:inferbus-dev-tier1-acme';
/** The DLQ URL on a given endpoint (the SDK sends SQS calls to the queue URL's host). */
export const testDlqUrl = (endpoint: string) => `${endpoint}/000000000000/inferbus-dev-tier1-acme-dlq`;

let counter = 0;

/** An SQS record as Lambda delivers it, carrying `body` (an EventBridge event as a rule sends it). */
export function sqsRecord(body: string, receiveCount = 1): SQSRecord {
  counter++;
  return {
    messageId: `msg-${counter}`,
    receiptHandle: `rh-${counter}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: TEST_QUEUE_ARN,
    awsRegion: 'eu-west-1',
  };
}

/** An InferenceRequested event as the tier-1 rule delivers it to SQS. */
export function requestEvent(
  id: string,
  text: string,
  tenant = 'acme',
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    version: '0',
    id: `eb-${id}`,
    'detail-type': 'InferenceRequested',
    source: `inferbus.${tenant}`,
    account: '000000000000',
    time: '2026-11-28T12:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: {
      id,
      tenant,
      stream: 'inbox',
      seq: Number(id.replace(/\D/g, '') || 0),
      hlc: '1764331200000-0-test',
      type: 'message.received',
      payload: { text, ...extra },
      metadata: {},
      time: '2026-11-28T12:00:00Z',
    },
  });
}

/** An EscalationRequested event as tier 1 publishes it and the tier-2 rule delivers it to SQS. */
export function escalationEvent(sourceId: string, text: string, tenant = 'acme'): string {
  const event = JSON.parse(requestEvent(sourceId, text, tenant, { sourceEventId: sourceId, tier: 1 }));
  event['detail-type'] = 'EscalationRequested';
  event.source = 'inferbus.results';
  event.detail.id = `${tenant}:${sourceId}:t1:escalated`;
  return JSON.stringify(event);
}
