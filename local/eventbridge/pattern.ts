/** EventBridge event patterns: validation, one-off matching and a many-rule index. */
export { compilePattern, validatePattern } from './compile.js';
export { InvalidEventPatternError } from './errors.js';
export { matchesCompiled, matchesPattern } from './match.js';
export { RuleIndex, RuleIndex as PatternMatcher } from './rule-index.js';
export type { CompiledPattern, FieldCondition, Scalar, ValueMatcher } from './types.js';
