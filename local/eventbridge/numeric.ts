/**
 * Numeric matching limits follow aws/event-ruler's ComparableNumber: values between -5e9 and +5e9
 * inclusive, at most six digits after the decimal point. Event values outside the range are not
 * treated as numbers by numeric operators (event-ruler cannot encode them), so they never match.
 */
export const NUMERIC_LIMIT = 5_000_000_000;
export const MAX_DECIMAL_PLACES = 6;

export interface NumericRange {
  readonly lower: number;
  readonly lowerOpen: boolean;
  readonly upper: number;
  readonly upperOpen: boolean;
}

/** Digits after the decimal point of a number as JavaScript prints it (handles exponent form). */
export function decimalPlaces(value: number): number {
  const text = String(Math.abs(value));
  const [mantissa = '', exponentText] = text.split('e');
  const fraction = mantissa.split('.')[1] ?? '';
  const exponent = exponentText === undefined ? 0 : Number(exponentText);
  return Math.max(0, fraction.length - exponent);
}

/** The reason a pattern operand is unusable for numeric matching, or null when it is fine. */
export function numericOperandProblem(value: number): string | null {
  if (!Number.isFinite(value) || value < -NUMERIC_LIMIT || value > NUMERIC_LIMIT) {
    return `Value must be between ${-NUMERIC_LIMIT} and ${NUMERIC_LIMIT}, inclusive`;
  }
  if (decimalPlaces(value) > MAX_DECIMAL_PLACES) return 'Only values upto 6 decimals are supported';
  return null;
}

/** Whether an event value takes part in numeric comparisons. */
export function isComparableNumber(value: unknown): value is number {
  return typeof value === 'number' && value >= -NUMERIC_LIMIT && value <= NUMERIC_LIMIT;
}

export function inNumericRange(range: NumericRange, value: number): boolean {
  if (range.lowerOpen ? value <= range.lower : value < range.lower) return false;
  return range.upperOpen ? value < range.upper : value <= range.upper;
}

export const UNBOUNDED_BELOW = Number.NEGATIVE_INFINITY;
export const UNBOUNDED_ABOVE = Number.POSITIVE_INFINITY;
