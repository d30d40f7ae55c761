import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as z from 'zod/mini';
import type { TaskInput } from '../core/task/inputs';

/**
 * The development side of a task: the labelled data that training, calibration, replay, cost, the
 * demo and the benchmarks use. Serving never needs it (the manifest carries everything serving
 * needs), so it is not in any handler bundle.
 *
 * A task lives in `functions/tasks/<id>/` and declares its data one of two ways:
 * - `task.ts` whose default export is a `TaskDefinition` (the shipped tasks: their datasets are
 *   npm packages with their own split rules);
 * - or files alone: `train.ndjson`, `validation.ndjson` and `test.ndjson`, one
 *   `{"id", "label", "text"}` or `{"id", "label", "features": [...]}` object per line.
 */
export interface LabelledExample {
  readonly id: string;
  readonly input: TaskInput;
  readonly label: string;
  /** What must stay on one side of a split (a mote, a mailbox); informational. */
  readonly group?: string;
}

export interface TaskSplits {
  readonly train: readonly LabelledExample[];
  readonly validation: readonly LabelledExample[];
  readonly test: readonly LabelledExample[];
}

export interface TaskDefinition {
  readonly id: string;
  /** The split method in words, for the manifest and the model card. */
  readonly splitMethod: string;
  loadSplits(): Promise<TaskSplits>;
}

export class TaskDefinitionError extends Error {
  override name = 'TaskDefinitionError';
}

/** `functions/tasks/`, where the shipped tasks live. */
export const TASKS_DIR = dirname(fileURLToPath(import.meta.url));

const exampleLineSchema = z.union([
  z.object({ id: z.string().check(z.minLength(1)), label: z.string(), text: z.string() }),
  z.object({ id: z.string().check(z.minLength(1)), label: z.string(), features: z.array(z.number()) }),
]);

/** Loads the task `id` from `<tasksDir>/<id>/`: its `task.ts`, else its three NDJSON splits. */
export async function loadTaskDefinition(id: string, tasksDir: string = TASKS_DIR): Promise<TaskDefinition> {
  const dir = join(tasksDir, id);
  if (!existsSync(dir)) {
    throw new TaskDefinitionError(
      `no task folder ${dir}; a task needs functions/tasks/<id>/ with task.ts or train/validation/test.ndjson`,
    );
  }
  const module = join(dir, 'task.ts');
  if (existsSync(module)) {
    const loaded = (await import(pathToFileURL(module).href)) as { default?: TaskDefinition };
    const definition = loaded.default;
    if (!definition || typeof definition.loadSplits !== 'function' || definition.id !== id) {
      throw new TaskDefinitionError(`${module} must default-export a TaskDefinition whose id is "${id}"`);
    }
    return definition;
  }
  const files = ['train', 'validation', 'test'].map((split) => join(dir, `${split}.ndjson`));
  const missing = files.filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new TaskDefinitionError(`task ${id} has no task.ts and lacks ${missing.join(', ')}`);
  }
  return {
    id,
    splitMethod: 'the files train.ndjson, validation.ndjson and test.ndjson as given',
    async loadSplits() {
      const [train, validation, test] = await Promise.all(files.map(readExamples));
      return { train: train ?? [], validation: validation ?? [], test: test ?? [] };
    },
  };
}

/** Reads one NDJSON split; a bad line is an error naming the file and line. */
export async function readExamples(file: string): Promise<LabelledExample[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const examples: LabelledExample[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new TaskDefinitionError(`${file}:${i + 1}: not JSON`);
    }
    const parsed = exampleLineSchema.safeParse(value);
    if (!parsed.success) {
      throw new TaskDefinitionError(
        `${file}:${i + 1}: needs {"id", "label", "text"} or {"id", "label", "features": [numbers]}`,
      );
    }
    const { id, label } = parsed.data;
    examples.push({
      id,
      label,
      input: 'text' in parsed.data ? { text: parsed.data.text } : { features: parsed.data.features },
    });
  });
  return examples;
}
