import { s3RequestClass, sqsMessageBytes } from '../../functions/core/billing-units';
import type { FirehoseSink, QueueService, SqsMessageAttribute } from '../model';
import type { UsageMeter } from './usage-meter';

/** The last part of an ARN or URL: a queue's or delivery stream's name. */
export function resourceName(ref: string): string {
  return ref.slice(Math.max(ref.lastIndexOf(':'), ref.lastIndexOf('/')) + 1);
}

/**
 * The queues and Firehose as EventBridge's rule targets reach them: each delivery that succeeds is
 * a SendMessage (one per event, as EventBridge sends) or a Firehose record.
 */
export function meteredTargets(
  queues: QueueService,
  firehose: FirehoseSink,
  meter: UsageMeter,
): { queues: QueueService; firehose: FirehoseSink } {
  return {
    queues: {
      send: async (queue, body, attributes) => {
        const sent = await queues.send(queue, body, attributes);
        meter.sqsCall(resourceName(queue), 'SendMessage', sqsMessageBytes(body, attributes));
        return sent;
      },
      receive: (queue, options) => queues.receive(queue, options),
      delete: (queue, handle) => queues.delete(queue, handle),
      changeVisibility: (queue, handle, seconds) => queues.changeVisibility(queue, handle, seconds),
      counts: (queue) => queues.counts(queue),
    },
    firehose: {
      putRecord: async (stream, data) => {
        await firehose.putRecord(stream, data);
        meter.firehoseRecord(resourceName(stream), Buffer.byteLength(data));
      },
    },
  };
}

type SqsMessageFields = {
  MessageBody?: string;
  Body?: string;
  MessageAttributes?: Record<string, SqsMessageAttribute>;
};

/**
 * Meters one SQS API call that succeeded: the payload is what it sent (SendMessage, its batch) or
 * received (ReceiveMessage); other actions carry none and are one request each.
 */
export function meterSqsCall(meter: UsageMeter, target: string, input: unknown, output: unknown): void {
  const action = target.slice(target.indexOf('.') + 1);
  const request = (input ?? {}) as { QueueUrl?: string; MessageBody?: string; Entries?: SqsMessageFields[] };
  const queue = request.QueueUrl ? resourceName(request.QueueUrl) : '';
  const bytesOf = (m: SqsMessageFields) =>
    sqsMessageBytes(m.MessageBody ?? m.Body ?? '', m.MessageAttributes);
  let payload = 0;
  if (action === 'SendMessage') payload = bytesOf(request as SqsMessageFields);
  else if (action === 'SendMessageBatch')
    payload = (request.Entries ?? []).reduce((sum, e) => sum + bytesOf(e), 0);
  else if (action === 'ReceiveMessage') {
    const messages = ((output ?? {}) as { Messages?: SqsMessageFields[] }).Messages ?? [];
    payload = messages.reduce((sum, m) => sum + bytesOf(m), 0);
  }
  meter.sqsCall(queue, action, payload);
}

/** Meters one S3 request the local S3 let through. */
export function meterS3Request(meter: UsageMeter, method: string, url: string): void {
  const [path = '/', query = ''] = url.split('?', 2);
  meter.s3Request(s3RequestClass(method, path, query));
}
