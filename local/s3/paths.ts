import { join } from 'node:path';

/** s3rver's on-disk layout: `/` in keys become folders, the bytes sit in `<last>._S3rver_object`. */
export const S3RVER_OBJECT_SUFFIX = '._S3rver_object';

export function objectPathOnDisk(directory: string, bucket: string, key: string): string {
  if (!bucket || bucket.includes('/')) throw new Error(`invalid bucket name ${JSON.stringify(bucket)}`);
  const parts = key.split('/');
  if (parts.some((part) => part === '..')) throw new Error(`key ${JSON.stringify(key)} escapes its bucket`);
  const last = parts.pop() ?? '';
  return join(directory, bucket, ...parts, `${last}${S3RVER_OBJECT_SUFFIX}`);
}

/** Splits `s3://bucket/prefix` into its bucket and key prefix. */
export function parseS3Url(url: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match?.[1]) throw new Error(`not an s3:// URL: ${JSON.stringify(url)} (expected s3://bucket/prefix)`);
  return { bucket: match[1], key: match[2] ?? '' };
}
