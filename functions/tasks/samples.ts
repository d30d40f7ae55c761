import type { TaskSamples } from '../producer/samples';
import { loadTaskDefinition } from './definition';

/**
 * Each task's held-out (test) examples, from its definition in functions/tasks/<id>/: the sample
 * traffic of the demo, `inferbus events sample`, the benchmarks and the fault runs. Dev-time only.
 */
export async function loadTaskSamples(tasks: readonly string[]): Promise<TaskSamples[]> {
  return Promise.all(
    tasks.map(async (task) => {
      const definition = await loadTaskDefinition(task);
      let examples: TaskSamples['examples'];
      try {
        examples = (await definition.loadSplits()).test;
      } catch (cause) {
        throw new Error(
          `task ${task}: cannot load its dataset for sample traffic (${(cause as Error).message}); its dev dependencies come with npm ci`,
          { cause },
        );
      }
      return { task, examples };
    }),
  );
}
