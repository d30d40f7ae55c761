import { randomUUID } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DeliveryStreamModel, FirehoseSink, GlueTableModel } from '../model';
import { formatConversionFailure } from './delivery-error';
import { type ColumnCodec, columnCodec } from './glue-types';
import { convertRecord, type RowValue } from './openx';
import { ParquetWriter, parquetCompression } from './parquet';
import { expandPrefix, objectKeySuffix, validatePrefix } from './prefix';

export interface LocalFirehoseOptions {
  readonly streams: readonly DeliveryStreamModel[];
  readonly tables: readonly GlueTableModel[];
  /** A client for the local S3 (see `localS3Client`). */
  readonly s3: S3Client;
  /** Local speed: flush after this many seconds instead of the stream's buffering interval. */
  readonly bufferingIntervalSeconds?: number;
  /** Override of the stream's buffering size, in bytes. */
  readonly bufferingSizeBytes?: number;
  /** S3 write attempts per flush before the buffer is kept for the next flush (default 3). */
  readonly writeAttempts?: number;
  readonly retryDelayMs?: number;
  readonly onError?: (error: FirehoseDeliveryError) => void;
  /**
   * Buffered record bytes (all streams) held in memory. Beyond it, records wait in a spool file
   * until their flush, so a conversion that falls behind costs disk, not memory. @default 16 MiB
   */
  readonly memoryBufferBytes?: number;
}

export class FirehoseDeliveryError extends Error {
  constructor(
    readonly streamName: string,
    readonly key: string,
    readonly records: number,
    cause: unknown,
  ) {
    super(
      `Firehose stream ${streamName} could not write s3 object ${key} (${records} records kept in the buffer, retried at the next flush): ${String(cause)}`,
      { cause },
    );
    this.name = 'FirehoseDeliveryError';
  }
}

export class UnknownDeliveryStreamError extends Error {
  readonly code = 'ResourceNotFoundException';
  constructor(stream: string, known: readonly string[]) {
    super(`Firehose stream ${stream} not found; known streams: ${known.join(', ') || 'none'}`);
    this.name = 'UnknownDeliveryStreamError';
  }
}

export interface FirehoseStreamCounters {
  recordsIn: number;
  bytesIn: number;
  recordsDelivered: number;
  objectsWritten: number;
  bytesWritten: number;
  conversionFailures: number;
  deliveryFailures: number;
  bufferedRecords: number;
  bufferedBytes: number;
}

interface BufferedRecord {
  /** The record, or (spooled) undefined with `spooled` saying where it lies in the spool file. */
  readonly data: string | undefined;
  readonly spooled?: { readonly offset: number; readonly length: number };
  readonly bytes: number;
  readonly arrival: Date;
  readonly sequenceNumber: string;
}

/** Where buffered records beyond the memory budget wait (not durable, like Firehose's own buffer). */
interface Spool {
  fd: number;
  size: number;
  /** Spooled records not delivered yet; at 0 the file is emptied. */
  live: number;
}

interface StreamState {
  readonly model: DeliveryStreamModel;
  readonly columns?: readonly ColumnCodec[];
  readonly compression?: string;
  buffer: BufferedRecord[];
  bufferedBytes: number;
  spool?: Spool;
  timer?: NodeJS.Timeout;
  flushing: Promise<void>;
  readonly counters: FirehoseStreamCounters;
}

const STREAM_VERSION = 1;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Firehose for the local runtime: buffers records per stream by size and time, converts them to
 * Parquet against the Glue table (OpenX JSON semantics), and writes one object per flush to the
 * local S3 at the key Firehose would use. Unconvertible records go to the error prefix; a failed
 * write keeps the records buffered. Nothing is dropped.
 */
export class LocalFirehose implements FirehoseSink {
  private readonly streams = new Map<string, StreamState>();
  private readonly parquet = new ParquetWriter();
  private sequence = 0;
  private closed = false;
  private memoryBytes = 0;
  private spoolDir?: string;

  constructor(private readonly options: LocalFirehoseOptions) {
    for (const model of options.streams) {
      validatePrefix(model.prefix, false);
      validatePrefix(model.errorOutputPrefix, true);
      let columns: ColumnCodec[] | undefined;
      if (model.parquet) {
        const { databaseName, tableName } = model.parquet;
        const table = options.tables.find((t) => t.databaseName === databaseName && t.name === tableName);
        if (!table) {
          throw new Error(
            `Firehose stream ${model.name} converts against Glue table ${databaseName}.${tableName}, which the template does not define`,
          );
        }
        columns = table.columns.map((c) => columnCodec(c.name, c.type));
        parquetCompression(model.parquet.compression);
      }
      const state: StreamState = {
        model,
        ...(columns ? { columns, compression: model.parquet?.compression } : {}),
        buffer: [],
        bufferedBytes: 0,
        flushing: Promise.resolve(),
        counters: {
          recordsIn: 0,
          bytesIn: 0,
          recordsDelivered: 0,
          objectsWritten: 0,
          bytesWritten: 0,
          conversionFailures: 0,
          deliveryFailures: 0,
          bufferedRecords: 0,
          bufferedBytes: 0,
        },
      };
      this.streams.set(model.arn, state);
      this.streams.set(model.name, state);
    }
  }

  async putRecord(streamArn: string, data: string): Promise<void> {
    if (this.closed) throw new Error('the local Firehose is closed; records can no longer be accepted');
    const state = this.streams.get(streamArn);
    if (!state)
      throw new UnknownDeliveryStreamError(
        streamArn,
        this.options.streams.map((s) => s.name),
      );
    const bytes = Buffer.byteLength(data);
    const arrival = new Date();
    const sequenceNumber = String(++this.sequence).padStart(20, '0');
    if (this.memoryBytes + bytes > (this.options.memoryBufferBytes ?? 16 * 1024 * 1024)) {
      state.buffer.push({
        data: undefined,
        spooled: this.spool(state, data, bytes),
        bytes,
        arrival,
        sequenceNumber,
      });
    } else {
      this.memoryBytes += bytes;
      state.buffer.push({ data, bytes, arrival, sequenceNumber });
    }
    state.bufferedBytes += bytes;
    state.counters.recordsIn++;
    state.counters.bytesIn += bytes;
    if (state.bufferedBytes >= this.sizeLimit(state)) {
      // Like PutRecord, accepting a record does not wait for the delivery it triggers.
      void this.flushStream(state);
    } else {
      this.armTimer(state);
    }
  }

  /** Writes every buffered record now. Resolves when the writes have been attempted. */
  async flush(): Promise<void> {
    await Promise.all(this.uniqueStreams().map((state) => this.flushStream(state)));
  }

  /** Flushes everything and releases DuckDB; records still buffered after failed writes are reported. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    for (const state of this.uniqueStreams()) clearTimeout(state.timer);
    await this.parquet.close();
    for (const state of this.uniqueStreams()) {
      if (state.spool) closeSync(state.spool.fd);
      state.spool = undefined;
    }
    if (this.spoolDir) rmSync(this.spoolDir, { recursive: true, force: true });
    this.spoolDir = undefined;
  }

  private spool(state: StreamState, data: string, bytes: number): { offset: number; length: number } {
    if (!state.spool) {
      this.spoolDir ??= mkdtempSync(join(tmpdir(), 'inferbus-firehose-spool-'));
      state.spool = { fd: openSync(join(this.spoolDir, `${randomUUID()}.spool`), 'w+'), size: 0, live: 0 };
    }
    const spool = state.spool;
    const buf = Buffer.from(data, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(spool.fd, buf, off, buf.length - off, spool.size + off);
    const location = { offset: spool.size, length: bytes };
    spool.size += bytes;
    spool.live++;
    return location;
  }

  /** The record's data, from memory or read back from the spool. */
  private dataOf(state: StreamState, record: BufferedRecord): string {
    let data = record.data;
    if (data === undefined) {
      const { offset, length } = record.spooled as { offset: number; length: number };
      const buf = Buffer.allocUnsafe(length);
      let off = 0;
      while (off < length) {
        const n = readSync((state.spool as Spool).fd, buf, off, length - off, offset + off);
        if (n === 0)
          throw new Error(`the Firehose spool of ${state.model.name} ends before byte ${offset + length}`);
        off += n;
      }
      data = buf.toString('utf8');
    }
    return data;
  }

  /** Delivered records leave memory and the spool; an empty spool file is truncated. */
  private release(state: StreamState, records: readonly BufferedRecord[]): void {
    for (const record of records) {
      if (record.data !== undefined) this.memoryBytes -= record.bytes;
      else if (state.spool) state.spool.live--;
    }
    if (state.spool && state.spool.live === 0 && state.spool.size > 0) {
      ftruncateSync(state.spool.fd, 0);
      state.spool.size = 0;
    }
  }

  counters(): Record<string, FirehoseStreamCounters> {
    return Object.fromEntries(
      this.uniqueStreams().map((s) => [
        s.model.name,
        { ...s.counters, bufferedRecords: s.buffer.length, bufferedBytes: s.bufferedBytes },
      ]),
    );
  }

  private uniqueStreams(): StreamState[] {
    return [...new Set(this.streams.values())];
  }

  private sizeLimit(state: StreamState): number {
    return this.options.bufferingSizeBytes ?? state.model.bufferingSizeMiB * 1024 * 1024;
  }

  private armTimer(state: StreamState): void {
    if (state.timer || this.closed) return;
    const seconds = this.options.bufferingIntervalSeconds ?? state.model.bufferingIntervalSeconds;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.flushStream(state);
    }, seconds * 1000);
    state.timer.unref();
  }

  private flushStream(state: StreamState): Promise<void> {
    clearTimeout(state.timer);
    state.timer = undefined;
    // Flushes of one stream run one after another, so objects keep arrival order.
    state.flushing = state.flushing.then(() => this.deliver(state));
    return state.flushing;
  }

  private async deliver(state: StreamState): Promise<void> {
    const records = state.buffer;
    if (records.length === 0) return;
    state.buffer = [];
    state.bufferedBytes = 0;
    // A buffer that grew past the size (a slow conversion) goes out as several objects of about the
    // buffer size, so one delivery holds a bounded amount in memory at once.
    const limit = this.sizeLimit(state);
    const failed: BufferedRecord[] = [];
    for (let start = 0; start < records.length; ) {
      let end = start;
      let bytes = 0;
      while (end < records.length && bytes < limit) {
        bytes += (records[end] as BufferedRecord).bytes;
        end++;
      }
      const chunk = records.slice(start, end);
      start = end;
      let kept: BufferedRecord[];
      try {
        kept = await this.deliverRecords(state, chunk);
      } catch (error) {
        kept = chunk;
        this.report(new FirehoseDeliveryError(state.model.name, '(conversion)', chunk.length, error));
      }
      const keptSet = new Set(kept);
      this.release(
        state,
        chunk.filter((r) => !keptSet.has(r)),
      );
      failed.push(...kept);
    }
    if (failed.length > 0) {
      state.buffer = [...failed, ...state.buffer];
      state.bufferedBytes += failed.reduce((sum, r) => sum + r.bytes, 0);
      this.armTimer(state);
    }
  }

  /** Returns the records that could not be written (to be kept in the buffer). */
  private async deliverRecords(state: StreamState, records: BufferedRecord[]): Promise<BufferedRecord[]> {
    const { model } = state;
    const arrival = records[0]?.arrival ?? new Date();
    const suffix = (extension: string) =>
      objectKeySuffix(model.name, STREAM_VERSION, arrival, randomUUID(), extension);
    if (!state.columns || !model.parquet) {
      const key = `${expandPrefix(model.prefix, { arrival })}${suffix('')}`;
      const body = records.map((r) => this.dataOf(state, r)).join('');
      if (!(await this.putObject(state, key, body, records.length))) return records;
      state.counters.recordsDelivered += records.length;
      return [];
    }
    const columns = state.columns;
    const table = model.parquet;
    const converted: BufferedRecord[] = [];
    const failures: string[] = [];
    const failedRecords: BufferedRecord[] = [];
    const self = this;
    // Rows are made as DuckDB's appender takes them: a delivery never holds all records and all
    // rows of an object in memory at once.
    function* rows(): Generator<Record<string, RowValue>> {
      for (const record of records) {
        const data = self.dataOf(state, record);
        const result = convertRecord(columns, data);
        if (result.ok) {
          converted.push(record);
          yield result.row;
          continue;
        }
        failedRecords.push(record);
        failures.push(
          JSON.stringify(
            formatConversionFailure({
              data,
              arrival: record.arrival,
              sequenceNumber: record.sequenceNumber,
              code: result.code,
              message: result.message,
              databaseName: table.databaseName,
              tableName: table.tableName,
            }),
          ),
        );
      }
    }
    const kept: BufferedRecord[] = [];
    const body = await this.parquet.write(columns, rows(), table.compression);
    if (converted.length > 0) {
      const key = `${expandPrefix(model.prefix, { arrival })}${suffix('.parquet')}`;
      if (await this.putObject(state, key, body, converted.length)) {
        state.counters.recordsDelivered += converted.length;
      } else kept.push(...converted);
    }
    if (failures.length > 0) {
      const errorArrival = failedRecords[0]?.arrival ?? arrival;
      const prefix = expandPrefix(model.errorOutputPrefix, {
        arrival: errorArrival,
        errorOutputType: 'format-conversion-failed',
      });
      const key = `${prefix}${objectKeySuffix(model.name, STREAM_VERSION, errorArrival, randomUUID(), '')}`;
      if (await this.putObject(state, key, `${failures.join('\n')}\n`, failures.length)) {
        state.counters.conversionFailures += failures.length;
      } else {
        kept.push(...failedRecords);
      }
    }
    return kept;
  }

  private async putObject(state: StreamState, key: string, body: string | Uint8Array, records: number) {
    const attempts = Math.max(1, this.options.writeAttempts ?? 3);
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.options.s3.send(
          new PutObjectCommand({ Bucket: state.model.bucketName, Key: key, Body: body }),
        );
        state.counters.objectsWritten++;
        state.counters.bytesWritten += typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
        return true;
      } catch (error) {
        lastError = error;
        if (attempt < attempts) await sleep((this.options.retryDelayMs ?? 100) * 2 ** (attempt - 1));
      }
    }
    state.counters.deliveryFailures++;
    this.report(new FirehoseDeliveryError(state.model.name, key, records, lastError));
    return false;
  }

  private report(error: FirehoseDeliveryError): void {
    if (this.options.onError) this.options.onError(error);
    else console.error(error.message);
  }
}
