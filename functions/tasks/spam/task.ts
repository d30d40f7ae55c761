import type { LabelledExample, TaskDefinition } from '../definition';
import { labelName, loadSplits, type Message } from './dataset';
import { SPLIT_BOUNDS, SPLIT_SALT } from './split';

const example = (m: Message): LabelledExample => ({
  id: m.key,
  input: { text: m.text },
  label: labelName(m.label),
  // The corpus group (easy-ham-1, spam-2, ...): where the message came from.
  group: m.key.slice(0, m.key.indexOf('/')),
});

/** Message triage on the SpamAssassin corpus: ham or spam. */
const spam: TaskDefinition = {
  id: 'spam',
  splitMethod: `fnv1a32("${SPLIT_SALT}" + "<group>/<id>") % 100: [0,${SPLIT_BOUNDS.train}) train, [${SPLIT_BOUNDS.train},${SPLIT_BOUNDS.validation}) validation, rest test`,
  async loadSplits() {
    const splits = loadSplits();
    return {
      train: splits.train.map(example),
      validation: splits.validation.map(example),
      test: splits.test.map(example),
    };
  },
};

export default spam;
