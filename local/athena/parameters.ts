import { AthenaRequestError } from './errors';

export type ParameterValue = string | number | bigint | boolean | null;

/**
 * Athena substitutes each execution parameter into the query as SQL literal text. Here each one
 * is parsed as the literal it would be and bound as a value, so no parameter text ever becomes SQL.
 */
export function parseExecutionParameter(text: string, index: number): ParameterValue {
  const trimmed = text.trim();
  const quoted = /^'((?:[^']|'')*)'$/s.exec(trimmed);
  if (quoted) return (quoted[1] ?? '').replaceAll("''", "'");
  if (/^[+-]?\d+$/.test(trimmed)) {
    const n = BigInt(trimmed);
    return n >= -(2n ** 31n) && n < 2n ** 31n ? Number(n) : n;
  }
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return Number(trimmed);
  if (/^(true|false)$/i.test(trimmed)) return trimmed.toLowerCase() === 'true';
  if (/^null$/i.test(trimmed)) return null;
  throw new AthenaRequestError(
    'InvalidRequestException',
    `ExecutionParameters[${index}] ${JSON.stringify(text)} is not a literal: quote text and dates ('2026-11-28'), or pass a number, true, false or NULL`,
  );
}
