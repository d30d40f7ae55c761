import { compositeMemberText, memberText } from '../json-members.js';
import { applyInputPath, inputPathReader, parseInputPath } from './input-path.js';
import { jsonOf, NEEDS_ESCAPE } from './json-text.js';

export { applyInputPath } from './input-path.js';

/**
 * EventBridge input transformers (InputPathsMap + InputTemplate), following the user guide's
 * "Amazon EventBridge input transformation" page:
 * - a variable placed outside quotes in a JSON template renders as JSON (strings get quotes);
 *   inside a quoted string it is inserted as is, without escaping (EventBridge does not escape it);
 * - "If you specify a variable to match a JSON path that doesn't exist in the event, that variable
 *   isn't created and won't appear in the output" (Common Issues): it renders as nothing, inside
 *   quotes or out. Outside quotes in a JSON template that leaves invalid JSON (`{"a":}`); what
 *   EventBridge sends then is not documented, so the delivery fails with InputTransformationError
 *   (to the target's DLQ, INVALID_PARAMETER, not retried) rather than guess a `null`;
 * - predefined variables: aws.events.rule-arn, aws.events.rule-name, aws.events.event.ingestion-time,
 *   aws.events.event (the event without `detail`) and aws.events.event.json (the whole event).
 */

export interface InputTransformer {
  readonly inputPathsMap?: Readonly<Record<string, string>>;
  readonly inputTemplate: string;
}

export interface TransformContext {
  readonly ruleArn: string;
  readonly ruleName: string;
  /** When EventBridge received the event; rendered as ISO 8601. */
  readonly ingestionTime: Date | string;
  /** The exact event text as received, when available (else the event is serialized). */
  readonly eventJson?: string;
  /**
   * The event's detail as minified JSON text, when available: an object or array at `$.detail` or
   * `$.detail.<name>` is spliced from it as sent rather than serialized again.
   */
  readonly detailJson?: string;
  /** Where the object and array members of `detailJson` lie, when known (see `checkEntry`). */
  readonly detailMembers?: readonly number[];
}

export class InvalidInputTransformerError extends Error {
  override readonly name = 'InvalidInputTransformerError';
  readonly code = 'ValidationException';
}

/** A JSON template whose rendering is not JSON because variables had no value in this event. */
export class InputTransformationError extends Error {
  override readonly name = 'InputTransformationError';
}

export const MAX_INPUT_PATHS = 100;
export const MAX_INPUT_TEMPLATE_LENGTH = 8192;
const PREDEFINED = new Set([
  'aws.events.rule-arn',
  'aws.events.rule-name',
  'aws.events.event',
  'aws.events.event.ingestion-time',
  'aws.events.event.json',
]);
const VARIABLE_NAME = /^[A-Za-z0-9_-]+$/;
/** `$.detail` or `$.detail.<name>`: paths whose value text can come from the detail text. */
const DETAIL_PATH = /^\$\.detail(?:\.([A-Za-z0-9_\-/:@]+))?$/;
const PLACEHOLDER = /<([A-Za-z0-9_.-]+)>/y;

export function validateInputTransformer(transformer: InputTransformer): void {
  const paths = Object.entries(transformer.inputPathsMap ?? {});
  const fail = (message: string): never => {
    throw new InvalidInputTransformerError(message);
  };
  if (paths.length > MAX_INPUT_PATHS) {
    fail(`InputPathsMap has ${paths.length} entries; at most ${MAX_INPUT_PATHS} are allowed`);
  }
  for (const [name, path] of paths) {
    if (PREDEFINED.has(name) || name.toLowerCase().startsWith('aws.')) {
      fail(`InputPathsMap key ${name} is reserved and cannot be used`);
    }
    if (!VARIABLE_NAME.test(name)) fail(`InputPathsMap key ${name} is not a valid variable name`);
    if (parseInputPath(path) === null)
      fail(`InputPathsMap value ${path} for ${name} is not a valid JSON path`);
  }
  const template = transformer.inputTemplate;
  if (template.length === 0 || template.length > MAX_INPUT_TEMPLATE_LENGTH) {
    fail(`InputTemplate must be between 1 and ${MAX_INPUT_TEMPLATE_LENGTH} characters`);
  }
}

type Resolved =
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'raw-json'; readonly text: string };

/** A variable's value for one event; null when the template names no such variable. */
function resolve(
  map: Readonly<Record<string, string>>,
  name: string,
  event: unknown,
  context: TransformContext,
): Resolved | null {
  switch (name) {
    case 'aws.events.rule-arn':
      return { kind: 'value', value: context.ruleArn };
    case 'aws.events.rule-name':
      return { kind: 'value', value: context.ruleName };
    case 'aws.events.event.ingestion-time':
      return { kind: 'value', value: ingestionTimeText(context.ingestionTime) };
    case 'aws.events.event.json':
      return { kind: 'raw-json', text: context.eventJson ?? JSON.stringify(event) };
    case 'aws.events.event': {
      const { detail: _detail, ...rest } = (
        typeof event === 'object' && event !== null ? event : {}
      ) as Record<string, unknown>;
      return { kind: 'raw-json', text: JSON.stringify(rest) };
    }
  }
  if (!Object.hasOwn(map, name)) return null;
  return { kind: 'value', value: applyInputPath(map[name] as string, event) };
}

let lastIngestionMs = Number.NaN;
let lastIngestionText = '';

/** ISO 8601 text of the ingestion time; the last one is kept, as a burst of events shares it. */
function ingestionTimeText(time: Date | string): string {
  if (typeof time === 'string') return time;
  const ms = time.getTime();
  if (ms !== lastIngestionMs) {
    lastIngestionText = time.toISOString();
    lastIngestionMs = ms;
  }
  return lastIngestionText;
}

function renderOutsideString(resolved: Resolved): string {
  if (resolved.kind === 'raw-json') return resolved.text;
  return resolved.value === undefined ? '' : JSON.stringify(resolved.value);
}

function renderInsideString(resolved: Resolved): string {
  if (resolved.kind === 'raw-json') return resolved.text;
  const value = resolved.value;
  if (value === undefined || value === null) return value === null ? 'null' : '';
  if (typeof value === 'string') return value;
  // Objects and arrays lose their inner quotes so the surrounding string stays valid.
  return JSON.stringify(value).replaceAll('"', '');
}

function looksLikeJson(template: string): boolean {
  const t = template.trim();
  return (t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'));
}

/** Renders one placeholder; undefined when this event needs the general renderer instead. */
type Piece = (event: unknown, context: TransformContext) => string | undefined;

/** A template compiled once: literal text and placeholders, and a fast path when possible. */
interface CompiledTransformer {
  /** The validation error, thrown on every use as before. */
  readonly invalid?: Error;
  readonly json: boolean;
  /**
   * For a JSON template: the minified template split around its placeholders, so rendering is a
   * concatenation that gives what `JSON.stringify(JSON.parse(rendered))` would (up to equivalent
   * escapes and number spellings in detail text spliced as sent). Outside strings every piece is
   * minified JSON already; inside a string a value is used only when it has nothing JSON would
   * escape (else that event takes the general renderer).
   */
  readonly fast?: {
    readonly literals: readonly string[];
    readonly pieces: readonly Piece[];
  };
}

const compiled = new WeakMap<InputTransformer, CompiledTransformer>();

function compile(transformer: InputTransformer): CompiledTransformer {
  let c = compiled.get(transformer);
  if (c === undefined) {
    try {
      validateInputTransformer(transformer);
      const json = looksLikeJson(transformer.inputTemplate);
      c = { json, ...(json ? { fast: fastPath(transformer) } : {}) };
    } catch (error) {
      c = { invalid: error as Error, json: false };
    }
    compiled.set(transformer, c);
  }
  return c;
}

/** The split minified template, or undefined when the template needs the general renderer. */
function fastPath(transformer: InputTransformer): CompiledTransformer['fast'] {
  const template = transformer.inputTemplate;
  const map = transformer.inputPathsMap ?? {};
  // Outside a string a placeholder becomes a string sentinel; inside one, bare sentinel text.
  const sentinel = (i: number, inString: boolean) =>
    inString ? `@inferbus-ph-${i}@` : `"@inferbus-ph-${i}@"`;
  if (template.includes('inferbus-ph-')) return undefined;
  const placeholders: { name: string; inString: boolean }[] = [];
  let withSentinels = '';
  let inString = false;
  for (let i = 0; i < template.length; ) {
    const ch = template[i] as string;
    if (ch === '<') {
      PLACEHOLDER.lastIndex = i;
      const m = PLACEHOLDER.exec(template);
      const name = m?.[1];
      if (m !== null && name !== undefined && (PREDEFINED.has(name) || Object.hasOwn(map, name))) {
        // The event text from the caller may not be minified; the general renderer minifies it.
        if (name === 'aws.events.event.json') return undefined;
        withSentinels += sentinel(placeholders.length, inString);
        placeholders.push({ name, inString });
        i += m[0].length;
        continue;
      }
    }
    if (ch === '\\' && inString) {
      withSentinels += ch + (template[i + 1] ?? '');
      i += 2;
      continue;
    }
    if (ch === '"') inString = !inString;
    withSentinels += ch;
    i++;
  }
  let minified: string;
  try {
    minified = JSON.stringify(JSON.parse(withSentinels));
  } catch {
    return undefined;
  }
  // Each placeholder must survive exactly once, in order; one outside strings as a value (not a key).
  const literals: string[] = [];
  let from = 0;
  for (const [i, { inString: inside }] of placeholders.entries()) {
    const text = sentinel(i, inside);
    const at = minified.indexOf(text, from);
    if (at < 0 || minified.indexOf(text, at + 1) >= 0) return undefined;
    const end = at + text.length;
    if (!inside && minified[end] === ':') return undefined;
    literals.push(minified.slice(from, at));
    from = end;
  }
  literals.push(minified.slice(from));
  const pieces = placeholders.map(({ name, inString: inside }) =>
    inside ? insideStringPiece(map, name) : outsideStringPiece(map, name),
  );
  return { literals, pieces };
}

/** A placeholder inside a JSON string: its bare text, when JSON would not escape any of it. */
function insideStringPiece(map: Readonly<Record<string, string>>, name: string): Piece {
  return (event, context) => {
    const text = renderInsideString(resolve(map, name, event, context) as Resolved);
    return NEEDS_ESCAPE.test(text) ? undefined : text;
  };
}

/** A placeholder outside strings: its value as minified JSON. */
function outsideStringPiece(map: Readonly<Record<string, string>>, name: string): Piece {
  if (PREDEFINED.has(name)) {
    return (event, context) => renderOutsideString(resolve(map, name, event, context) as Resolved);
  }
  const path = map[name] as string;
  const read = inputPathReader(path);
  const detailPath = DETAIL_PATH.exec(path);
  // A missing path renders as nothing: the general renderer decides what that makes of the JSON.
  if (detailPath === null)
    return (event) => {
      const value = read(event);
      return value === undefined ? undefined : jsonOf(value);
    };
  const member = detailPath[1];
  return (event, context) => {
    const value = read(event);
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null) return jsonOf(value);
    return detailTextOf(member, value, context) ?? JSON.stringify(value);
  };
}

/**
 * The text of an object or array at `$.detail` (no `member`) or `$.detail.<member>`, as sent;
 * undefined when it is not at hand (no minified detail text, or a scalar: cheap to serialize).
 */
function detailTextOf(member: string | undefined, value: unknown, context: TransformContext) {
  const detailJson = context.detailJson;
  if (detailJson === undefined || typeof value !== 'object' || value === null) return undefined;
  const text =
    member === undefined
      ? detailJson
      : context.detailMembers === undefined
        ? memberText(detailJson, member)
        : compositeMemberText(detailJson, context.detailMembers, member);
  // The text must be the value found: an object's text starts with {, an array's with [.
  return text !== undefined && text.charCodeAt(0) === (Array.isArray(value) ? 0x5b : 0x7b) ? text : undefined;
}

/** The fast path's rendering, or undefined when a piece needs the general renderer. */
function renderFast(
  fast: NonNullable<CompiledTransformer['fast']>,
  event: unknown,
  context: TransformContext,
): string | undefined {
  const { literals, pieces } = fast;
  let out = literals[0] as string;
  for (let i = 0; i < pieces.length; i++) {
    const piece = (pieces[i] as Piece)(event, context);
    if (piece === undefined) return undefined;
    out += piece;
    out += literals[i + 1] as string;
  }
  return out;
}

/**
 * Renders the transformer's template for one event. JSON templates come back minified when the
 * result is valid JSON; other templates are plain text substitution.
 */
export function applyInputTransformer(
  transformer: InputTransformer,
  event: unknown,
  context: TransformContext,
): string {
  const c = compile(transformer);
  if (c.invalid) throw c.invalid;
  if (c.fast) {
    const rendered = renderFast(c.fast, event, context);
    if (rendered !== undefined) return rendered;
  }
  const map = transformer.inputPathsMap ?? {};
  const template = transformer.inputTemplate;
  const json = c.json;
  let out = '';
  let inString = false;
  const missing: string[] = [];
  for (let i = 0; i < template.length; ) {
    const ch = template[i] as string;
    if (ch === '<') {
      PLACEHOLDER.lastIndex = i;
      const m = PLACEHOLDER.exec(template);
      const resolved = m === null ? null : resolve(map, m[1] as string, event, context);
      if (m !== null && resolved !== null) {
        if (json && !inString && resolved.kind === 'value' && resolved.value === undefined) {
          missing.push(m[1] as string);
        }
        out += json && !inString ? renderOutsideString(resolved) : renderInsideString(resolved);
        i += m[0].length;
        continue;
      }
    }
    if (json && ch === '\\' && inString) {
      out += ch + (template[i + 1] ?? '');
      i += 2;
      continue;
    }
    if (ch === '"') inString = !inString;
    out += ch;
    i++;
  }
  if (!json) return out;
  try {
    return JSON.stringify(JSON.parse(out));
  } catch {
    if (missing.length === 0) return out;
    throw new InputTransformationError(
      `The InputTemplate rendered invalid JSON: ${missing.map((name) => `<${name}> (${map[name]})`).join(', ')} ` +
        'had no value in this event, and EventBridge leaves out a variable whose path does not exist. ' +
        'Use paths every matched event has (narrow the rule with "exists" filters) or quote the placeholder.',
    );
  }
}
