import { recordBatches, rowsIntoRecords } from '../core/archive/firehose-records';
import { backoffDelayMs } from '../core/backoff';

/**
 * One PutRecordBatch call to the archive's Firehose stream: the error of each record by index
 * (undefined when it was accepted). A call that fails as a whole reports every record failed.
 */
export interface ArchiveRecordSink {
  putRecordBatch(records: readonly string[]): Promise<(string | undefined)[]>;
}

export interface ArchiveWriterOptions {
  readonly maxAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly maxRecordBytes?: number;
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Writes archive rows to Firehose: concatenated into few records, in PutRecordBatch calls, the
 * records Firehose refuses (per-record errors or a failed call) retried with backoff. Returns the
 * rows whose record still failed, with the last error, so the caller can hand exactly their SQS
 * messages back: a row is written at least once, never silently dropped.
 */
export class ArchiveWriter {
  private readonly maxAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly sink: ArchiveRecordSink,
    private readonly options: ArchiveWriterOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 4;
    this.sleep = options.sleep ?? sleepMs;
  }

  async write(rows: readonly string[]): Promise<Map<number, string>> {
    const records = rowsIntoRecords(rows, this.options.maxRecordBytes);
    const failed = new Map<number, string>();
    let pending = records.map((_, index) => index);
    for (let attempt = 0; attempt < this.maxAttempts && pending.length > 0; attempt++) {
      if (attempt > 0) await this.sleep(backoffDelayMs(attempt - 1));
      const current = pending;
      const sent = await Promise.all(
        recordBatches(current.map((i) => records[i] as { data: string })).map(async (batch) => {
          const indexes = batch.map((position) => current[position] as number);
          try {
            return {
              indexes,
              errors: await this.sink.putRecordBatch(indexes.map((i) => records[i]?.data as string)),
            };
          } catch (error) {
            const message = `${(error as Error).name}: ${(error as Error).message}`;
            return { indexes, errors: indexes.map(() => message) };
          }
        }),
      );
      failed.clear();
      pending = [];
      for (const { indexes, errors } of sent) {
        indexes.forEach((index, position) => {
          const error = errors[position];
          if (error === undefined) return;
          failed.set(index, error);
          pending.push(index);
        });
      }
    }
    const failedRows = new Map<number, string>();
    for (const [index, error] of failed) {
      for (const row of records[index]?.rows ?? []) failedRows.set(row, error);
    }
    return failedRows;
  }
}
