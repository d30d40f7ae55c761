import { closeSync, openSync } from 'node:fs';
import { readFully } from '../fs-sync.js';
import type { ColumnCodec } from './glue-types.js';
import { convertRecord, type RowValue } from './openx.js';
import type { ParquetWriter } from './parquet.js';
import { parseLine } from './wal.js';

/** Where one record's write-ahead log line lies: a plain object, so it crosses to a worker thread. */
export interface WalRange {
  readonly file: string;
  readonly offset: number;
  /** Bytes of the line, newline included. */
  readonly length: number;
}

export interface ConversionFailure {
  /** Position of the record in the batch. */
  readonly index: number;
  readonly code: string;
  readonly message: string;
}

export interface ConvertedBatch {
  /** The Parquet object of the records that converted; undefined when none did. */
  readonly body: Uint8Array | undefined;
  readonly failures: ConversionFailure[];
}

/**
 * One Firehose buffer → one Parquet object: reads each record's line from the write-ahead log,
 * converts it against the Glue columns (OpenX JSON semantics) and appends the row as it goes, so a
 * batch never holds all its records and rows at once. Records that do not convert are reported by
 * position for the error prefix; they never fail the batch.
 */
export async function convertBatch(
  writer: ParquetWriter,
  columns: readonly ColumnCodec[],
  compression: string,
  records: readonly WalRange[],
): Promise<ConvertedBatch> {
  const failures: ConversionFailure[] = [];
  let converted = 0;
  const lines = new WalReader();
  function* rows(): Generator<Record<string, RowValue>> {
    try {
      for (let index = 0; index < records.length; index++) {
        const result = convertRecord(columns, lines.read(records[index] as WalRange));
        if (result.ok) {
          converted++;
          yield result.row;
        } else failures.push({ index, code: result.code, message: result.message });
      }
    } finally {
      lines.close();
    }
  }
  const body = await writer.write(columns, rows(), compression);
  return { body: converted > 0 ? body : undefined, failures };
}

/** Reads log lines, one open file at a time (a buffer's records are in one or two segments). */
class WalReader {
  private file: string | undefined;
  private fd: number | undefined;

  read(range: WalRange): string {
    if (range.file !== this.file) {
      this.close();
      this.fd = openSync(range.file, 'r');
      this.file = range.file;
    }
    const buf = readFully(
      this.fd as number,
      range.length,
      range.offset,
      () =>
        new Error(
          `Firehose write-ahead log ${range.file} ends before byte ${range.offset + range.length}: was it truncated or deleted while the runtime ran?`,
        ),
    );
    return parseLine(buf.toString('utf8', 0, range.length - 1)).data;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.file = undefined;
  }
}
