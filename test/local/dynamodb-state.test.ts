import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cUpdate } from '../../local/dynamodb/crc32c.js';
import { startLocalDynamoDb } from '../../local/dynamodb/index.js';
import { DynamoDbStateError } from '../../local/dynamodb/leveldb-check.js';
import { dynaliteClient, TEST_CREDENTIALS, tenantTable } from '../support/dynalite.js';

const TABLE = 'tenant-state';
const start = (stateDir: string) =>
  startLocalDynamoDb({
    stateDir,
    tables: [tenantTable(TABLE)],
    region: 'eu-west-1',
    credentials: TEST_CREDENTIALS,
  });

/** A copy of the written state, to damage. */
function copyOf(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-dynamodb-damaged-'));
  cpSync(source, dir, { recursive: true });
  return dir;
}

describe('local DynamoDB state on disk', () => {
  let stateDir: string;
  const copies: string[] = [];
  const damaged = () => {
    const dir = copyOf(stateDir);
    copies.push(dir);
    return dir;
  };

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'inferbus-dynamodb-state-'));
    const first = await start(stateDir);
    const client = dynaliteClient(first);
    for (let i = 0; i < 300; i++) {
      await client.send(
        new PutItemCommand({ TableName: TABLE, Item: { pk: { S: `acme#${i}` }, n: { N: String(i) } } }),
      );
    }
    client.destroy();
    await first.stop();
    // A second start turns the LevelDB log into a table file (.ldb).
    await (await start(stateDir)).stop();
  });

  afterAll(() => {
    for (const dir of [stateDir, ...copies]) rmSync(dir, { recursive: true, force: true });
  });

  it('opens whole state again, items included', async () => {
    const dynamo = await start(damaged());
    const client = dynaliteClient(dynamo);
    const item = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'acme#42' } } }));
    expect(item.Item?.n?.N).toBe('42');
    client.destroy();
    await dynamo.stop();
  });

  it('refuses a folder whose CURRENT was deleted instead of starting with empty tables', async () => {
    const dir = damaged();
    rmSync(join(dir, 'dynamodb', 'CURRENT'));
    await expect(start(dir)).rejects.toThrow(DynamoDbStateError);
    await expect(start(dir)).rejects.toThrow(
      `The local DynamoDB state in ${join(dir, 'dynamodb')} is damaged: CURRENT is missing, though table and log files are there`,
    );
    expect(readdirSync(join(dir, 'dynamodb'))).not.toContain('CURRENT');
  });

  it('refuses a table file with one changed byte instead of losing items or aborting', async () => {
    const dir = damaged();
    const folder = join(dir, 'dynamodb');
    const table = readdirSync(folder).find((n) => n.endsWith('.ldb'));
    expect(table).toBeDefined();
    const file = join(folder, table as string);
    const bytes = readFileSync(file);
    bytes[10] = (bytes[10] as number) ^ 0x5a;
    writeFileSync(file, bytes);
    await expect(start(dir)).rejects.toThrow(
      /table file \d+\.ldb: no block starting at byte 0 has a matching checksum/,
    );
  });

  it('refuses a table file the manifest lists that is gone', async () => {
    const dir = damaged();
    const folder = join(dir, 'dynamodb');
    rmSync(join(folder, readdirSync(folder).find((n) => n.endsWith('.ldb')) as string));
    await expect(start(dir)).rejects.toThrow(/table file \d+\.ldb, listed in the manifest, is missing/);
  });

  it('computes CRC-32C as LevelDB does', () => {
    expect(((crc32cUpdate(0xffffffff, Buffer.from('123456789')) ^ 0xffffffff) >>> 0).toString(16)).toBe(
      'e3069283',
    );
  });
});
