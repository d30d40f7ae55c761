import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * s3rver writes an object straight to its final path (`createWriteStream(objectPath)` truncates it
 * at once), so while an upload runs, and for good after a crash or a client hanging up mid-upload,
 * the key holds a partial or 0-byte object that every reader (DuckDB, GetObject, ListObjects) sees.
 * S3 never shows a half-written object. These replacements for the store's writes put the bytes in
 * a temporary file beside the object, flush it to disk, and rename it over the object: the key
 * holds the old object or the whole new one, never anything between.
 */

/** Marks a temporary object file: it never ends in `._S3rver_object`, so s3rver never lists it. */
const PARTIAL_MARKER = '.inferbus-partial-';

export const isPartialObjectFile = (name: string) => name.includes(PARTIAL_MARKER);

interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly content: Buffer | NodeJS.ReadableStream;
  readonly metadata: Record<string, string>;
}

/** The parts of s3rver's FilesystemStore these writes use and replace. */
export interface FilesystemStoreLike {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  getMetadata(bucket: string, key: string): Promise<unknown>;
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
  copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    replacementMetadata?: Record<string, string>,
  ): Promise<unknown>;
}

const partialPathOf = (objectPath: string) => `${objectPath}${PARTIAL_MARKER}${randomUUID()}`;

async function flushToDisk(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `write`'s file under a temporary name, then renames it to `finalPath`; no partial file stays. */
async function replaceAtomically(finalPath: string, write: (partialPath: string) => Promise<void>) {
  await mkdir(dirname(finalPath), { recursive: true });
  const partial = partialPathOf(finalPath);
  try {
    await write(partial);
    await flushToDisk(partial);
    return async () => rename(partial, finalPath);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** Replaces `store.putObject` and `store.copyObject` (this store only) with all-or-nothing writes. */
export function makeObjectWritesAtomic(store: FilesystemStoreLike): void {
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    const md5 = createHash('md5');
    let size = 0;
    const publish = await replaceAtomically(objectPath, (partial) =>
      pipeline(
        Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(partial),
      ),
    );
    const digest = md5.digest('hex');
    // Metadata first: until the rename, the key still answers with the old object (or none).
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    await publish();
    return { size, md5: digest };
  };

  store.copyObject = async (srcBucket, srcKey, destBucket, destKey, replacementMetadata) => {
    const source = store.getResourcePath(srcBucket, srcKey, 'object');
    const destination = store.getResourcePath(destBucket, destKey, 'object');
    const publish =
      source === destination ? undefined : await replaceAtomically(destination, (p) => copyFile(source, p));
    const resources = replacementMetadata ? ['object.md5'] : ['object.md5', 'metadata.json'];
    if (publish) {
      await Promise.all(
        resources.map((resource) =>
          copyFile(
            store.getResourcePath(srcBucket, srcKey, resource),
            store.getResourcePath(destBucket, destKey, resource),
          ).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error;
          }),
        ),
      );
    }
    if (replacementMetadata) await store.putMetadata(destBucket, destKey, replacementMetadata);
    await publish?.();
    return store.getMetadata(destBucket, destKey);
  };
}

/** Removes the temporary files a crash mid-write left behind; returns how many there were. */
export async function removePartialObjects(directory: string): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(directory, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const partials = entries.filter(isPartialObjectFile);
  await Promise.all(partials.map((entry) => rm(join(directory, entry), { force: true })));
  return partials.length;
}
