/**
 * Shape checks shared by the local AWS JSON endpoints (EventBridge, Athena, SQS). AWS's JSON
 * deserializer refuses a member of the wrong JSON type before the operation sees the request,
 * with HTTP 400 `SerializationException` and a message naming the JSON token (e.g. "NUMBER_VALUE
 * can not be converted to a String", "Start of structure or map found where not expected."); an
 * explicit null reads as an absent member. The local messages add the member's path, so the
 * caller knows what to fix.
 */

export type ExpectedShape = 'String' | 'Integer' | 'Boolean' | 'Timestamp' | 'List' | 'Structure';

/** Why `value` cannot be read as `expected`, as AWS words it, or undefined when it can. */
export function shapeMismatch(value: unknown, expected: ExpectedShape): string | undefined {
  if (value === undefined || value === null) return undefined;
  const ok =
    expected === 'String'
      ? typeof value === 'string'
      : expected === 'Integer'
        ? typeof value === 'number' && Number.isInteger(value)
        : expected === 'Boolean'
          ? typeof value === 'boolean'
          : expected === 'Timestamp'
            ? typeof value === 'number' || typeof value === 'string'
            : expected === 'List'
              ? Array.isArray(value)
              : typeof value === 'object' && !Array.isArray(value);
  if (ok) return undefined;
  if (Array.isArray(value)) return 'Start of list found where not expected';
  if (typeof value === 'object') return 'Start of structure or map found where not expected.';
  const token =
    typeof value === 'number'
      ? 'NUMBER_VALUE'
      : typeof value === 'boolean'
        ? 'BOOLEAN_VALUE'
        : 'VALUE_STRING';
  return `${token} can not be converted to ${expected === 'Integer' ? 'an Integer' : `a ${expected}`}`;
}

/** `shapeMismatch` with the member's path appended, or undefined when the value fits. */
export function memberShapeError(path: string, value: unknown, expected: ExpectedShape): string | undefined {
  const mismatch = shapeMismatch(value, expected);
  return mismatch === undefined ? undefined : `${mismatch} (at ${path}: expected ${expected})`;
}

/**
 * The handler for `target` (`<prefix><Operation>`), looked up in a Map so that names such as
 * `constructor`, `__proto__` or `toString` are unknown operations, not Object.prototype members.
 */
export function operationFor<H>(
  table: ReadonlyMap<string, H>,
  prefix: string,
  target: string | undefined,
): H | undefined {
  if (!target?.startsWith(prefix)) return undefined;
  return table.get(target.slice(prefix.length));
}
