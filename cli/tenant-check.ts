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
): { routable: ParsedEntry[]; refused: RefusedEntry[] } {
  const routable: ParsedEntry[] = [];
  const refused: RefusedEntry[] = [];
  for (const parsed of entries) {
    const { entry } = parsed;
    if (entry.DetailType !== DetailType.InferenceRequested || entry.EventBusName !== stageBus) {
      routable.push(parsed);
      continue;
    }
    const unrouted = unroutedReason(entry.Source, tenantOf(entry.Detail), routedTenants);
    if (unrouted === undefined) routable.push(parsed);
    else {
      refused.push({
        ...parsed,
        reason:
          `${unrouted.code}: ${unrouted.message}; not sent. Add the tenant to the stage config and deploy, ` +
          'or pass --allow-unknown-tenants to send it anyway (it will wait in the unrouted queue)',
      });
    }
  }
  return { routable, refused };
}

function tenantOf(detail: string | undefined): unknown {
  try {
    return (JSON.parse(detail ?? '') as { tenant?: unknown } | null)?.tenant;
  } catch {
    return undefined;
  }
}
