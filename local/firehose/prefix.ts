/**
 * Firehose S3 key naming: `<evaluated prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><ext>`.
 * Prefix expressions are `!{timestamp:<Java DateTimeFormatter pattern>}` (UTC arrival time of the
 * oldest record in the object), `!{firehose:error-output-type}` and `!{firehose:random-string}`.
 */
const EXPRESSION = /!\{([a-zA-Z]+):([^}]*)\}/g;

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** The subset of DateTimeFormatter letters Firehose prefixes use in practice. */
function formatField(letter: string, count: number, date: Date): string {
  switch (letter) {
    case 'y':
      return count === 2 ? pad(date.getUTCFullYear() % 100, 2) : pad(date.getUTCFullYear(), count);
    case 'M':
      return pad(date.getUTCMonth() + 1, count);
    case 'd':
      return pad(date.getUTCDate(), count);
    case 'H':
      return pad(date.getUTCHours(), count);
    case 'm':
      return pad(date.getUTCMinutes(), count);
    case 's':
      return pad(date.getUTCSeconds(), count);
    case 'S':
      return pad(date.getUTCMilliseconds(), 3).slice(0, count).padEnd(count, '0');
    default:
      throw new Error(
        `unsupported timestamp pattern letter '${letter}' in a Firehose prefix: use y, M, d, H, m, s or S, and quote literal text ('T')`,
      );
  }
}

export function formatTimestamp(pattern: string, date: Date): string {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i] as string;
    if (ch === "'") {
      const end = pattern.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in timestamp pattern ${JSON.stringify(pattern)}`);
      out += end === i + 1 ? "'" : pattern.slice(i + 1, end);
      i = end + 1;
    } else if (/[a-zA-Z]/.test(ch)) {
      let j = i;
      while (pattern[j] === ch) j++;
      out += formatField(ch, j - i, date);
      i = j;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

export interface PrefixContext {
  readonly arrival: Date;
  /** Only valid in error output prefixes. */
  readonly errorOutputType?: string;
  readonly randomString?: () => string;
}

export function expandPrefix(prefix: string, context: PrefixContext): string {
  return prefix.replace(EXPRESSION, (_match, namespace: string, value: string) => {
    if (namespace === 'timestamp') return formatTimestamp(value, context.arrival);
    if (namespace === 'firehose' && value === 'error-output-type') {
      if (!context.errorOutputType) {
        throw new Error('!{firehose:error-output-type} is only allowed in the error output prefix');
      }
      return context.errorOutputType;
    }
    if (namespace === 'firehose' && value === 'random-string') {
      return (context.randomString ?? (() => Math.random().toString(36).slice(2, 13)))();
    }
    throw new Error(`unsupported Firehose prefix expression !{${namespace}:${value}}`);
  });
}

/** Throws at startup, not at the first flush, when a prefix cannot be evaluated. */
export function validatePrefix(prefix: string, isErrorPrefix: boolean): void {
  expandPrefix(prefix, { arrival: new Date(0), ...(isErrorPrefix ? { errorOutputType: 'x' } : {}) });
}

export function objectKeySuffix(
  streamName: string,
  version: number,
  arrival: Date,
  uuid: string,
  extension: string,
): string {
  return `${streamName}-${version}-${formatTimestamp('yyyy-MM-dd-HH-mm-ss', arrival)}-${uuid}${extension}`;
}
