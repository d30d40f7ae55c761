import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableModel } from '../model.js';
import { type DynamoDbGuard, type DynamoDbObserver, startAuthorizingProxy } from './authorizing-proxy.js';
import { checkLevelDbFolder } from './leveldb-check.js';

/** Plain CommonJS, so the thread starts the same from tsx, vitest or a build. */
const THREAD = fileURLToPath(new URL('./thread.cjs', import.meta.url));

/**
 * The template's DynamoDB tables on a local DynamoDB-compatible server (dynalite: the DynamoDB
 * JSON 1.0 API on 127.0.0.1, LevelDB under `<stateDir>/dynamodb`, so state survives restarts).
 * It has conditional writes and `ADD`; it has no TTL and no transactions, so handlers treat items
 * past their `expiresAt` as gone themselves. The server runs in a worker thread of its own (see
 * thread.cjs), off the event loop of the rest of the local runtime.
 */
export interface LocalDynamoDb {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface LocalDynamoDbOptions {
  /** Data folder parent; `undefined` keeps the tables in memory. */
  readonly stateDir?: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  readonly tables: readonly TableModel[];
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * Authorizes every call: the endpoint is then an authorizing proxy on `port`, with dynalite
   * behind it on a port of its own. @default none (dynalite answers on `port` directly)
   */
  readonly guard?: DynamoDbGuard;
  /** Told about every call the guard let through, with its response (the usage meter). */
  readonly observe?: DynamoDbObserver;
}

export async function startLocalDynamoDb(options: LocalDynamoDbOptions): Promise<LocalDynamoDb> {
  const path = options.stateDir === undefined ? undefined : join(options.stateDir, 'dynamodb');
  // A damaged LevelDB folder would be opened as an empty one, lose items or abort the process.
  if (path) checkLevelDbFolder(path);
  if (path) mkdirSync(path, { recursive: true });
  const thread = await startThread(path, options.guard ? 0 : (options.port ?? 0));
  let { port, stop } = thread;
  if (options.guard) {
    const proxy = await startAuthorizingProxy({
      port: options.port ?? 0,
      upstreamPort: thread.port,
      guard: options.guard,
      observe: options.observe,
    }).catch(async (error) => {
      await thread.stop();
      const hint = /EADDRINUSE/.test(String(error))
        ? ' (port in use: pick another port, or 0 for a free one)'
        : '';
      throw new Error(
        `local DynamoDB could not listen on 127.0.0.1:${options.port ?? 0}${hint}: ${String(error)}`,
      );
    });
    port = proxy.port;
    stop = async () => {
      await proxy.stop();
      await thread.stop();
    };
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${thread.port}`,
    region: options.region,
    credentials: options.credentials,
  });
  try {
    for (const table of options.tables) {
      try {
        await client.send(
          new CreateTableCommand({
            TableName: table.name,
            KeySchema: table.keySchema.map((k) => ({ ...k })),
            AttributeDefinitions: table.attributeDefinitions.map((a) => ({ ...a })),
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
      } catch (error) {
        // Already there from an earlier run (the data folder persists).
        if ((error as Error).name !== 'ResourceInUseException') throw error;
      }
    }
  } catch (error) {
    client.destroy();
    await stop();
    throw error;
  }
  client.destroy();
  return { endpoint, port, stop };
}

/** Starts dynalite in its worker thread; `stop` closes the server and the thread ends. */
async function startThread(
  path: string | undefined,
  requestedPort: number,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const thread = new Worker(THREAD, { workerData: { path, port: requestedPort } });
  const ended = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    thread.once('message', (message: { port?: number; error?: string }) => {
      if (message.port !== undefined) return resolve(message.port);
      const hint = /EADDRINUSE/.test(message.error ?? '')
        ? ' (port in use: pick another port, or 0 for a free one)'
        : '';
      reject(
        new Error(`local DynamoDB could not listen on 127.0.0.1:${requestedPort}${hint}: ${message.error}`),
      );
    });
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`dynalite's thread exited during start (${code})`)));
  }).catch(async (error) => {
    // A server that failed to listen leaves the thread waiting for messages: end it.
    await thread.terminate();
    throw error;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      thread.postMessage('stop');
      await ended;
    })();
    return stopping;
  };
  return { port, stop };
}
