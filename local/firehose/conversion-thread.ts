import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type Deferred, deferred } from '../deferred.js';
import type { ConversionReply, ConversionRequest } from './conversion-worker.js';
import type { ConvertedBatch, WalRange } from './convert-batch.js';
import type { ColumnCodec } from './glue-types.js';

const ENTRY = fileURLToPath(new URL('./conversion-worker.mjs', import.meta.url));

/**
 * Converts Firehose buffers to Parquet on a worker thread of its own, started at the first buffer.
 *
 * Why a thread: the runtime's event loop is what limits the local pipeline's throughput (it is
 * busy all the time under load), and converting a buffer (parsing every record, appending every
 * value to DuckDB) took a fifth of it. On the thread that work runs beside the bus and the queues
 * instead of in their way. The records do not pass through the event loop either: the thread reads
 * them from the write-ahead log.
 *
 * If the thread dies, the conversions in flight fail (their records stay buffered and are retried
 * at the next flush) and the next conversion starts a new thread.
 */
export class ConversionThread {
  private worker: Worker | undefined;
  private nextId = 1;
  /** Conversions in flight, with the thread each was sent to. */
  private readonly pending = new Map<number, { worker: Worker; reply: Deferred<ConvertedBatch> }>();

  convert(
    columns: readonly ColumnCodec[],
    compression: string,
    records: readonly WalRange[],
  ): Promise<ConvertedBatch> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    const reply = deferred<ConvertedBatch>();
    this.pending.set(id, { worker, reply });
    // Only a conversion in flight keeps the process alive; an idle thread does not.
    worker.ref();
    worker.postMessage({ type: 'convert', id, columns, compression, records } satisfies ConversionRequest);
    return reply.promise;
  }

  /** Lets the conversions in flight finish, then releases the thread's DuckDB and ends it. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ type: 'close' } satisfies ConversionRequest);
    await exited;
  }

  private start(): Worker {
    const worker = new Worker(ENTRY);
    worker.on('message', (reply: ConversionReply) => {
      const waiter = this.pending.get(reply.id)?.reply;
      this.pending.delete(reply.id);
      if (!this.inFlightOn(worker)) worker.unref();
      if (!waiter) return;
      if ('error' in reply) waiter.reject(new Error(`Parquet conversion failed: ${reply.error}`));
      else waiter.resolve({ body: reply.body, failures: reply.failures });
    });
    worker.on('error', (error) => this.fail(worker, error));
    worker.on('exit', (code) => this.fail(worker, new Error(`the thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private fail(worker: Worker, error: Error): void {
    if (this.worker === worker) this.worker = undefined;
    for (const [id, { worker: sentTo, reply }] of this.pending) {
      if (sentTo !== worker) continue;
      this.pending.delete(id);
      reply.reject(new Error(`The Parquet conversion thread stopped: ${error.message}`, { cause: error }));
    }
  }

  private inFlightOn(worker: Worker): boolean {
    for (const sent of this.pending.values()) if (sent.worker === worker) return true;
    return false;
  }
}
