import type { FieldCondition } from './types.js';
import type { WildcardPattern } from './wildcard.js';

/**
 * EventBridge refuses a rule whose wildcard patterns make its matching machine too nondeterministic:
 * "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences
 * after a wildcard character". The measure is aws/event-ruler's MachineComplexityEvaluator: the
 * largest number of wildcard rule prefixes a single worst-case input value can be inside at once,
 * over every field machine of the rule (the event-ruler README's "Individual Complexity" check,
 * which only adds the rule's sub-rules that contain wildcards to the machine).
 *
 * The model follows event-ruler's ByteMachine: values are matched as their quoted UTF-8 bytes
 * (`"text"`); patterns share states up to and including their first wildcard, and each has its own
 * states after it; a state weighs as many distinct wildcard patterns (a `wildcard`, or one
 * `anything-but` wildcard list) as lead through it; a wildcard state is active with the state before it.
 */

/**
 * EventBridge publishes no number. event-ruler's README suggests 10 per single-rule machine, and it
 * fits what AWS was seen to do: four `*\/datasync/*.ext` values in one field (complexity 12) were
 * refused, two of them (6) and four `*.ext` values (8) were accepted.
 */
export const MAX_RULE_COMPLEXITY = 10;
/** Local guard on the evaluation itself (subsets of states visited), far above any accepted rule. */
const MAX_EXPLORED = 50_000;

export const TOO_COMPLEX_WILDCARD =
  'Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character';

/** One wildcard-bearing pattern of a field: several byte paths for an anything-but list. */
export interface ComplexityTerm {
  readonly identity: string;
  readonly values: readonly WildcardPattern[];
}

const STAR = -1;

interface State {
  /** Byte -> next states. */
  readonly literal: Map<number, number[]>;
  /** The wildcard state entered with this one (a `*` matches the empty string too), or -1. */
  star: number;
  /** Whether this is a wildcard state: it stays active on any byte. */
  readonly loops: boolean;
  /** Identities of the wildcard patterns leading through this state. */
  readonly weight: Set<string>;
  /** Shared successors while a value is still in its literal prefix (before its first wildcard). */
  readonly prefixChild: Map<number, number>;
}

function newState(loops: boolean): State {
  return { literal: new Map(), star: -1, loops, weight: new Set(), prefixChild: new Map() };
}

function tokens(pattern: WildcardPattern, quoted: boolean): number[] {
  const out: number[] = quoted ? [0x22] : [];
  pattern.pieces.forEach((piece, i) => {
    if (i > 0) out.push(STAR);
    for (const byte of Buffer.from(piece, 'utf8')) out.push(byte);
  });
  if (quoted) out.push(0x22);
  return out;
}

function buildMachine(
  terms: readonly ComplexityTerm[],
  quoted: boolean,
): { states: State[]; alphabet: Set<number> } {
  const states: State[] = [newState(false)];
  const alphabet = new Set<number>();
  const add = (loops: boolean) => states.push(newState(loops)) - 1;
  for (const term of terms) {
    for (const value of term.values) {
      let current = 0;
      let determinate = true;
      for (const token of tokens(value, quoted)) {
        const from = states[current] as State;
        let next: number;
        if (token === STAR) {
          // The first wildcard after a shared literal prefix is shared too; later ones are the value's own.
          next = determinate && from.star >= 0 ? from.star : add(true);
          from.star = next;
          determinate = false;
        } else {
          const shared = determinate ? from.prefixChild.get(token) : undefined;
          next = shared ?? add(false);
          if (shared === undefined) {
            alphabet.add(token);
            const list = from.literal.get(token);
            if (list === undefined) from.literal.set(token, [next]);
            else list.push(next);
            if (determinate) from.prefixChild.set(token, next);
          }
        }
        (states[next] as State).weight.add(term.identity);
        current = next;
      }
    }
  }
  return { states, alphabet };
}

/**
 * The complexity of one field machine holding `terms`; stops counting once past `limit`.
 * `quoted: false` evaluates bare values, as event-ruler's ByteMachine unit tests do.
 */
export function fieldComplexity(
  terms: readonly ComplexityTerm[],
  limit = MAX_RULE_COMPLEXITY,
  quoted = true,
): number {
  const { states, alphabet } = buildMachine(terms, quoted);
  if (states.length === 1) return 0;
  const enter = (set: Set<number>, id: number) => {
    set.add(id);
    const star = (states[id] as State).star;
    if (star >= 0) set.add(star);
  };
  const bytes = [...alphabet, 256]; // 256 stands for every byte without a literal transition
  const seen = new Set<string>();
  const start = new Set<number>();
  enter(start, 0);
  const pending: number[][] = [[...start]];
  let maximum = 0;
  while (pending.length > 0) {
    const active = pending.pop() as number[];
    for (const byte of bytes) {
      const next = new Set<number>();
      for (const id of active) {
        const state = states[id] as State;
        if (state.loops) enter(next, id);
        for (const target of state.literal.get(byte) ?? []) enter(next, target);
      }
      if (next.size === 0) continue;
      let complexity = 0;
      for (const id of next) complexity += (states[id] as State).weight.size;
      if (complexity > limit) return complexity;
      maximum = Math.max(maximum, complexity);
      const key = [...next].sort((a, b) => a - b).join(',');
      if (seen.has(key)) continue;
      if (seen.size >= MAX_EXPLORED) return limit + 1;
      seen.add(key);
      pending.push([...next]);
    }
  }
  return maximum;
}

function termsOf(condition: FieldCondition): ComplexityTerm[] {
  const terms: ComplexityTerm[] = [];
  for (const m of condition.matchers) {
    if (m.kind === 'wildcard') terms.push({ identity: `w${m.pattern.source}`, values: [m.pattern] });
    else if (m.kind === 'anything-but-wildcard') {
      const sources = m.patterns.map((p) => p.source).sort();
      terms.push({ identity: `n${JSON.stringify(sources)}`, values: m.patterns });
    }
  }
  return terms;
}

/**
 * The rule's complexity: branches (sub-rules) are laid into one machine in key order, as event-ruler's
 * `addPatternRule` does; a field's machine is shared by the branches that reach it through the same
 * conditions before it. (event-ruler may share a little more, where different value lists overlap.)
 */
export function ruleComplexity(
  branches: readonly (readonly FieldCondition[])[],
  limit = MAX_RULE_COMPLEXITY,
): number {
  const machines = new Map<string, Map<string, ComplexityTerm>>();
  for (const branch of branches) {
    const conditions = [...branch].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (!conditions.some((c) => termsOf(c).length > 0)) continue;
    let prefix = '';
    for (const condition of conditions) {
      const terms = termsOf(condition);
      if (terms.length > 0) {
        const id = `${prefix}\u0001${condition.key}`;
        let machine = machines.get(id);
        if (machine === undefined) {
          machine = new Map();
          machines.set(id, machine);
        }
        for (const term of terms) machine.set(term.identity, term);
      }
      prefix += `\u0002${condition.source}`;
    }
  }
  let maximum = 0;
  for (const machine of machines.values()) {
    maximum = Math.max(maximum, fieldComplexity([...machine.values()], limit));
    if (maximum > limit) break;
  }
  return maximum;
}
