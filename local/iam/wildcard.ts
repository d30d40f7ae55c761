const cache = new Map<string, RegExp>();

/**
 * IAM's wildcard match: `*` is any run of characters, `?` any one character, everything else
 * literal. Actions compare case-insensitively, resources and condition values case-sensitively.
 */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) {
    return ignoreCase ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = cache.get(key);
  if (!regex) {
    const body = pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${body}$`, ignoreCase ? 'is' : 's');
    cache.set(key, regex);
  }
  return regex.test(value);
}

/**
 * ARN match as ArnLike and Resource elements do: the six colon-separated parts compared one by one
 * (a wildcard in one part never spans a colon into the next, except in the resource part, which
 * may itself hold colons).
 */
export function arnMatch(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const p = splitArn(pattern);
  const a = splitArn(arn);
  if (!p || !a) return wildcardMatch(pattern, arn);
  return p.every((part, i) => wildcardMatch(part, a[i] as string));
}

function splitArn(value: string): string[] | undefined {
  const parts = value.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}
