import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Envelope } from '../core/envelope';
import { type ClaimCheck, claimKeyFor } from '../core/inference';
import { entrySize, MAX_ENTRY_BYTES, type PutEventsEntry } from '../core/put-events';

export interface ClaimStore {
  /** Stores the text and returns the pointer the handlers resolve. */
  put(key: string, text: string): Promise<ClaimCheck>;
}

export class S3ClaimStore implements ClaimStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, text: string): Promise<ClaimCheck> {
    const body = Buffer.from(text, 'utf8');
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: 'text/plain; charset=utf-8',
      }),
    );
    return {
      bucket: this.bucket,
      key,
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
    };
  }
}

export class ClaimCheckUnavailableError extends Error {
  override readonly name = 'ClaimCheckUnavailableError';
}

/** Claim keys: per tenant, per envelope id, so a retried upload overwrites the same object. */
export const claimKey = (envelope: Pick<Envelope, 'tenant' | 'id'>) =>
  claimKeyFor(envelope.tenant, envelope.id);

/**
 * The entry as it will be sent: unchanged when it fits, otherwise its `payload.text` moved to the
 * claim store and replaced by `payload.claim`. Entries that do not fit for another reason (no
 * text, or huge metadata) are returned unchanged and PutEvents planning reports them.
 */
export async function claimCheckIfNeeded(
  entry: PutEventsEntry,
  store: ClaimStore | (() => Promise<ClaimStore>) | undefined,
  limit = MAX_ENTRY_BYTES,
): Promise<{ entry: PutEventsEntry; claimed?: ClaimCheck }> {
  if (entrySize(entry) <= limit || entry.Detail === undefined) return { entry };
  let detail: { id?: string; tenant?: string; payload?: Record<string, unknown> };
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    return { entry };
  }
  const text = detail.payload?.text;
  if (typeof text !== 'string' || !detail.id || !detail.tenant) return { entry };
  if (!store) {
    throw new ClaimCheckUnavailableError(
      `entry of ${entrySize(entry)} bytes is over the ${limit}-byte EventBridge limit and no claim bucket is configured`,
    );
  }
  const resolved = typeof store === 'function' ? await store() : store;
  const claim = await resolved.put(claimKey({ id: detail.id, tenant: detail.tenant }), text);
  const { text: _moved, ...rest } = detail.payload as Record<string, unknown>;
  const claimed = { ...entry, Detail: JSON.stringify({ ...detail, payload: { ...rest, claim } }) };
  return { entry: claimed, claimed: claim };
}
