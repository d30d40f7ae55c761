// Minimal types for the parts of s3rver (CommonJS, untyped) that the local S3 server uses.
declare module 's3rver' {
  import type { RequestListener } from 'node:http';
  import type { FilesystemStoreLike } from './atomic-writes';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  class S3rver {
    constructor(options: S3rverOptions);
    /** Creates the configured buckets in the store. */
    configureBuckets(): Promise<unknown>;
    /** The Koa request listener. */
    callback(): RequestListener;
    logger: { close(): void };
    /** The filesystem store every request reads and writes through. */
    store: FilesystemStoreLike;
  }
  export default S3rver;
}

declare module 's3rver/lib/models/account.js' {
  interface AWSAccount {
    readonly id: number;
    createKeyPair(accessKeyId: string, secretAccessKey: string): void;
  }
  interface AccountModule {
    registry: Map<string, AWSAccount>;
    DUMMY_ACCOUNT: AWSAccount;
  }
  const account: AccountModule;
  export default account;
}
