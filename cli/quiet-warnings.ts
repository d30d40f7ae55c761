/**
 * The AWS SDK warns on every start that versions from 2027 need Node 22. The CLI supports Node 20
 * today (Lambda runs 22), so that one warning is noise at a terminal; every other warning prints.
 */
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name =
    typeof warning === 'string' ? (rest[0] as { type?: string } | string | undefined) : warning.name;
  const type = typeof name === 'string' ? name : name?.type;
  if (type === 'NodeVersionSupportWarning') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
