export { localS3Client, localS3ClientConfig } from './client';
export { acceptAnyAccessKey } from './credentials';
export { objectPathOnDisk, parseS3Url, S3RVER_OBJECT_SUFFIX } from './paths';
export {
  LOCAL_S3_CHECKSUM_ENV,
  LOCAL_S3_CREDENTIALS,
  type LocalS3,
  type LocalS3Options,
  startLocalS3,
} from './server';
