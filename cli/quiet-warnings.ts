/**
 * The AWS SDK warns on every start that versions from 2027 need Node 22. The CLI supports Node 20
 * today (Lambda runs 22), so that one warning is noise at a terminal; every other warning prints.
 *
 * The SDK (@aws-sdk/core emitWarningIfUnsupportedVersion) emits it as a plain string whose text
 * begins `NodeVersionSupportWarning:`, with no type or code, so Node prints it as a `Warning`:
 * matching on the type alone never caught it. It is emitted when the first client is built, long
 * after this module (the CLI's first import) has run.
 */
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  if (isNodeVersionSupportWarning(warning, rest[0])) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

/** `options` is emitWarning's second argument: a type string or `{ type, code }`. */
export function isNodeVersionSupportWarning(warning: string | Error, options?: unknown): boolean {
  const NAME = 'NodeVersionSupportWarning';
  const message = typeof warning === 'string' ? warning : warning.message;
  if (message.startsWith(`${NAME}:`)) return true;
  if (typeof warning !== 'string' && warning.name === NAME) return true;
  if (typeof options === 'string') return options === NAME;
  const { type, code } = (options ?? {}) as { type?: unknown; code?: unknown };
  return type === NAME || code === NAME;
}
