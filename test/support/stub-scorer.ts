import type { TaskInput } from '../../functions/core/task/inputs';
import type { Scorer } from '../../functions/inference/process-batch';
import type { ServedTask } from '../../functions/inference/request-checks';

/** The spam task as its manifest declares it, for handler tests with stub models. */
export const SPAM_TASK: ServedTask = { id: 'spam', labels: ['ham', 'spam'], input: { kind: 'text' } };

/**
 * A binary model double: `p(input)` is the probability of the second label; `refuse(input)` makes
 * the encoder reject an input with that reason. `down()` true makes the whole run fail.
 */
export function binaryScorer(
  p: (input: TaskInput) => number,
  options: { down?: () => boolean; refuse?: (input: TaskInput) => string | undefined } = {},
): Scorer {
  return {
    modelName: 'test',
    modelVersion: 'abc123',
    async score(inputs) {
      if (options.down?.()) throw new Error('model unavailable');
      const probabilities = new Float32Array(inputs.length * 2).fill(Number.NaN);
      const rejected = new Map<number, string>();
      inputs.forEach((input, i) => {
        const reason = options.refuse?.(input);
        if (reason !== undefined) {
          rejected.set(i, reason);
          return;
        }
        probabilities[2 * i] = 1 - p(input);
        probabilities[2 * i + 1] = p(input);
      });
      return { probabilities, rejected };
    },
  };
}

/** The text of a text input (a test's stub models read text). */
export const textOf = (input: TaskInput): string => ('text' in input ? input.text : '');
