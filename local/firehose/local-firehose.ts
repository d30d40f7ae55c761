import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DeliveryStreamModel, FirehoseSink, GlueTableModel } from '../model';
import type { DurableWrites, StorageHealth } from '../storage-health';
import { ConversionThread } from './conversion-thread';
import { formatConversionFailure } from './delivery-error';
import { type ColumnCodec, columnCodec } from './glue-types';
import { parquetCompression } from './parquet';
import { expandPrefix, objectKeySuffix, validatePrefix } from './prefix';
import { FirehoseWal, type WalLocation, type WalSegment } from './wal';

export interface LocalFirehoseOptions {
  readonly streams: readonly DeliveryStreamModel[];
  readonly tables: readonly GlueTableModel[];
  /** A client for the local S3 (see `localS3Client`). */
  readonly s3: S3Client;
  /**
   * The client one stream writes with, signed with its role's credentials so the local IAM
   * authorizes the writes as that role's. @default `s3` for every stream
   */
  readonly s3ForStream?: (stream: DeliveryStreamModel) => S3Client;
  /** Local speed: flush after this many seconds instead of the stream's buffering interval. */
  readonly bufferingIntervalSeconds?: number;
  /** Override of the stream's buffering size, in bytes. */
  readonly bufferingSizeBytes?: number;
  /** S3 write attempts per flush before the buffer is kept for the next flush (default 3). */
  readonly writeAttempts?: number;
  readonly retryDelayMs?: number;
  readonly onError?: (error: FirehoseDeliveryError) => void;
  /** Warnings (a torn write-ahead log line skipped at start). @default console.warn */
  readonly warn?: (message: string) => void;
  /**
   * Folder of the write-ahead log, one subfolder per stream (see `FirehoseWal`): records are in it
   * before PutRecord returns, and leftovers are replayed at start, so a killed runtime loses no
   * accepted record. @default a temporary folder removed at close (not durable: for tests)
   */
  readonly walDir?: string;
  /**
   * Buffered record bytes held in memory, for streams that write records as they are. Beyond it,
   * records are read back from the write-ahead log at their flush, so a delivery that falls behind
   * costs disk, not memory. Streams that convert to Parquet keep none: the conversion thread reads
   * their records from the log. @default 16 MiB
   */
  readonly memoryBufferBytes?: number;
  /**
   * Fault runs only: the share of S3 objects whose writes fail (every attempt, before reaching S3),
   * so their records are kept for a later flush: the path a real outage takes. @default 0
   */
  readonly writeFailureRate?: number;
  /** Random source for `writeFailureRate` (tests inject one). @default Math.random */
  readonly random?: () => number;
  /** The write-ahead log's durable writes (tests and fault runs inject failing ones). @default the disk */
  readonly writes?: DurableWrites;
  /** Told of failed write-ahead log writes and recoveries (the runtime's `/health`). */
  readonly health?: StorageHealth;
}

export class FirehoseDeliveryError extends Error {
  constructor(
    readonly streamName: string,
    readonly key: string,
    readonly records: number,
    cause: unknown,
  ) {
    super(
      `Firehose stream ${streamName} could not write s3 object ${key} (${records} records kept in the buffer and the write-ahead log, retried at the next flush): ${String(cause)}`,
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
  /** Records read back from the write-ahead log at start (accepted before a crash or stop). */
  recordsReplayed: number;
  /** Write-ahead log segments on disk, each holding records not yet in S3. */
  walSegments: number;
}

interface BufferedRecord {
  /** The record, or undefined beyond the memory budget: read back from `location` then. */
  readonly data: string | undefined;
  readonly location: WalLocation;
  readonly bytes: number;
  readonly arrival: Date;
  readonly sequenceNumber: string;
}

interface StreamState {
  readonly model: DeliveryStreamModel;
  readonly columns?: readonly ColumnCodec[];
  readonly compression?: string;
  readonly wal: FirehoseWal;
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
 * write keeps the records buffered. Every accepted record is in a write-ahead log until its object
 * is written, so nothing is dropped, not even by a killed process.
 */
export class LocalFirehose implements FirehoseSink {
  private readonly streams = new Map<string, StreamState>();
  private readonly conversion = new ConversionThread();
  private sequence = 0;
  private closed = false;
  private memoryBytes = 0;
  private readonly walDir: string;
  /** Set when `walDir` was not given: the temporary log folder, removed at close. */
  private readonly temporaryWalDir: string | undefined;

  constructor(private readonly options: LocalFirehoseOptions) {
    this.temporaryWalDir = options.walDir ? undefined : mkdtempSync(join(tmpdir(), 'inferbus-firehose-wal-'));
    this.walDir = options.walDir ?? (this.temporaryWalDir as string);
    const warn = options.warn ?? ((message: string) => console.warn(message));
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
      const { wal, replayed } = FirehoseWal.open(join(this.walDir, model.name), warn, {
        writes: options.writes,
        health: options.health,
      });
      const state: StreamState = {
        model,
        ...(columns ? { columns, compression: model.parquet?.compression } : {}),
        wal,
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
          recordsReplayed: replayed.length,
          walSegments: 0,
        },
      };
      this.streams.set(model.arn, state);
      this.streams.set(model.name, state);
      for (const record of replayed) this.bufferRecord(state, record.location, record.arrival, record.data);
      if (replayed.length > 0) this.flushOrArm(state);
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
    const arrival = new Date();
    const location = state.wal.append(arrival, data);
    await state.wal.commit();
    // Buffered only once durable: a flush never delivers a record whose PutRecord may still fail.
    const bytes = this.bufferRecord(state, location, arrival, data);
    state.counters.recordsIn++;
    state.counters.bytesIn += bytes;
    this.flushOrArm(state);
  }

  /** Writes every buffered record now. Resolves when the writes have been attempted. */
  async flush(): Promise<void> {
    await Promise.all(this.uniqueStreams().map((state) => this.flushStream(state)));
  }

  /**
   * Flushes everything and releases DuckDB. Records still buffered after failed writes stay in the
   * write-ahead log (with `walDir`) and are delivered at the next start.
   */
  async close(): Promise<void> {
    // Refused from here on; a record accepted meanwhile is in the log and replayed at the next start.
    this.closed = true;
    await this.flush();
    for (const state of this.uniqueStreams()) {
      clearTimeout(state.timer);
      state.wal.close();
    }
    await this.conversion.close();
    if (this.temporaryWalDir) rmSync(this.temporaryWalDir, { recursive: true, force: true });
  }

  /** Adds a durable record to the stream's buffer; returns its size in bytes. */
  private bufferRecord(state: StreamState, location: WalLocation, arrival: Date, data: string): number {
    const bytes = Buffer.byteLength(data);
    const inMemory =
      !state.columns && this.memoryBytes + bytes <= (this.options.memoryBufferBytes ?? 16 * 1024 * 1024);
    if (inMemory) this.memoryBytes += bytes;
    const sequenceNumber = String(++this.sequence).padStart(20, '0');
    state.buffer.push({ data: inMemory ? data : undefined, location, bytes, arrival, sequenceNumber });
    state.bufferedBytes += bytes;
    return bytes;
  }

  private flushOrArm(state: StreamState): void {
    if (state.bufferedBytes >= this.sizeLimit(state)) {
      // Like PutRecord, accepting a record does not wait for the delivery it triggers.
      void this.flushStream(state);
    } else {
      this.armTimer(state);
    }
  }

  /** The record's data, from memory or read back from the write-ahead log. */
  private dataOf(state: StreamState, record: BufferedRecord): string {
    return record.data ?? state.wal.read(record.location).data;
  }

  /** Delivered records leave memory and the write-ahead log (a segment goes once all its records have). */
  private release(state: StreamState, records: readonly BufferedRecord[]): void {
    const perSegment = new Map<WalSegment, number>();
    for (const record of records) {
      if (record.data !== undefined) this.memoryBytes -= record.bytes;
      const segment = record.location.segment;
      perSegment.set(segment, (perSegment.get(segment) ?? 0) + 1);
    }
    for (const [segment, count] of perSegment) state.wal.release(segment, count);
  }

  counters(): Record<string, FirehoseStreamCounters> {
    return Object.fromEntries(
      this.uniqueStreams().map((s) => [
        s.model.name,
        {
          ...s.counters,
          bufferedRecords: s.buffer.length,
          bufferedBytes: s.bufferedBytes,
          walSegments: s.wal.segmentCount(),
        },
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
    state.wal.rotate();
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
    const table = model.parquet;
    const { body, failures } = await this.conversion.convert(
      state.columns,
      table.compression,
      records.map(({ location: { segment, offset, length } }) => ({ file: segment.file, offset, length })),
    );
    const failedRecords = failures.map((failure) => records[failure.index] as BufferedRecord);
    const failedSet = new Set(failedRecords);
    const converted = records.filter((record) => !failedSet.has(record));
    const kept: BufferedRecord[] = [];
    if (body && converted.length > 0) {
      const key = `${expandPrefix(model.prefix, { arrival })}${suffix('.parquet')}`;
      if (await this.putObject(state, key, body, converted.length)) {
        state.counters.recordsDelivered += converted.length;
      } else kept.push(...converted);
    }
    if (failures.length > 0) {
      const lines = failures.map((failure, i) => {
        const record = failedRecords[i] as BufferedRecord;
        return JSON.stringify(
          formatConversionFailure({
            data: this.dataOf(state, record),
            arrival: record.arrival,
            sequenceNumber: record.sequenceNumber,
            code: failure.code,
            message: failure.message,
            databaseName: table.databaseName,
            tableName: table.tableName,
          }),
        );
      });
      const errorArrival = failedRecords[0]?.arrival ?? arrival;
      const prefix = expandPrefix(model.errorOutputPrefix, {
        arrival: errorArrival,
        errorOutputType: 'format-conversion-failed',
      });
      const key = `${prefix}${objectKeySuffix(model.name, STREAM_VERSION, errorArrival, randomUUID(), '')}`;
      if (await this.putObject(state, key, `${lines.join('\n')}\n`, failures.length)) {
        state.counters.conversionFailures += failures.length;
      } else {
        kept.push(...failedRecords);
      }
    }
    return kept;
  }

  private async putObject(state: StreamState, key: string, body: string | Uint8Array, records: number) {
    const attempts = Math.max(1, this.options.writeAttempts ?? 3);
    const injected = this.injectedWriteFailure();
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        if (injected) throw injected;
        await (this.options.s3ForStream?.(state.model) ?? this.options.s3).send(
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

  private injectedWriteFailure(): Error | undefined {
    const rate = this.options.writeFailureRate;
    if (rate && (this.options.random ?? Math.random)() < rate)
      return new Error(`injected S3 write failure (writeFailureRate=${rate})`);
    return undefined;
  }

  private report(error: FirehoseDeliveryError): void {
    if (this.options.onError) this.options.onError(error);
    else console.error(error.message);
  }
}
