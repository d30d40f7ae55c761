import type { Envelope } from '../core/envelope';
import type { InferenceRequest } from '../core/inference';
import { inputProblem, type TaskInputSpec } from '../core/task/inputs';

/** What a tier needs to know of the task it serves (from its manifest). */
export interface ServedTask {
  readonly id: string;
  /** In the order of every model's output. */
  readonly labels: readonly string[];
  readonly input: TaskInputSpec;
}

export type RequestProblemCode = 'WrongTask' | 'InputMismatch' | 'UnknownLabel';

/**
 * Why a well-formed request cannot go to this task's models, or undefined when it can. Each is
 * poison (the same request fails the same way every time), so it is dead-lettered at once with a
 * reason that names the field, what it holds and what to send instead.
 */
export function requestProblem(
  envelope: Envelope,
  request: InferenceRequest,
  task: ServedTask,
): { errorCode: RequestProblemCode; errorMessage: string } | undefined {
  // No task: the request belongs to the stage's first task, which routing sent here.
  if (envelope.task !== undefined && envelope.task !== task.id) {
    return {
      errorCode: 'WrongTask',
      errorMessage: `detail.task: this function serves task ${task.id}, the request is for task ${envelope.task}; check the stage's routing for task ${envelope.task}`,
    };
  }
  // A claim always resolves to text; its kind is checked now, its content once it is read.
  const input =
    request.features !== undefined ? { features: request.features } : { text: request.text ?? '' };
  const problem = inputProblem(input, task.input);
  if (problem) {
    return { errorCode: 'InputMismatch', errorMessage: `detail.payload: ${problem} (task ${task.id})` };
  }
  const expected = request.expectedLabel;
  if (expected !== undefined && !task.labels.includes(expected)) {
    return {
      errorCode: 'UnknownLabel',
      errorMessage: `detail.payload.expectedLabel: ${JSON.stringify(expected)} is not a label of task ${task.id} (${task.labels.join(', ')})`,
    };
  }
  return undefined;
}
