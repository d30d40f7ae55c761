import { type MessageAttributeValue, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** Why a record is being dead-lettered; travels as message attributes beside the original body. */
export interface DeadLetter {
  /** The SQS record as received: its body is kept byte for byte so a redrive replays it exactly. */
  readonly body: string;
  readonly sourceQueueArn: string;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly attempts: number;
}

export interface DeadLetterSink {
  /** Returns the indexes of letters that could not be stored (the caller must not delete those records). */
  send(letters: readonly DeadLetter[]): Promise<Set<number>>;
}

/** SQS allows 256 characters per attribute name and ample value size; messages are kept short to stay readable. */
const MAX_MESSAGE_CHARS = 1000;

export class SqsDeadLetterSink implements DeadLetterSink {
  constructor(
    private readonly client: SQSClient,
    /** Work queue ARN → its DLQ's URL (functions/core/queue-names.ts); undefined: none known. */
    private readonly dlqUrlOf: (queueArn: string) => string | undefined,
    private readonly tier: number,
  ) {}

  async send(letters: readonly DeadLetter[]): Promise<Set<number>> {
    const failed = new Set<number>();
    const byQueue = new Map<string, number[]>();
    letters.forEach((letter, index) => {
      const url = this.dlqUrlOf(letter.sourceQueueArn);
      if (!url) {
        failed.add(index);
        return;
      }
      byQueue.set(url, [...(byQueue.get(url) ?? []), index]);
    });
    for (const [url, indexes] of byQueue) {
      for (let start = 0; start < indexes.length; start += 10) {
        const chunk = indexes.slice(start, start + 10);
        try {
          const response = await this.client.send(
            new SendMessageBatchCommand({
              QueueUrl: url,
              Entries: chunk.map((index) => {
                const letter = letters[index] as DeadLetter;
                return {
                  Id: String(index),
                  MessageBody: letter.body,
                  MessageAttributes: this.attributes(letter),
                };
              }),
            }),
          );
          for (const failure of response.Failed ?? []) failed.add(Number(failure.Id));
        } catch {
          for (const index of chunk) failed.add(index);
        }
      }
    }
    return failed;
  }

  private attributes(letter: DeadLetter): Record<string, MessageAttributeValue> {
    const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });
    return {
      ERROR_CODE: text(letter.errorCode),
      ERROR_MESSAGE: text(letter.errorMessage.slice(0, MAX_MESSAGE_CHARS) || '(none)'),
      ATTEMPTS: { DataType: 'Number', StringValue: String(letter.attempts) },
      SOURCE_QUEUE_ARN: text(letter.sourceQueueArn),
      TIER: { DataType: 'Number', StringValue: String(this.tier) },
      FAILED_AT: text(new Date().toISOString()),
    };
  }
}
