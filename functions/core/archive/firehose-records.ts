/**
 * Archive rows into Firehose records. Firehose bills ingestion per record rounded up to 5 KB, and
 * its format conversion reads several JSON documents concatenated in one record (`{"a":1}{"a":2}`,
 * not an array: the "Convert input data format in Amazon Data Firehose" guide) as one row each.
 * So rows go as few, large records: consecutive rows concatenated up to the record limit, records
 * grouped into PutRecordBatch calls within that API's limits.
 */

/** PutRecordBatch: at most 500 records and 4 MiB per call, each record at most 1,000 KiB. */
export const FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024;
export const FIREHOSE_MAX_BATCH_RECORDS = 500;
export const FIREHOSE_MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface RowRecord {
  /** The record's data: its rows, concatenated. */
  readonly data: string;
  /** Indexes of the rows it holds. */
  readonly rows: readonly number[];
}

/**
 * Concatenates rows (each one JSON object, as archiveRowOf writes it) into records of at most
 * `maxRecordBytes`. A row over the limit is an error: Firehose would refuse its record.
 */
export function rowsIntoRecords(
  rows: readonly string[],
  maxRecordBytes = FIREHOSE_MAX_RECORD_BYTES,
): RowRecord[] {
  const records: RowRecord[] = [];
  let parts: string[] = [];
  let indexes: number[] = [];
  let bytes = 0;
  const close = () => {
    if (parts.length > 0) records.push({ data: parts.join(''), rows: indexes });
    parts = [];
    indexes = [];
    bytes = 0;
  };
  rows.forEach((row, index) => {
    const size = Buffer.byteLength(row);
    if (size > maxRecordBytes) {
      throw new RangeError(
        `archive row ${index} is ${size} bytes, over Firehose's ${maxRecordBytes}-byte record limit; its payload belongs in a claim check`,
      );
    }
    if (bytes + size > maxRecordBytes) close();
    parts.push(row);
    indexes.push(index);
    bytes += size;
  });
  close();
  return records;
}

/** Splits records (by index) into PutRecordBatch calls within the API's count and size limits. */
export function recordBatches(records: readonly Pick<RowRecord, 'data'>[]): number[][] {
  const batches: number[][] = [];
  let batch: number[] = [];
  let bytes = 0;
  records.forEach((record, index) => {
    const size = Buffer.byteLength(record.data);
    if (batch.length === FIREHOSE_MAX_BATCH_RECORDS || bytes + size > FIREHOSE_MAX_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(index);
    bytes += size;
  });
  if (batch.length > 0) batches.push(batch);
  return batches;
}
