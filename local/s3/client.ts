import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS } from './server';

/**
 * Client settings for the local S3: path-style addressing, and checksums only when an operation
 * requires them (the in-process twin of `LOCAL_S3_CHECKSUM_ENV`).
 */
export function localS3ClientConfig(endpoint: string, region = 'us-east-1'): S3ClientConfig {
  return {
    endpoint,
    region,
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

export function localS3Client(endpoint: string, region?: string): S3Client {
  return new S3Client(localS3ClientConfig(endpoint, region));
}
