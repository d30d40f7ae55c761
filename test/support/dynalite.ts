import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startLocalDynamoDb } from '../../local/dynamodb';
import type { TableModel } from '../../local/model';

export const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/** The tenant-state table as the template declares it. */
export const tenantTable = (name: string): TableModel => ({
  logicalId: 'TenantStateTable',
  name,
  arn: `arn:aws:dynamodb:eu-west-1:000000000000:table/${name}`,
  keySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  attributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
  timeToLiveAttribute: 'expiresAt',
});

/** A real dynalite on 127.0.0.1 (port 0, LevelDB in a temp folder) with the table created. */
export function startDynalite(tableName: string) {
  return startLocalDynamoDb({
    stateDir: mkdtempSync(join(tmpdir(), 'inferbus-dynalite-')),
    tables: [tenantTable(tableName)],
    region: 'eu-west-1',
    credentials: TEST_CREDENTIALS,
  });
}

/** An SDK client for a dynalite from `startDynalite`, as the handlers configure theirs. */
export function dynaliteClient(dynamo: { endpoint: string }): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'eu-west-1',
    credentials: TEST_CREDENTIALS,
  });
}
