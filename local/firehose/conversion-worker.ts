import { parentPort } from 'node:worker_threads';
import { convertBatch, type WalRange } from './convert-batch.js';
import type { ColumnCodec } from './glue-types.js';
import { ParquetWriter } from './parquet.js';

/** What the runtime's thread sends (see conversion-thread.ts). */
export type ConversionRequest =
  | {
      readonly type: 'convert';
      readonly id: number;
      readonly columns: readonly ColumnCodec[];
      readonly compression: string;
      readonly records: readonly WalRange[];
    }
  | { readonly type: 'close' };

export type ConversionReply =
  | {
      readonly id: number;
      readonly body?: Uint8Array;
      readonly failures: { index: number; code: string; message: string }[];
    }
  | { readonly id: number; readonly error: string };

/**
 * The Parquet conversion thread: converts one buffer at a time, in the order they arrive, with
 * its own DuckDB, and on `close` releases DuckDB and ends. Started by conversion-thread.ts.
 */
const port = parentPort;
if (!port) throw new Error('conversion-worker.ts runs as a worker thread (see conversion-thread.ts)');
const writer = new ParquetWriter();
let queue = Promise.resolve();

port.on('message', (request: ConversionRequest) => {
  queue = queue.then(() => handle(request));
});

async function handle(request: ConversionRequest): Promise<void> {
  if (request.type === 'close') {
    await writer.close();
    port?.close();
    return;
  }
  const { id, columns, compression, records } = request;
  try {
    const { body, failures } = await convertBatch(writer, columns, compression, records);
    // Handed over, not copied, when the bytes own their whole ArrayBuffer.
    const own = body && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    port?.postMessage(
      { id, body, failures } satisfies ConversionReply,
      own ? [body.buffer as ArrayBuffer] : [],
    );
  } catch (error) {
    port?.postMessage({
      id,
      error: error instanceof Error ? error.message : String(error),
    } satisfies ConversionReply);
  }
}
