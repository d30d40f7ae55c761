import { randomUUID } from 'node:crypto';
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
  readonly data: string;
  readonly arrival: Date;
  readonly sequenceNumber: string;
}

interface StreamState {
  readonly model: DeliveryStreamModel;
  readonly columns?: readonly ColumnCodec[];
  readonly compression?: string;
  buffer: BufferedRecord[];
  bufferedBytes: number;
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
    state.buffer.push({
      data,
      arrival: new Date(),
      sequenceNumber: String(++this.sequence).padStart(20, '0'),
    });
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
    let failed: BufferedRecord[] = [];
    try {
      failed = await this.deliverRecords(state, records);
    } catch (error) {
      failed = records;
      this.report(new FirehoseDeliveryError(state.model.name, '(conversion)', records.length, error));
    }
    if (failed.length > 0) {
      state.buffer = [...failed, ...state.buffer];
      state.bufferedBytes += failed.reduce((sum, r) => sum + Buffer.byteLength(r.data), 0);
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
      const body = records.map((r) => r.data).join('');
      if (!(await this.putObject(state, key, body, records.length))) return records;
      state.counters.recordsDelivered += records.length;
      return [];
    }
    const rows: Record<string, RowValue>[] = [];
    const converted: BufferedRecord[] = [];
    const failures: string[] = [];
    const failedRecords: BufferedRecord[] = [];
    for (const record of records) {
      const result = convertRecord(state.columns, record.data);
      if (result.ok) {
        rows.push(result.row);
        converted.push(record);
      } else {
        failedRecords.push(record);
        failures.push(
          JSON.stringify(
            formatConversionFailure({
              ...record,
              code: result.code,
              message: result.message,
              databaseName: model.parquet.databaseName,
              tableName: model.parquet.tableName,
            }),
          ),
        );
      }
    }
    const kept: BufferedRecord[] = [];
    if (rows.length > 0) {
      const body = await this.parquet.write(state.columns, rows, model.parquet.compression);
      const key = `${expandPrefix(model.prefix, { arrival })}${suffix('.parquet')}`;
      if (await this.putObject(state, key, body, rows.length)) state.counters.recordsDelivered += rows.length;
      else kept.push(...converted);
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
