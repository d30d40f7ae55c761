import { BILLING_CHUNK_BYTES, type PackPolicy } from './pack';

/**
 * How a producer packs requests into EventBridge entries: the producer library and
 * `inferbus put-events` take this policy, and the cost model reads requests per entry from it.
 */
export type PackCodecName = 'json' | 'zstd';

export interface ProducerPackPolicy extends PackPolicy {
  /** The longest a request waits in the producer for others to share its entry (the flush timer). */
  readonly waitMs: number;
  /** `zstd`: the packed part as `zstd-json-1` (the encoding BENCHMARKS.md "Encoding" chose); `json`: plain items. */
  readonly codec: PackCodecName;
}

/**
 * Bytes of one entry kept free below the 64 KB billing chunk: EventBridge wraps the detail in its
 * event JSON (version, id, account, time, region, resources: about 350 bytes) before SQS holds it,
 * so a pack that fills the chunk exactly would be two 64 KB SQS chunks on every send and receive.
 */
export const SQS_WRAPPER_RESERVE_BYTES = 1024;

export const DEFAULT_PRODUCER_PACK_POLICY: ProducerPackPolicy = {
  maxItems: 500,
  maxEntryBytes: BILLING_CHUNK_BYTES - SQS_WRAPPER_RESERVE_BYTES,
  waitMs: 20,
  codec: 'zstd',
};

/** The largest entry PutEvents accepts; a pack policy may not ask for more. */
const MAX_ENTRY_BYTES = 1024 * 1024;

/**
 * A complete policy from partial settings, refused with a message naming the setting and its
 * range (flags and library options share it, so both refuse the same way).
 */
export function resolvePackPolicy(
  settings: Partial<ProducerPackPolicy> = {},
  names: Partial<Record<keyof ProducerPackPolicy, string>> = {},
): ProducerPackPolicy {
  const policy = { ...DEFAULT_PRODUCER_PACK_POLICY, ...dropUndefined(settings) };
  const name = (key: keyof ProducerPackPolicy) => names[key] ?? `pack.${key}`;
  const integerIn = (
    key: 'maxItems' | 'maxEntryBytes' | 'waitMs',
    min: number,
    max: number,
    what: string,
  ) => {
    const value = policy[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(
        `${name(key)} must be a whole number from ${min} to ${max} (${what}), got ${value}`,
      );
    }
  };
  integerIn('maxItems', 1, 100_000, 'requests per entry; 1 sends every request alone');
  integerIn('maxEntryBytes', 1024, MAX_ENTRY_BYTES, 'bytes per entry; 65536 is one billing unit');
  integerIn('waitMs', 0, 60_000, 'milliseconds a request may wait for others');
  if (policy.codec !== 'json' && policy.codec !== 'zstd') {
    throw new RangeError(`${name('codec')} must be "json" or "zstd", got ${JSON.stringify(policy.codec)}`);
  }
  return policy;
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
