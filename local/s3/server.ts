import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import S3rver from 's3rver';
import accounts from 's3rver/lib/models/account.js';
import type { BucketModel } from '../model';
import { makeObjectWritesAtomic, removePartialObjects } from './atomic-writes';
import { acceptAnyAccessKey } from './credentials';
import { objectPathOnDisk } from './paths';

/**
 * The SDK v3 otherwise sends streamed bodies with `aws-chunked` framing plus a trailing checksum,
 * which s3rver stores verbatim (the object on disk then holds the chunk headers, not the data).
 * Give every process that talks to the local S3 these variables.
 */
export const LOCAL_S3_CHECKSUM_ENV = {
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
} as const;

/** Any access key works (see credentials.ts); these are the ones s3rver itself documents. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalS3Options {
  /** State folder; objects live under `<stateDir>/s3/<bucket>/<key>._S3rver_object`. */
  readonly stateDir: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly buckets: readonly BucketModel[];
  /**
   * Authorizes every request before s3rver sees it: undefined lets it through, a response refuses
   * it. @default none
   */
  readonly guard?: (
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
  ) => { status: number; headers: Record<string, string>; body: string } | undefined;
}

export interface LocalS3 {
  /** `http://127.0.0.1:<port>`; clients must use `forcePathStyle: true`. */
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  /** Where s3rver keeps the bytes of `s3://bucket/key` (DuckDB reads these directly). */
  objectPathOnDisk(bucket: string, key: string): string;
  stop(): Promise<void>;
}

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  const directory = join(options.stateDir, 's3');
  await mkdir(directory, { recursive: true });
  acceptAnyAccessKey(accounts);
  const server = new S3rver({
    silent: true,
    directory,
    // Path-style only: virtual-host buckets would need DNS for `<bucket>.127.0.0.1`.
    vhostBuckets: false,
    // s3rver does not implement SigV4 verification anyway; this also admits SigV2 clients.
    allowMismatchedSignatures: true,
    configureBuckets: options.buckets.map((bucket) => ({ name: bucket.name })),
  });
  makeObjectWritesAtomic(server.store);
  // A crash mid-write leaves only a temporary file beside the object, never a partial object.
  await removePartialObjects(directory);
  await server.configureBuckets();
  // s3rver's own run() never settles when listen fails (it waits on a callback that Node calls
  // only on success), so the HTTP server is ours.
  const callback = server.callback();
  const guard = options.guard;
  const http = createServer(
    guard
      ? (req, res) => {
          const denied = guard(req.method ?? 'GET', req.url ?? '/', req.headers);
          if (!denied) return callback(req, res);
          req.resume();
          res.writeHead(denied.status, denied.headers);
          res.end(denied.body);
        }
      : callback,
  );
  const port = options.port ?? 0;
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, '127.0.0.1', () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    server.logger.close();
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'EADDRINUSE' ? ' (port in use: pick another port, or 0 for a free one)' : '';
    throw new Error(`local S3 could not listen on 127.0.0.1:${port}${hint}: ${String(error)}`);
  }
  const address = http.address() as AddressInfo;
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    directory,
    objectPathOnDisk: (bucket, key) => objectPathOnDisk(directory, bucket, key),
    async stop() {
      if (stopped) return;
      stopped = true;
      // Keep-alive sockets from SDK clients would otherwise hold close() open.
      const closed = new Promise<void>((resolve, reject) =>
        http.close((error) => (error ? reject(error) : resolve())),
      );
      http.closeAllConnections();
      await closed;
      server.logger.close();
    },
  };
}
