import { closeSync, openSync, readSync } from 'node:fs';
import type { ColumnCodec } from './glue-types.js';
import { convertRecordRows, type RowValue } from './openx.js';
import type { ParquetWriter } from './parquet.js';
import { decodeRecordLine } from './wal-format.js';

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
        // A record may hold several rows, as concatenated JSON documents (the handlers' rows of packs).
        const result = convertRecordRows(columns, lines.read(records[index] as WalRange));
        if (result.ok) {
          converted++;
          yield* result.rows;
        } else failures.push({ index, code: result.code, message: result.message });
      }
    } finally {
      lines.close();
    }
  }
  const body = await writer.write(columns, rows(), compression);
  return { body: converted > 0 ? body : undefined, failures };
}

/** Bytes read from a segment at once: a buffer's records lie one after another in it. */
const READ_AHEAD_BYTES = 1 << 20;

/**
 * Reads log lines in the order of the batch, one open file at a time (a buffer's records are in
 * one or two segments), a megabyte at a time rather than a read call per record.
 */
class WalReader {
  private file: string | undefined;
  private fd: number | undefined;
  /** Bytes of `file` from `chunkStart`. */
  private chunk = Buffer.alloc(0);
  private chunkStart = 0;

  read(range: WalRange): string {
    if (range.file !== this.file) this.open(range.file);
    const from = range.offset - this.chunkStart;
    if (from < 0 || from + range.length > this.chunk.length) this.fill(range);
    const at = range.offset - this.chunkStart;
    return decodeRecordLine(this.chunk, at, at + range.length).data;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.file = undefined;
    this.chunk = Buffer.alloc(0);
  }

  private open(file: string): void {
    this.close();
    this.fd = openSync(file, 'r');
    this.file = file;
  }

  /** Reads from the start of `range` on; the file may end before the read-ahead does, not before the range. */
  private fill(range: WalRange): void {
    const want = Math.max(range.length, READ_AHEAD_BYTES);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd as number, buf, got, want - got, range.offset + got);
      if (n === 0) break;
      got += n;
    }
    if (got < range.length) {
      throw new Error(
        `Firehose write-ahead log ${range.file} ends before byte ${range.offset + range.length}: was it truncated or deleted while the runtime ran?`,
      );
    }
    this.chunk = buf.subarray(0, got);
    this.chunkStart = range.offset;
  }
}
