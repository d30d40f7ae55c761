import { type FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import type { ArchiveRecordSink } from './archive-writer';

/**
 * The archive's Firehose stream as an ArchiveRecordSink: one PutRecordBatch call per batch (the
 * writer keeps batches within the API's 500 records and 4 MiB). Firehose answers each record in
 * `RequestResponses`, in the order sent, with an `ErrorCode`/`ErrorMessage` when it refused it
 * (`FailedPutCount` > 0 on a call that succeeded); a call that fails as a whole fails every record.
 */
export class FirehoseRecordSink implements ArchiveRecordSink {
  constructor(
    private readonly client: FirehoseClient,
    private readonly deliveryStreamName: string,
  ) {}

  async putRecordBatch(records: readonly string[]): Promise<(string | undefined)[]> {
    const encoder = new TextEncoder();
    let responses: { ErrorCode?: string; ErrorMessage?: string }[];
    try {
      const output = await this.client.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: this.deliveryStreamName,
          Records: records.map((data) => ({ Data: encoder.encode(data) })),
        }),
      );
      responses = output.RequestResponses ?? [];
    } catch (error) {
      const message = `${(error as Error).name}: ${(error as Error).message}`;
      return records.map(() => message);
    }
    if (responses.length !== records.length) {
      // AWS documents one response per record; anything else is not knowable per record, so every
      // record is treated as refused (written again: at least once) rather than guessed accepted.
      const message = `PutRecordBatch to ${this.deliveryStreamName} answered ${responses.length} record responses for ${records.length} records`;
      return records.map(() => message);
    }
    return responses.map((response) =>
      response.ErrorCode ? `${response.ErrorCode}: ${response.ErrorMessage ?? 'no message'}` : undefined,
    );
  }
}
