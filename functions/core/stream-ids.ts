/**
 * Which event took which sequence number, for the most recent numbers of a stream: what tells a
 * redelivery of the same event (skip it) from another event that reused the number (process and
 * flag it). Bounded, so the stream's state item stays small: the window covers at most
 * MAX_REMEMBERED_IDS consecutive numbers ending at the highest one remembered. A number outside
 * the window (or never remembered) has no known id and can never be proven a duplicate.
 */
export interface IdWindow {
  /** The number of `ids[0]`. */
  readonly from: number;
  /** The event id per number from `from` on; null where no id is known (given up, never seen). */
  readonly ids: readonly (string | null)[];
}

/** With ids of at most 128 characters (the envelope's limit), at most about 34 KB of the 400 KB item. */
export const MAX_REMEMBERED_IDS = 256;

export const EMPTY_IDS: IdWindow = { from: 1, ids: [] };

/** The id remembered for `seq`, or undefined when none is known. */
export function idAt(window: IdWindow, seq: number): string | undefined {
  return window.ids[seq - window.from] ?? undefined;
}

/**
 * Remembers the ids of numbers just processed. The first id recorded for a number keeps it (a
 * reuse never takes a number over), and the window slides up to the highest number, forgetting
 * the oldest.
 */
export function rememberIds(
  window: IdWindow,
  entries: readonly { readonly seq: number; readonly id: string }[],
): IdWindow {
  if (entries.length === 0) return window;
  const byNumber = new Map<number, string>();
  window.ids.forEach((id, index) => {
    if (id !== null) byNumber.set(window.from + index, id);
  });
  for (const { seq, id } of entries) if (!byNumber.has(seq)) byNumber.set(seq, id);
  const numbers = [...byNumber.keys()];
  const top = Math.max(...numbers);
  const from = Math.max(Math.min(...numbers), top - MAX_REMEMBERED_IDS + 1);
  return {
    from,
    ids: Array.from({ length: top - from + 1 }, (_, index) => byNumber.get(from + index) ?? null),
  };
}

/** Checks a window read back from storage; anything else reads as no window (nothing is proven). */
export function idWindowOf(value: unknown): IdWindow {
  if (typeof value !== 'object' || value === null) return EMPTY_IDS;
  const { from, ids } = value as { from?: unknown; ids?: unknown };
  if (!Number.isSafeInteger(from) || !Array.isArray(ids) || ids.length > MAX_REMEMBERED_IDS) return EMPTY_IDS;
  if (!ids.every((id) => id === null || typeof id === 'string')) return EMPTY_IDS;
  return { from: from as number, ids };
}
