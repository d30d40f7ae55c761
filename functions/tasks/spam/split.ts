/**
 * The spam task's split. Deterministic train/validation/test split by a hash of a message's key, never by position, so
 * every script (training, evaluation, tests, sample-event generation) agrees on which messages are
 * held out, whatever order they are loaded in.
 */
export type Split = 'train' | 'validation' | 'test';

/** Bumping the salt reshuffles every split; models must be retrained when it changes. */
export const SPLIT_SALT = 'inferbus-split-v1:';

/** Percentages of the 100 hash buckets: [0, 70) train, [70, 85) validation, [85, 100) test. */
export const SPLIT_BOUNDS = { train: 70, validation: 85 } as const;

/** 32-bit FNV-1a over UTF-16 code units. */
export function fnv1a32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function splitBucket(id: string): number {
  return fnv1a32(SPLIT_SALT + id) % 100;
}

export function splitOf(id: string): Split {
  const bucket = splitBucket(id);
  if (bucket < SPLIT_BOUNDS.train) return 'train';
  if (bucket < SPLIT_BOUNDS.validation) return 'validation';
  return 'test';
}

/**
 * The SpamAssassin dataset's `id` repeats across groups ("00001" exists in easy-ham-1, spam-1, ...),
 * so the key of a corpus message is `<group>/<id>`. Pass this key to {@link splitOf}.
 */
export function corpusKey(message: { group: string; id: string }): string {
  return `${message.group}/${message.id}`;
}
