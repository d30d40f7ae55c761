import type { z } from 'zod';
import { type StageConfig, stageConfigSchema } from './schema';
import { stages } from './stages';

/** A configuration that cannot be deployed; the message lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Resolve and validate a stage. `override` (for example a JSON file passed with `-c config=`)
 * replaces the built-in stage's fields wholesale at the top level.
 */
export function loadStageConfig(stage: string, override?: Record<string, unknown>): StageConfig {
  const base: Record<string, unknown> | undefined = Object.hasOwn(stages, stage)
    ? stages[stage as keyof typeof stages]
    : undefined;
  if (!base && !override) {
    throw new ConfigError(
      `Unknown stage "${stage}". Known stages: ${Object.keys(stages).join(', ')}. ` +
        'Pick one with -c stage=NAME, or pass a full configuration with -c config=path.json.',
    );
  }
  return parseStageConfig({ ...base, ...override, stage: override?.stage ?? base?.stage ?? stage });
}

export function parseStageConfig(input: unknown): StageConfig {
  const result = stageConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const stage = (input as { stage?: unknown } | null)?.stage;
  const problems = result.error.issues.map((issue) => `  - ${describeIssue(issue, input)}`);
  throw new ConfigError(
    `Invalid inferbus configuration for stage "${String(stage)}":\n${problems.join('\n')}`,
  );
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = formatConfigPath(issue.path) || '(root)';
  const value = valueAt(input, issue.path);
  const given = value === undefined ? 'missing' : `got ${JSON.stringify(value)}`;
  return `${path}: ${issue.message} (${given})`;
}

/** `['tasks', 1, 'tiers', 0, 'threshold']` → `tasks[1].tiers[0].threshold`. */
export function formatConfigPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
