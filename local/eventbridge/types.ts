import type { IpRange } from './cidr.js';
import type { NumericRange } from './numeric.js';
import type { WildcardPattern } from './wildcard.js';

/** A leaf value of a JSON event. */
export type Scalar = string | number | boolean | null;

/** One entry of a pattern's value array, compiled. */
export type ValueMatcher =
  | { readonly kind: 'exact'; readonly value: Scalar }
  | { readonly kind: 'prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  /** `value` is stored lower-cased. */
  | { readonly kind: 'equals-ignore-case'; readonly value: string }
  | { readonly kind: 'wildcard'; readonly pattern: WildcardPattern }
  | { readonly kind: 'numeric'; readonly range: NumericRange }
  | { readonly kind: 'cidr'; readonly range: IpRange }
  | { readonly kind: 'exists'; readonly exists: boolean }
  | {
      readonly kind: 'anything-but';
      readonly strings: ReadonlySet<string>;
      readonly numbers: ReadonlySet<number>;
    }
  /** `values` are stored lower-cased for the ignore-case variant. */
  | {
      readonly kind: 'anything-but-prefix' | 'anything-but-suffix' | 'anything-but-ignore-case';
      readonly values: readonly string[];
    }
  | { readonly kind: 'anything-but-wildcard'; readonly patterns: readonly WildcardPattern[] };

/** One field of a pattern: the event path and the values (OR) it accepts. */
export interface FieldCondition {
  /**
   * The field name split on '.': event-ruler joins keys with '.', so `{"a.b": [..]}` and
   * `{"a": {"b": [..]}}` name the same field, in patterns and in events alike.
   */
  readonly path: readonly string[];
  /** Keys joined with '.', as event-ruler names fields. */
  readonly key: string;
  readonly matchers: readonly ValueMatcher[];
  /** Canonical text of the condition (path + raw value array), for de-duplication. */
  readonly source: string;
}

/** A pattern compiled to its $or branches; each branch is an AND of field conditions. */
export interface CompiledPattern {
  readonly branches: readonly (readonly FieldCondition[])[];
}
