import { mulberry32 } from '../core/prng';

/**
 * The items in an order whose every prefix is stratified by label: after k items each label has
 * been drawn floor or ceil of k times its share of the whole, so the first 30 messages of a
 * corpus that is one third spam hold 10 spam, not the 30 hams that sort first by key. Within a
 * label the order is a seeded shuffle, so the same items and seed give the same order.
 */
export function stratifiedOrder<T>(items: readonly T[], labelOf: (item: T) => string, seed = 1): T[] {
  const strata = new Map<string, T[]>();
  for (const item of items) {
    const label = labelOf(item);
    const stratum = strata.get(label) ?? [];
    stratum.push(item);
    strata.set(label, stratum);
  }
  const random = mulberry32(seed);
  const labels = [...strata.keys()].sort();
  for (const label of labels) shuffle(strata.get(label) as T[], random);
  const taken = new Map(labels.map((l) => [l, 0]));
  const ordered: T[] = [];
  for (let k = 1; k <= items.length; k++) {
    // The label furthest behind its proportional share of the first k items goes next.
    let next = labels[0] as string;
    let deficit = Number.NEGATIVE_INFINITY;
    for (const label of labels) {
      const size = (strata.get(label) as T[]).length;
      const behind = (k * size) / items.length - (taken.get(label) as number);
      if ((taken.get(label) as number) < size && behind > deficit) {
        next = label;
        deficit = behind;
      }
    }
    const index = taken.get(next) as number;
    ordered.push((strata.get(next) as T[])[index] as T);
    taken.set(next, index + 1);
  }
  return ordered;
}

/** The first `count` items of {@link stratifiedOrder}: a deterministic sample stratified by label. */
export function stratifiedSample<T>(
  items: readonly T[],
  labelOf: (item: T) => string,
  count: number,
  seed = 1,
): T[] {
  return stratifiedOrder(items, labelOf, seed).slice(0, count);
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
}
