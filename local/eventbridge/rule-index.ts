import { compilePattern } from './compile.js';
import { type EventFields, flattenEvent } from './event-fields.js';
import { branchMatchesFields, inKeyOrder } from './match.js';
import { matchValue } from './match-value.js';
import type { CompiledPattern, FieldCondition, Scalar, ValueMatcher } from './types.js';

/**
 * Many rules compiled once; matching an event costs what the event's relevant fields cost, not a
 * walk over every pattern:
 *
 * - Every distinct field condition (path + value list) gets an id; each $or branch needs all of its
 *   conditions satisfied, so matching counts satisfied conditions per branch.
 * - The referenced paths form a trie, so the event walk only descends into keys some rule uses.
 * - At each path, exact values (the common case) are looked up in maps; prefixes and wildcards with
 *   a literal start are looked up by the value's leading characters; other operators sit in a
 *   per-path list that is only tried when the event has that path; `exists: true` is counted once
 *   when the path is present; `exists: false` is counted after the walk when the path stayed absent.
 * - Field names join keys with '.' (event-ruler's naming): an event key holding dots, such as
 *   `"a.b"`, is looked up as the trie path a → b through each node's `dotted` list.
 * - Array consistency (event-ruler's `rulesForJSONEvent`): a value found inside an array of objects
 *   only counts as "maybe" for its condition, as does an `exists: false` whose path appeared only
 *   there. A branch complete without any "maybe" matches at once; one that needs a "maybe" is checked
 *   by the reference matcher after the walk. Events without arrays of objects never pay for this.
 */

interface ValueTest {
  readonly condition: number;
  readonly matcher: ValueMatcher;
}

interface PathIndex {
  readonly strings: Map<string, number[]>;
  readonly numbers: Map<number, number[]>;
  readonly literals: { true: number[]; false: number[]; null: number[] };
  /** Tests that can only pass when the string value starts with the key (prefix, most wildcards). */
  readonly anchored: Map<string, ValueTest[]>;
  /** Distinct key lengths of `anchored`, so a value is probed once per length rather than once per test. */
  readonly anchorLengths: number[];
  readonly tests: ValueTest[];
  readonly presence: number[];
  /** Event sequence number in which this path last had a value outside any array of objects. */
  seenIn: number;
  /** Event sequence number in which this path last had a value inside an array of objects. */
  seenInArrayIn: number;
}

interface PathNode {
  readonly children: Map<string, PathNode>;
  /** `children` as parallel arrays, for allocation-free iteration while matching. */
  childKeys: string[];
  childNodes: PathNode[];
  /** Descendants two or more levels down, by their path joined with '.', for event keys holding dots. */
  dottedKeys: string[];
  dottedNodes: PathNode[];
  index: PathIndex | null;
}

function newPathNode(): PathNode {
  return { children: new Map(), childKeys: [], childNodes: [], dottedKeys: [], dottedNodes: [], index: null };
}

interface Absence {
  readonly condition: number;
  readonly index: PathIndex;
}

function newPathIndex(): PathIndex {
  return {
    strings: new Map(),
    numbers: new Map(),
    literals: { true: [], false: [], null: [] },
    anchored: new Map(),
    anchorLengths: [],
    tests: [],
    presence: [],
    seenIn: 0,
    seenInArrayIn: 0,
  };
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, item: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [item]);
  else list.push(item);
}

/** The literal every accepted string must start with, when there is a non-empty one. */
function requiredPrefix(matcher: ValueMatcher): string | null {
  if (matcher.kind === 'prefix' && !matcher.ignoreCase) return matcher.value || null;
  if (matcher.kind === 'wildcard') return matcher.pattern.pieces[0] || null;
  return null;
}

export class RuleIndex {
  private readonly root: PathNode = newPathNode();
  private readonly ruleNames: string[] = [];
  private readonly ruleIds = new Map<string, number>();
  private readonly conditionIds = new Map<string, number>();
  private readonly conditionBranches: number[][] = [];
  private readonly branchRule: number[] = [];
  private readonly branchRequired: number[] = [];
  /** Each branch's conditions in key order, for checking array consistency. */
  private readonly branchConditions: FieldCondition[][] = [];
  private readonly absences: Absence[] = [];

  // Per-event scratch state, stamped with the event sequence number instead of being cleared.
  private sequence = 0;
  private conditionSeen = new Int32Array(0);
  private branchSeen = new Int32Array(0);
  private branchCount = new Int32Array(0);
  /** Conditions of the branch satisfied only inside arrays of objects so far. */
  private branchMaybe = new Int32Array(0);
  /** 1 while a condition is satisfied only inside arrays of objects. */
  private conditionMaybe = new Uint8Array(0);
  private ruleSeen = new Int32Array(0);
  private matched: number[] = [];
  /** Branches complete with some "maybe" condition, to check once the walk is over. */
  private candidates: number[] = [];
  /** How many arrays of objects (or of arrays) enclose the value being visited. */
  private arrayDepth = 0;
  private event: Record<string, unknown> = {};
  private fields: EventFields | null = null;

  constructor(rules: Iterable<readonly [string, unknown]> = []) {
    for (const [name, pattern] of rules) this.add(name, pattern);
  }

  /** Number of distinct rule names. */
  get size(): number {
    return this.ruleNames.length;
  }

  /** Adds a rule; adding the same name again ORs the patterns. Throws InvalidEventPatternError. */
  add(name: string, pattern: unknown): void {
    this.addCompiled(name, compilePattern(pattern));
  }

  addCompiled(name: string, pattern: CompiledPattern): void {
    let rule = this.ruleIds.get(name);
    if (rule === undefined) {
      rule = this.ruleNames.length;
      this.ruleNames.push(name);
      this.ruleIds.set(name, rule);
    }
    for (const branch of pattern.branches) {
      const id = this.branchRule.length;
      this.branchRule.push(rule);
      this.branchRequired.push(branch.length);
      this.branchConditions.push(inKeyOrder(branch));
      for (const condition of branch) this.conditionsBranches(this.conditionFor(condition)).push(id);
    }
    this.growScratch();
  }

  /** Names of the rules matching a parsed event, in the order the rules were added. */
  match(event: unknown): string[] {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return [];
    this.beginEvent(event as Record<string, unknown>);
    this.visitObject(this.root, event as Record<string, unknown>);
    return this.finishEvent();
  }

  /** Same as {@link match} for the event's JSON text; text that is not JSON matches nothing. */
  matchJson(json: string): string[] {
    let event: unknown;
    try {
      event = JSON.parse(json);
    } catch {
      return [];
    }
    return this.match(event);
  }

  private conditionsBranches(condition: number): number[] {
    return this.conditionBranches[condition] as number[];
  }

  private conditionFor(condition: FieldCondition): number {
    const known = this.conditionIds.get(condition.source);
    if (known !== undefined) return known;
    const id = this.conditionBranches.length;
    this.conditionIds.set(condition.source, id);
    this.conditionBranches.push([]);
    const index = this.pathIndex(condition.path);
    for (const matcher of condition.matchers) this.indexMatcher(index, id, matcher);
    return id;
  }

  private indexMatcher(index: PathIndex, id: number, matcher: ValueMatcher): void {
    if (matcher.kind === 'exact') {
      const value = matcher.value;
      if (typeof value === 'string') pushTo(index.strings, value, id);
      else if (typeof value === 'number') pushTo(index.numbers, value, id);
      else index.literals[value === null ? 'null' : value ? 'true' : 'false'].push(id);
    } else if (matcher.kind === 'exists') {
      if (matcher.exists) index.presence.push(id);
      else this.absences.push({ condition: id, index });
    } else {
      const anchor = requiredPrefix(matcher);
      if (anchor === null) {
        index.tests.push({ condition: id, matcher });
      } else {
        pushTo(index.anchored, anchor, { condition: id, matcher });
        if (!index.anchorLengths.includes(anchor.length)) index.anchorLengths.push(anchor.length);
      }
    }
  }

  private pathIndex(path: readonly string[]): PathIndex {
    const nodes = [this.root];
    for (let depth = 0; depth < path.length; depth++) {
      const node = nodes[depth] as PathNode;
      const key = path[depth] as string;
      let child = node.children.get(key);
      if (child === undefined) {
        child = newPathNode();
        node.children.set(key, child);
        node.childKeys.push(key);
        node.childNodes.push(child);
        for (let from = 0; from < depth; from++) {
          const ancestor = nodes[from] as PathNode;
          ancestor.dottedKeys.push(path.slice(from, depth + 1).join('.'));
          ancestor.dottedNodes.push(child);
        }
      }
      nodes.push(child);
    }
    const node = nodes[path.length] as PathNode;
    node.index ??= newPathIndex();
    return node.index;
  }

  private growScratch(): void {
    const conditions = this.conditionBranches.length;
    const branches = this.branchRule.length;
    const rules = this.ruleNames.length;
    // Fresh arrays are all zero, so restart the sequence to keep stamps unambiguous.
    if (this.conditionSeen.length < conditions) this.conditionSeen = new Int32Array(conditions * 2);
    if (this.conditionMaybe.length < conditions) this.conditionMaybe = new Uint8Array(conditions * 2);
    if (this.branchSeen.length < branches) {
      this.branchSeen = new Int32Array(branches * 2);
      this.branchCount = new Int32Array(branches * 2);
      this.branchMaybe = new Int32Array(branches * 2);
    }
    if (this.ruleSeen.length < rules) this.ruleSeen = new Int32Array(rules * 2);
    this.conditionSeen.fill(0);
    this.branchSeen.fill(0);
    this.ruleSeen.fill(0);
    this.resetPathStamps(this.root);
    this.sequence = 0;
  }

  private resetPathStamps(node: PathNode): void {
    if (node.index !== null) {
      node.index.seenIn = 0;
      node.index.seenInArrayIn = 0;
    }
    for (const child of node.children.values()) this.resetPathStamps(child);
  }

  private beginEvent(event: Record<string, unknown>): void {
    if (this.sequence === 0x7fffffff) this.growScratch();
    this.sequence++;
    this.matched = [];
    this.candidates.length = 0;
    this.arrayDepth = 0;
    this.event = event;
    this.fields = null;
  }

  private finishEvent(): string[] {
    const sequence = this.sequence;
    for (const absence of this.absences) {
      const index = absence.index;
      // A value outside arrays of objects is consistent with every match: the field is present.
      if (index.seenIn !== sequence) this.satisfy(absence.condition, index.seenInArrayIn === sequence);
    }
    for (const branch of this.candidates) {
      const rule = this.branchRule[branch] as number;
      if (this.ruleSeen[rule] === sequence || this.branchMaybe[branch] === 0) continue;
      this.fields ??= flattenEvent(this.event);
      if (branchMatchesFields(this.branchConditions[branch] as FieldCondition[], this.fields))
        this.matchRule(rule);
    }
    this.event = {};
    this.fields = null;
    const matched = this.matched;
    if (matched.length > 1) matched.sort((a, b) => a - b);
    return matched.map((rule) => this.ruleNames[rule] as string);
  }

  private matchRule(rule: number): void {
    if (this.ruleSeen[rule] !== this.sequence) {
      this.ruleSeen[rule] = this.sequence;
      this.matched.push(rule);
    }
  }

  /** Counts a condition as met; `maybe` when only met inside arrays of objects (see the class comment). */
  private satisfy(condition: number, maybe: boolean): void {
    const sequence = this.sequence;
    const branchMaybe = this.branchMaybe;
    if (this.conditionSeen[condition] === sequence) {
      if (maybe || this.conditionMaybe[condition] === 0) return;
      this.conditionMaybe[condition] = 0;
      for (const branch of this.conditionsBranches(condition)) {
        const left = (branchMaybe[branch] as number) - 1;
        branchMaybe[branch] = left;
        if (left === 0 && this.branchCount[branch] === this.branchRequired[branch]) {
          this.matchRule(this.branchRule[branch] as number);
        }
      }
      return;
    }
    this.conditionSeen[condition] = sequence;
    this.conditionMaybe[condition] = maybe ? 1 : 0;
    const branchSeen = this.branchSeen;
    const branchCount = this.branchCount;
    for (const branch of this.conditionsBranches(condition)) {
      if (branchSeen[branch] !== sequence) {
        branchSeen[branch] = sequence;
        branchCount[branch] = 0;
        branchMaybe[branch] = 0;
      }
      const count = (branchCount[branch] as number) + 1;
      branchCount[branch] = count;
      if (maybe) branchMaybe[branch] = (branchMaybe[branch] as number) + 1;
      if (count === this.branchRequired[branch]) {
        if (branchMaybe[branch] === 0) this.matchRule(this.branchRule[branch] as number);
        else this.candidates.push(branch);
      }
    }
  }

  private satisfyAll(conditions: readonly number[] | undefined, maybe: boolean): void {
    if (conditions === undefined) return;
    for (let i = 0; i < conditions.length; i++) this.satisfy(conditions[i] as number, maybe);
  }

  private visitObject(node: PathNode, object: Record<string, unknown>): void {
    const keys = node.childKeys;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (Object.hasOwn(object, key)) this.visit(node.childNodes[i] as PathNode, object[key]);
    }
    const dotted = node.dottedKeys;
    for (let i = 0; i < dotted.length; i++) {
      const key = dotted[i] as string;
      if (Object.hasOwn(object, key)) this.visit(node.dottedNodes[i] as PathNode, object[key]);
    }
  }

  private visit(node: PathNode, value: unknown): void {
    if (typeof value === 'object' && value !== null) {
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const element: unknown = value[i];
          if (typeof element === 'object' && element !== null) {
            this.arrayDepth++;
            this.visit(node, element);
            this.arrayDepth--;
          } else {
            this.visit(node, element);
          }
        }
      } else if (node.childKeys.length > 0 || node.dottedKeys.length > 0) {
        this.visitObject(node, value as Record<string, unknown>);
      }
      return;
    }
    const index = node.index;
    if (index === null) return;
    const maybe = this.arrayDepth > 0;
    switch (typeof value) {
      case 'string':
        this.satisfyAll(index.strings.get(value), maybe);
        break;
      case 'number':
        if (!Number.isFinite(value)) return;
        this.satisfyAll(index.numbers.get(value), maybe);
        break;
      case 'boolean':
        this.satisfyAll(value ? index.literals.true : index.literals.false, maybe);
        break;
      default:
        if (value !== null) return; // undefined, functions, symbols, bigints: not JSON values
        this.satisfyAll(index.literals.null, maybe);
    }
    if (maybe) {
      if (index.seenInArrayIn !== this.sequence && index.seenIn !== this.sequence) {
        index.seenInArrayIn = this.sequence;
        this.satisfyAll(index.presence, true);
      }
    } else if (index.seenIn !== this.sequence) {
      index.seenIn = this.sequence;
      this.satisfyAll(index.presence, false);
    }
    if (typeof value === 'string') {
      const lengths = index.anchorLengths;
      for (let i = 0; i < lengths.length; i++) {
        const length = lengths[i] as number;
        if (length <= value.length) this.runTests(index.anchored.get(value.slice(0, length)), value, maybe);
      }
    }
    this.runTests(index.tests, value as Scalar, maybe);
  }

  private runTests(tests: readonly ValueTest[] | undefined, value: Scalar, maybe: boolean): void {
    if (tests === undefined) return;
    for (let i = 0; i < tests.length; i++) {
      const test = tests[i] as ValueTest;
      const condition = test.condition;
      // Skip conditions already met, unless met only as "maybe" and this value could settle them.
      const met =
        this.conditionSeen[condition] === this.sequence && (maybe || this.conditionMaybe[condition] === 0);
      if (!met && matchValue(test.matcher, value)) this.satisfy(condition, maybe);
    }
  }
}
