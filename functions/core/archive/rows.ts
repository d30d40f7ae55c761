import { type ArchiveRuleDefinition, archiveRules } from './rules';

/**
 * The archive row of one event, byte for byte what its archive rule's input transformer makes
 * (rules.ts): the tier handlers write these rows themselves for the requests and results that
 * travel in packs, which the rules leave out. The row is that of the request (or result) as a
 * single event: the pack's EventBridge fields with the request as its detail.
 *
 * The rule is chosen by the rules' own patterns, read by a matcher of only the operators they use
 * (detail-type lists, `anything-but`, `exists`, `$or`); any other operator is refused loudly, so a
 * new kind of archive rule cannot silently get rows it would not make.
 */

/** An EventBridge event as a rule sees it. */
export type ArchivableEvent = Readonly<Record<string, unknown>>;

export class ArchiveRowError extends Error {
  override name = 'ArchiveRowError';
}

let compiled: readonly ArchiveRuleDefinition[] | undefined;
const rules = () => {
  compiled ??= archiveRules().map((rule) => ({ ...rule, eventPattern: withoutPackExclusion(rule) }));
  return compiled;
};

/**
 * The row for `event`, arrived at EventBridge at `ingestionTime` (ISO 8601; for a pack's
 * requests the pack's). Throws an ArchiveRowError when no rule, or more than one, takes it.
 */
export function archiveRowOf(event: ArchivableEvent, ingestionTime: string): string {
  const matched = rules().filter((rule) => matches(rule.eventPattern, event));
  if (matched.length !== 1) {
    throw new ArchiveRowError(
      `archive row of event ${String(event.id)}: ${matched.length} archive rules match it (${matched.map((r) => r.id).join(', ') || 'none'}), the rules must partition the bus; see functions/core/archive/rules.ts`,
    );
  }
  return renderRow(matched[0] as ArchiveRuleDefinition, event, ingestionTime);
}

/** The rule's transformer on `event`: path variables as JSON values, predefined ones as text. */
function renderRow(rule: ArchiveRuleDefinition, event: ArchivableEvent, ingestionTime: string): string {
  const fields: string[] = [];
  for (const name of rule.columns) {
    const path = rule.inputPathsMap[name];
    if (path === undefined) {
      if (!rule.inputTemplate.includes(`"${name}":"<aws.events.event.ingestion-time>"`)) {
        throw new ArchiveRowError(`archive column ${name}: no path and not the ingestion time`);
      }
      fields.push(`${JSON.stringify(name)}:${JSON.stringify(ingestionTime)}`);
      continue;
    }
    const value = valueAt(event, path);
    if (value === undefined) {
      throw new ArchiveRowError(
        `archive rule ${rule.id}: its pattern guarantees ${path}, event ${String(event.id)} lacks it`,
      );
    }
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(value)}`);
  }
  return `{${fields.join(',')}}`;
}

function valueAt(event: unknown, path: string): unknown {
  let value: unknown = event;
  for (const key of path.slice(2).split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The pack exclusion is moot here: this function is given single events only. */
function withoutPackExclusion(rule: ArchiveRuleDefinition): Record<string, unknown> {
  const pattern = structuredClone(rule.eventPattern) as Record<string, unknown>;
  const detail = pattern.detail as Record<string, unknown> | undefined;
  if (detail) {
    delete detail.packId;
    if (Object.keys(detail).length === 0) delete pattern.detail;
  }
  return pattern;
}

/** Whether `event` matches `pattern`, for the operators the archive rules use. */
function matches(pattern: Record<string, unknown>, event: unknown): boolean {
  for (const [key, condition] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!(condition as Record<string, unknown>[]).some((branch) => matches(branch, event))) return false;
      continue;
    }
    const value =
      typeof event === 'object' && event !== null && !Array.isArray(event)
        ? (event as Record<string, unknown>)[key]
        : undefined;
    if (Array.isArray(condition)) {
      if (!condition.some((matcher) => matchesLeaf(matcher, value))) return false;
    } else if (!matches(condition as Record<string, unknown>, value)) return false;
  }
  return true;
}

/** EventBridge matches leaves: a scalar, or any scalar of an array (nested too); objects are not leaves. */
function matchesLeaf(matcher: unknown, value: unknown): boolean {
  const leaves = (Array.isArray(value) ? value.flat(Number.POSITIVE_INFINITY) : [value]).filter(
    (v) => v !== undefined && (typeof v !== 'object' || v === null),
  );
  if (typeof matcher === 'string') return leaves.includes(matcher);
  if (typeof matcher === 'object' && matcher !== null && !Array.isArray(matcher)) {
    const entries = Object.entries(matcher);
    const [operator, operand] = entries[0] ?? [];
    if (entries.length === 1 && operator === 'exists') return leaves.length > 0 === operand;
    if (entries.length === 1 && operator === 'anything-but' && Array.isArray(operand)) {
      return leaves.length > 0 && leaves.every((leaf) => !operand.includes(leaf));
    }
  }
  throw new ArchiveRowError(
    `archive rows: the archive rules use an operator this matcher does not read (${JSON.stringify(matcher)}); teach functions/core/archive/rows.ts that operator`,
  );
}
