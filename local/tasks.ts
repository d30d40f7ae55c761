import { entryRouteOf } from '../functions/core/routing';
import type { TemplateModel } from './model';

/** One task the template serves, read back from its functions' environment and its entry rules. */
export interface ServedTask {
  readonly id: string;
  /** Takes the requests that name no task (the stage's first task). */
  readonly isDefault: boolean;
  /** Cheapest first. */
  readonly tiers: readonly { readonly tier: number; readonly model: string; readonly functionName: string }[];
}

/**
 * The tasks of a synthesized stage: every function with `INFERBUS_TASK` and `INFERBUS_TIER` is a
 * tier of its task; the entry rule that also takes requests without `detail.task` marks the
 * default task. The default task comes first, then the others by id.
 */
export function servedTasks(model: TemplateModel): ServedTask[] {
  const tiers = new Map<string, { tier: number; model: string; functionName: string }[]>();
  for (const fn of model.functions) {
    const task = fn.environment.INFERBUS_TASK;
    const tier = Number(fn.environment.INFERBUS_TIER);
    if (!task || !Number.isInteger(tier)) continue;
    const list = tiers.get(task) ?? [];
    list.push({ tier, model: fn.environment.MODEL_NAME ?? '?', functionName: fn.name });
    tiers.set(task, list);
  }
  const defaults = new Set(
    model.rules
      .map((rule) => entryRouteOf(rule.eventPattern))
      .flatMap((route) => (route?.isDefault ? [route.task] : [])),
  );
  return [...tiers.entries()]
    .map(([id, list]) => ({ id, isDefault: defaults.has(id), tiers: list.sort((a, b) => a.tier - b.tier) }))
    .sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** `spam (default): tier1 → tier2` */
export function describeTask(task: ServedTask): string {
  return `${task.id}${task.isDefault ? ' (default)' : ''}: ${task.tiers.map((t) => t.model).join(' → ')}`;
}
