import type { FunctionModel } from '../model';

// The sample generator lives in functions/producer (the CLI's `inferbus events sample` uses it too).
export {
  type SampleEntry,
  type SampleKind,
  type SampleOptions,
  sampleEntries,
  type TaskSamples,
} from '../../functions/producer/samples';
export { loadTaskSamples } from '../../functions/tasks/samples';

/**
 * The tasks a synthesized stage serves, in template order: the INFERBUS_TASK of its entry-tier
 * functions (INFERBUS_TIER 1). Throws when there is none, naming what to do.
 */
export function servedTasks(functions: readonly Pick<FunctionModel, 'environment'>[]): string[] {
  const tasks = new Set<string>();
  for (const fn of functions) {
    const { INFERBUS_TASK: task, INFERBUS_TIER: tier } = fn.environment;
    if (task && tier === '1') tasks.add(task);
  }
  if (tasks.size === 0) {
    throw new Error(
      'no function of the template serves a task (none has INFERBUS_TASK with INFERBUS_TIER=1); synthesize the stage again (npx cdk synth)',
    );
  }
  return [...tasks];
}
