import { DetailType } from '../events';
import type { EventPatternJson } from '../routing';
import { ARCHIVE_COLUMNS, type ArchiveColumn } from './columns';

/**
 * The archive rules: one per shape of event, each with an input transformer that names only paths
 * its pattern guarantees, so no row depends on how EventBridge renders a missing path (the user
 * guide: such a variable "isn't created and won't appear in the output", which leaves an unquoted
 * placeholder as invalid JSON). Columns an event does not fill are left out of its record, and the
 * OpenX JSON SerDe reads an absent key as NULL.
 *
 * The patterns partition the bus, so every event is archived exactly once:
 * - an event without the whole envelope (`detail.id`, `tenant`, ... any leaf missing): its
 *   EventBridge fields only;
 * - an envelope with a detail-type inferbus does not publish: the envelope too;
 * - an envelope of a known detail-type whose payload lacks a field of its shape: the envelope too;
 * - a well-formed event of a known detail-type: every column of its shape, one rule for each
 *   combination of its optional fields being there or not (`exists` is all or nothing per leaf).
 *
 * `exists` matches leaves only (a field holding an object or array of objects does not "exist"),
 * so every guarantee is a leaf; the payload object is guaranteed by a leaf inside it.
 *
 * Packs (a `detail.packId`, functions/core/packing/pack.ts) are left out of every rule: a pack is
 * many requests or results in one event, and the archive keeps one row per request. The tier
 * handlers write those rows themselves (functions/inference/archive-rows.ts), each the record
 * these rules' transformers make for the request as a single event. A pack's `packId` is a
 * string, a leaf, so `exists: false` excludes it (an odd `packId`, an object or null, may still be
 * archived as a row; the handlers dead-letter such a pack as InvalidPack).
 */

export interface ArchiveRuleDefinition {
  /** Unique, PascalCase: the rule's construct id within the archive. */
  readonly id: string;
  readonly description: string;
  readonly eventPattern: EventPatternJson;
  /** Names of the columns this rule's records fill, in table order. */
  readonly columns: readonly string[];
  readonly inputPathsMap: Record<string, string>;
  readonly inputTemplate: string;
}

/** How the well-formed events of one detail-type fill the payload columns. */
interface ArchiveShape {
  readonly detailType: DetailType;
  /** Payload columns (and optional envelope ones, e.g. `task`) every well-formed event of this type fills. */
  readonly columns: readonly string[];
  /** Columns only some fill: each one doubles the shape's rules (with it, without it). */
  readonly optional: readonly string[];
  /**
   * Payload leaves (below `$.detail.payload`) of which every well-formed event has at least one,
   * where `columns` do not already show that the payload is there.
   */
  readonly witnesses?: readonly string[];
}

const RESULT_COLUMNS = [
  'task',
  'source_event_id',
  'tier',
  'label',
  'score',
  'model_version',
  'latency_ms',
  'duplicate',
] as const;

/** What inferbus publishes (functions/core/inference.ts, functions/inference/batch-entries.ts). */
export const ARCHIVE_SHAPES: readonly ArchiveShape[] = [
  {
    detailType: DetailType.InferenceRequested,
    columns: [],
    // Producers may leave the task out (the stage's first task).
    optional: ['task', 'expected_label'],
    witnesses: ['text', 'claim.key', 'features'],
  },
  { detailType: DetailType.EscalationRequested, columns: RESULT_COLUMNS, optional: ['expected_label'] },
  { detailType: DetailType.InferenceCompleted, columns: RESULT_COLUMNS, optional: ['expected_label'] },
  {
    detailType: DetailType.InferenceFailed,
    columns: ['task', 'source_event_id', 'tier', 'error_code', 'error_message'],
    optional: [],
  },
  { detailType: DetailType.SequenceGap, columns: ['task'], optional: [], witnesses: ['missingFrom'] },
];

const DETAIL = '$.detail';
const PAYLOAD = '$.detail.payload';

/** Columns filled from EventBridge's own fields or predefined variables: every event has them. */
export const EVENT_COLUMNS = ARCHIVE_COLUMNS.filter((c) => !c.from.startsWith(`${DETAIL}.`)).map(
  (c) => c.name,
);
/**
 * Envelope leaves only some events carry (`task`: a request may leave it out); each shape lists
 * them as a column of its own, required or optional.
 */
const OPTIONAL_ENVELOPE_COLUMNS = ['task'];
/** Columns filled from the envelope's leaves that every envelope has, `$.detail.<name>`. */
export const ENVELOPE_COLUMNS = ARCHIVE_COLUMNS.filter(
  (c) =>
    c.from.startsWith(`${DETAIL}.`) &&
    !c.from.startsWith(PAYLOAD) &&
    !OPTIONAL_ENVELOPE_COLUMNS.includes(c.name),
).map((c) => c.name);

function columnOf(name: string): ArchiveColumn {
  const found = ARCHIVE_COLUMNS.find((c) => c.name === name);
  if (!found) throw new Error(`archive rules: no archive column is named ${name} (see columns.ts)`);
  return found;
}

const EXISTS = [{ exists: true }];
const ABSENT = [{ exists: false }];

/** `$.detail.payload.claim.key` below `$.detail` → ['payload', 'claim', 'key']. */
const keysBelow = (path: string, base = '$'): string[] =>
  path
    .slice(2)
    .split('.')
    .slice(base === '$' ? 0 : base.slice(2).split('.').length);

/** Deep merge of patterns (their fields AND together); a later one wins where two set one field. */
function merge(...patterns: readonly EventPatternJson[]): EventPatternJson {
  const out: EventPatternJson = {};
  for (const pattern of patterns) {
    for (const [key, value] of Object.entries(pattern)) {
      const here = out[key];
      const nested = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
      out[key] =
        nested(here) && nested(value) ? merge(here as EventPatternJson, value as EventPatternJson) : value;
    }
  }
  return out;
}

/** `matcher` at each of `paths`, nested below `base` as EventBridge spells patterns. */
function at(paths: readonly string[], matcher: unknown, base = '$'): EventPatternJson {
  return merge(
    ...paths.map((path) =>
      keysBelow(path, base).reduceRight<EventPatternJson>(
        (inner, key) => ({ [key]: inner }),
        matcher as never,
      ),
    ),
  );
}

/** `pattern` placed at `base` in the event. */
const under = (base: string, pattern: EventPatternJson): EventPatternJson =>
  keysBelow(base).reduceRight<EventPatternJson>((inner, key) => ({ [key]: inner }), pattern);

/** One pattern when there is one alternative, else `$or` of them (it needs two or more). */
const anyOf = (alternatives: readonly EventPatternJson[]): EventPatternJson =>
  alternatives.length === 1 ? (alternatives[0] as EventPatternJson) : { $or: [...alternatives] };

const ENVELOPE_PATHS = ENVELOPE_COLUMNS.map((name) => columnOf(name).from);
const pathsOf = (names: readonly string[]) => names.map((name) => columnOf(name).from);

/** The record for `columns`: path variables placed unquoted (JSON values), predefined ones quoted. */
function transformerOf(
  columns: readonly string[],
): Pick<ArchiveRuleDefinition, 'inputPathsMap' | 'inputTemplate'> {
  const chosen = ARCHIVE_COLUMNS.filter((c) => columns.includes(c.name));
  const isPath = (c: ArchiveColumn) => c.from.startsWith('$');
  const fields = chosen.map((c) => (isPath(c) ? `"${c.name}":<${c.name}>` : `"${c.name}":"<${c.from}>"`));
  return {
    inputPathsMap: Object.fromEntries(chosen.filter(isPath).map((c) => [c.name, c.from])),
    inputTemplate: `{${fields.join(',')}}`,
  };
}

function rule(
  id: string,
  description: string,
  eventPattern: EventPatternJson,
  columns: readonly string[],
): ArchiveRuleDefinition {
  const ordered = ARCHIVE_COLUMNS.map((c) => c.name).filter((name) => columns.includes(name));
  return { id, description, eventPattern, columns: ordered, ...transformerOf(ordered) };
}

/** Every way to split `items` into [present, absent]. */
function splits(items: readonly string[]): [string[], string[]][] {
  let all: [string[], string[]][] = [[[], []]];
  for (const item of items) {
    all = all.flatMap(([present, absent]): [string[], string[]][] => [
      [[...present, item], absent],
      [present, [...absent, item]],
    ]);
  }
  return all;
}

const pascal = (name: string) => name.replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase());

function shapeRules(shape: ArchiveShape): ArchiveRuleDefinition[] {
  const type = shape.detailType;
  const required = pathsOf(shape.columns);
  const witnesses = (shape.witnesses ?? []).map((leaf) => `${PAYLOAD}.${leaf}`);
  if (!required.some((path) => path.startsWith(`${PAYLOAD}.`)) && witnesses.length === 0) {
    throw new Error(
      `archive shape ${type}: needs a payload column or a witness leaf to guarantee the payload`,
    );
  }
  const envelope = merge({ 'detail-type': [type] }, at(ENVELOPE_PATHS, EXISTS));
  const witnessed =
    witnesses.length === 0 ? {} : under(PAYLOAD, anyOf(witnesses.map((w) => at([w], EXISTS, PAYLOAD))));
  const rules = splits(shape.optional).map(([present, absent]) =>
    rule(
      `${type}${present
        .map(pascal)
        .map((p) => `With${p}`)
        .join('')}`,
      `${type} events${present.length > 0 ? ` with ${present.join(', ')}` : ''}${
        absent.length > 0 ? ` without ${absent.join(', ')}` : ''
      }: every column of the shape`,
      merge(
        envelope,
        at(required, EXISTS),
        at(pathsOf(present), EXISTS),
        at(pathsOf(absent), ABSENT),
        witnessed,
      ),
      [...EVENT_COLUMNS, ...ENVELOPE_COLUMNS, 'payload', ...shape.columns, ...present],
    ),
  );
  // The rest of this detail-type with a whole envelope: a payload leaf of the shape is missing.
  const missing = [
    ...required.map((path) => at([path], ABSENT, DETAIL)),
    ...(witnesses.length > 0 ? [at(witnesses, ABSENT, DETAIL)] : []),
  ];
  rules.push(
    rule(
      `${type}Incomplete`,
      `${type} events whose payload lacks a field inferbus always publishes: envelope columns`,
      merge(envelope, under(DETAIL, anyOf(missing))),
      [...EVENT_COLUMNS, ...ENVELOPE_COLUMNS],
    ),
  );
  return rules;
}

/** No pack: `detail.packId` absent (see the module comment). */
export const NOT_A_PACK: EventPatternJson = { detail: { packId: ABSENT } };

/** The archive's rules, whose patterns partition every event a bus can carry that is not a pack. */
export function archiveRules(): ArchiveRuleDefinition[] {
  return eventRules().map((definition) => ({
    ...definition,
    eventPattern: merge(definition.eventPattern, NOT_A_PACK),
  }));
}

function eventRules(): ArchiveRuleDefinition[] {
  return [
    rule(
      'NoEnvelope',
      'Events without a complete inferbus envelope in their detail: EventBridge fields only',
      anyOf(ENVELOPE_PATHS.map((path) => at([path], ABSENT))),
      EVENT_COLUMNS,
    ),
    rule(
      'OtherDetailType',
      'Events with an envelope and a detail-type inferbus does not publish: envelope columns',
      {
        'detail-type': [{ 'anything-but': ARCHIVE_SHAPES.map((s) => s.detailType) }],
        ...at(ENVELOPE_PATHS, EXISTS),
      },
      [...EVENT_COLUMNS, ...ENVELOPE_COLUMNS],
    ),
    ...ARCHIVE_SHAPES.flatMap(shapeRules),
  ];
}
