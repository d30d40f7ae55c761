import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamoDb, startLocalDynamoDb } from '../../local/dynamodb';
import { type LocalS3, startLocalS3 } from '../../local/s3';
import { LocalServer } from '../../local/server';

/**
 * Security: every endpoint of the local runtime (the AWS protocol server, S3, DynamoDB) is bound
 * to 127.0.0.1, so nothing is reachable from another machine: a connection to this machine's
 * non-loopback addresses on the same ports is refused.
 */
let stateDir: string;
let server: LocalServer;
let s3: LocalS3;
let dynamodb: LocalDynamoDb;
const endpoints: string[] = [];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'inferbus-loopback-'));
  server = new LocalServer({ port: 0, routes: [], health: () => ({}), metrics: () => [] });
  endpoints.push(await server.start());
  s3 = await startLocalS3({ stateDir, buckets: [] });
  endpoints.push(s3.endpoint);
  dynamodb = await startLocalDynamoDb({
    stateDir,
    tables: [],
    region: 'eu-west-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  endpoints.push(dynamodb.endpoint);
});

afterAll(async () => {
  await server?.stop();
  await s3?.stop();
  await dynamodb?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

const reachable = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });

describe('local endpoints', () => {
  it('listen on 127.0.0.1 and answer there', async () => {
    expect(endpoints).toHaveLength(3);
    for (const endpoint of endpoints) {
      const url = new URL(endpoint);
      expect(url.hostname).toBe('127.0.0.1');
      expect(await reachable('127.0.0.1', Number(url.port))).toBe(true);
    }
  });

  it("refuse connections on this machine's other addresses", async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal && a.family === 'IPv4')
      .map((a) => a?.address as string);
    for (const address of external) {
      for (const endpoint of endpoints) {
        expect(await reachable(address, Number(new URL(endpoint).port))).toBe(false);
      }
    }
  });

  it('DynamoDB listens on a pinned port; a taken one fails the start naming the port', async () => {
    const port = Number(new URL(dynamodb.endpoint).port);
    const options = {
      tables: [],
      region: 'eu-west-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    await expect(startLocalDynamoDb({ ...options, port })).rejects.toThrow(
      `local DynamoDB could not listen on 127.0.0.1:${port} (port in use: pick another port, or 0 for a free one)`,
    );
    await dynamodb.stop();
    const pinned = await startLocalDynamoDb({ ...options, port });
    expect(pinned.endpoint).toBe(`http://127.0.0.1:${port}`);
    dynamodb = pinned;
  });
});
