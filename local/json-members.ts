/**
 * Where the members of a JSON object text lie, found in one pass without parsing it: so a consumer
 * that already holds the text (an EventBridge target splicing in a detail member, Firehose keeping
 * a nested value in a string column) can take a member's text as it was written instead of
 * serialising the parsed value again. Shared by the local EventBridge and Firehose.
 */

/** Deepest nesting of objects and arrays in JSON text, ignoring brackets inside strings. */
export function nestingDepth(json: string): number {
  return scanJson(json).depth;
}

/**
 * One pass over JSON text: its deepest nesting; whether it is minified (no whitespace outside
 * strings), i.e. what JSON.stringify of the parsed value would write, up to equivalent escapes and
 * number spellings; and, for a top-level object, where its object and array members lie.
 */
export function scanJson(json: string): { depth: number; minified: boolean; members: number[] } {
  let depth = 0;
  let deepest = 0;
  let minified = true;
  const members: number[] = [];
  let escapedName = false;
  let nameAt = -1;
  let valueAt = -1;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      // A string: jump to its closing quote (one preceded by an even number of backslashes).
      let end = json.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(json, end)) end = json.indexOf('"', end + 1);
      if (end === -1) break; // unterminated: JSON.parse reports it
      if (depth === 1 && json.charCodeAt(end + 1) === 0x3a) {
        nameAt = i;
        escapedName ||= hasBackslash(json, i + 1, end);
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      if (depth === 1) valueAt = i;
      deepest = Math.max(deepest, ++depth);
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth === 1) members.push(nameAt, valueAt, i + 1);
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) minified = false;
  }
  const membersKnown = minified && json.charCodeAt(0) === 0x7b && !escapedName;
  return { depth: deepest, minified, members: membersKnown ? members : [] };
}

function hasBackslash(text: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (text.charCodeAt(k) === 0x5c) return true;
  return false;
}

/**
 * {@link memberText} from the members `scanJson` found, for a member whose value (the last one, as
 * JSON.parse keeps) is an object or an array; undefined when a member name has an escape.
 */
export function compositeMemberText(
  json: string,
  members: readonly number[],
  key: string,
): string | undefined {
  // The last one first, as JSON.parse keeps the last of duplicate keys.
  for (let m = members.length - 3; m >= 0; m -= 3) {
    const nameAt = members[m] as number;
    if (json.charCodeAt(nameAt + key.length + 1) === 0x22 && json.startsWith(key, nameAt + 1)) {
      return json.slice(members[m + 1], members[m + 2]);
    }
  }
  return undefined;
}

/**
 * The text of member `key` of the JSON object in minified `json` (the last one, as JSON.parse keeps
 * the last of duplicate keys); undefined when absent, or when a member name has an escape (its
 * text could spell `key` differently). Lets a target splice a detail member in as it was sent
 * instead of serialising the parsed value again.
 */
export function memberText(json: string, key: string): string | undefined {
  if (json.charCodeAt(0) !== 0x7b) return undefined;
  const name = `"${key}"`;
  let depth = 0;
  let valueStart = -1;
  let found: string | undefined;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      let end = json.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(json, end)) end = json.indexOf('"', end + 1);
      if (end === -1) return undefined;
      if (depth === 1 && json.charCodeAt(end + 1) === 0x3a) {
        if (hasBackslash(json, i + 1, end)) return undefined;
        if (end - i + 1 === name.length && json.startsWith(name, i)) valueStart = end + 2;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d || (c === 0x2c && depth === 1)) {
      if (c !== 0x2c) depth--;
      if (depth <= 1 && valueStart !== -1 && (c === 0x2c || depth === 0)) {
        found = json.slice(valueStart, i);
        valueStart = -1;
      }
    }
  }
  return found;
}

function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  for (let i = at - 1; i >= 0 && text.charCodeAt(i) === 0x5c; i--) backslashes++;
  return backslashes % 2 === 1;
}
