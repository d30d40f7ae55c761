import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ClaimCheck } from '../core/inference';

/** The claimed object is gone or unreadable for good: the record is poison, not worth a retry. */
export class ClaimMissingError extends Error {
  override readonly name = 'ClaimMissingError';
}

export interface ClaimResolver {
  resolve(claim: ClaimCheck): Promise<string>;
}

/** Reads claim-checked payloads (texts too large for an EventBridge entry) from S3. */
export class S3ClaimResolver implements ClaimResolver {
  constructor(private readonly client: S3Client) {}

  async resolve(claim: ClaimCheck): Promise<string> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: claim.bucket, Key: claim.key }));
      if (!object.Body) throw new ClaimMissingError(`s3://${claim.bucket}/${claim.key} has no body`);
      return await object.Body.transformToString('utf8');
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'NoSuchKey' || name === 'NoSuchBucket' || name === 'AccessDenied') {
        throw new ClaimMissingError(`claim s3://${claim.bucket}/${claim.key} cannot be read: ${name}`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}
