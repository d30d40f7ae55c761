import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import type { TableModel } from '../model.js';

/**
 * The template's DynamoDB tables on a local DynamoDB-compatible server (dynalite: the DynamoDB
 * JSON 1.0 API on 127.0.0.1, LevelDB under `<stateDir>/dynamodb`, so state survives restarts).
 * It has conditional writes and `ADD`; it has no TTL and no transactions, so handlers treat items
 * past their `expiresAt` as gone themselves.
 */
export interface LocalDynamoDb {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export interface LocalDynamoDbOptions {
  /** Data folder parent; `undefined` keeps the tables in memory. */
  readonly stateDir?: string;
  readonly tables: readonly TableModel[];
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export async function startLocalDynamoDb(options: LocalDynamoDbOptions): Promise<LocalDynamoDb> {
  const path = options.stateDir === undefined ? undefined : join(options.stateDir, 'dynamodb');
  if (path) mkdirSync(path, { recursive: true });
  const server: Server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  const client = new DynamoDBClient({ endpoint, region: options.region, credentials: options.credentials });
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
  return { endpoint, stop };
}
