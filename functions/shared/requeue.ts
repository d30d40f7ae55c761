import { type MessageAttributeValue, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/** A record sent back to its own queue to be received again after `delaySeconds`. */
export interface Requeue {
  readonly record: SQSRecord;
  /** 0 to 900 (the SQS maximum). */
  readonly delaySeconds: number;
  /** Attributes to set on the new message, besides the ones the record already carries. */
  readonly attributes?: Record<string, string>;
}

export interface Requeuer {
  /** Returns the indexes that could not be re-queued (the caller must keep those records). */
  requeue(items: readonly Requeue[]): Promise<Set<number>>;
}

/** Message attribute: when the record was first held back for ordering (epoch ms). */
export const FIRST_HELD_AT_ATTRIBUTE = 'INFERBUS_FIRST_HELD_AT';
/** Message attribute: why the record was delayed last (`quota` or `ordering`). */
export const DELAYED_FOR_ATTRIBUTE = 'INFERBUS_DELAYED_FOR';

/**
 * Re-sends records to the queue they came from with DelaySeconds (a new message, so its
 * ApproximateReceiveCount starts again at 1 and a delay never pushes it towards the DLQ). The
 * body is kept byte for byte, and so are its message attributes.
 */
export class SqsRequeuer implements Requeuer {
  constructor(
    private readonly client: SQSClient,
    /** Work queue ARN → its URL (functions/core/queue-names.ts); undefined: none known. */
    private readonly queueUrlOf: (queueArn: string) => string | undefined,
  ) {}

  async requeue(items: readonly Requeue[]): Promise<Set<number>> {
    const failed = new Set<number>();
    const byQueue = new Map<string, number[]>();
    items.forEach((item, index) => {
      const url = this.queueUrlOf(item.record.eventSourceARN);
      if (!url) {
        failed.add(index);
        return;
      }
      byQueue.set(url, [...(byQueue.get(url) ?? []), index]);
    });
    await Promise.all(
      [...byQueue].flatMap(([url, indexes]) => {
        const chunks: number[][] = [];
        for (let start = 0; start < indexes.length; start += 10)
          chunks.push(indexes.slice(start, start + 10));
        return chunks.map(async (chunk) => {
          try {
            const response = await this.client.send(
              new SendMessageBatchCommand({
                QueueUrl: url,
                Entries: chunk.map((index) => {
                  const item = items[index] as Requeue;
                  return {
                    Id: String(index),
                    MessageBody: item.record.body,
                    DelaySeconds: Math.min(900, Math.max(0, Math.round(item.delaySeconds))),
                    MessageAttributes: attributesOf(item),
                  };
                }),
              }),
            );
            for (const failure of response.Failed ?? []) failed.add(Number(failure.Id));
          } catch {
            for (const index of chunk) failed.add(index);
          }
        });
      }),
    );
    return failed;
  }
}

function attributesOf(item: Requeue): Record<string, MessageAttributeValue> | undefined {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(item.record.messageAttributes ?? {})) {
    if (value.stringValue !== undefined)
      out[name] = { DataType: value.dataType, StringValue: value.stringValue };
    else if (value.binaryValue !== undefined) {
      out[name] = { DataType: value.dataType, BinaryValue: Buffer.from(value.binaryValue, 'base64') };
    }
  }
  for (const [name, value] of Object.entries(item.attributes ?? {})) {
    out[name] = { DataType: 'String', StringValue: value };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
