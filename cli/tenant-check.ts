import { DetailType } from '../functions/core/events';
import type { PutEventsEntry } from '../functions/core/put-events';
import { unroutedReason } from '../functions/core/routing';

export interface ParsedEntry {
  readonly line: number;
  readonly entry: PutEventsEntry;
}

export interface RefusedEntry extends ParsedEntry {
  readonly reason: string;
}

/**
 * Splits entries into those a tenant rule of the stage will route and the InferenceRequested
 * entries for the stage's bus that it will not (unknown tenant, source/tenant mismatch, no
 * tenant), which the bus would accept and park in the unrouted queue. `routedTenants` come from
 * the synthesized template (`readStageDeployment`). Entries for other buses or detail types pass.
 */
export function checkTenants(
  entries: readonly ParsedEntry[],
  routedTenants: readonly string[],
  stageBus: string,
  /** The stage's tasks, the default first (`readStageDeployment().routedTasks`); unknown: any task passes. */
  routedTasks?: readonly string[],
): { routable: ParsedEntry[]; refused: RefusedEntry[] } {
  const routable: ParsedEntry[] = [];
  const refused: RefusedEntry[] = [];
  for (const parsed of entries) {
    const { entry } = parsed;
    if (entry.DetailType !== DetailType.InferenceRequested || entry.EventBusName !== stageBus) {
      routable.push(parsed);
      continue;
    }
    const detail = detailOf(entry.Detail);
    const unrouted = unroutedReason(entry.Source, detail?.tenant, detail?.task, {
      tenants: routedTenants,
      ...(routedTasks?.length ? { tasks: routedTasks } : {}),
    });
    if (unrouted === undefined) routable.push(parsed);
    else {
      refused.push({
        ...parsed,
        reason:
          `${unrouted.code}: ${unrouted.message}; not sent. Add the ${unrouted.code === 'UnknownTask' ? 'task' : 'tenant'} to the stage config and deploy, ` +
          'or pass --allow-unknown-tenants to send it anyway (it will wait in the unrouted queue)',
      });
    }
  }
  return { routable, refused };
}

function detailOf(detail: string | undefined): { tenant?: unknown; task?: unknown } | undefined {
  try {
    const parsed = JSON.parse(detail ?? '') as unknown;
    return parsed && typeof parsed === 'object'
      ? (parsed as { tenant?: unknown; task?: unknown })
      : undefined;
  } catch {
    return undefined;
  }
}
