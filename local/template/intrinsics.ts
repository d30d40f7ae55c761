import { at, TemplateError } from './errors.js';
import { type LocalEnvironment, PARTITION, ResourceNames, stableUuid, URL_SUFFIX } from './names.js';
import type { CfnTemplate } from './template.js';
import { isRecord } from './template.js';

/** `{"Ref": "AWS::NoValue"}`: the enclosing property or list item disappears. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

type Path = { readonly logicalId: string; readonly property: string };

function where(path: Path): string {
  return at(path.logicalId, path.property);
}

function fail(path: Path, message: string): never {
  throw new TemplateError(`${where(path)}: ${message}`);
}

function child(path: Path, key: string | number): Path {
  const property =
    typeof key === 'number' ? `${path.property}[${key}]` : path.property ? `${path.property}.${key}` : key;
  return { logicalId: path.logicalId, property };
}

/** The one intrinsic function an object stands for, when it is `{ "Ref" | "Fn::*" | "Condition": ... }`. */
function intrinsicKey(value: Record<string, unknown>): string | null {
  const keys = Object.keys(value);
  if (keys.length !== 1) return null;
  const key = keys[0] as string;
  return key === 'Ref' || key.startsWith('Fn::') ? key : null;
}

/**
 * Resolves CloudFormation intrinsic functions to local values. Only the properties the local
 * runtime reads are resolved, so an intrinsic it cannot evaluate elsewhere in the template (a
 * dashboard body, say) does not stop it.
 */
export class IntrinsicResolver {
  readonly names: ResourceNames;
  private readonly conditionCache = new Map<string, boolean>();

  constructor(
    private readonly template: CfnTemplate,
    private readonly env: LocalEnvironment,
  ) {
    this.names = new ResourceNames(template, env, (value, logicalId, property) =>
      this.resolveString(value, logicalId, property),
    );
  }

  /** Resolves every intrinsic inside `value`; `AWS::NoValue` members are removed. */
  resolve(value: unknown, logicalId: string, property: string): unknown {
    const out = this.walk(value, { logicalId, property });
    return out === NO_VALUE ? undefined : out;
  }

  resolveString(value: unknown, logicalId: string, property: string): string {
    const out = this.resolve(value, logicalId, property);
    if (typeof out === 'string') return out;
    if (typeof out === 'number' || typeof out === 'boolean') return String(out);
    return fail({ logicalId, property }, `expected a string, got ${JSON.stringify(out)}.`);
  }

  /** Whether a resource's `Condition` (if any) holds. */
  conditionHolds(name: string, path: Path): boolean {
    const cached = this.conditionCache.get(name);
    if (cached !== undefined) return cached;
    const definition = this.template.Conditions?.[name];
    if (definition === undefined) fail(path, `condition ${name} is not defined in Conditions.`);
    const value = this.evaluateCondition(definition, { logicalId: `Conditions.${name}`, property: '' });
    this.conditionCache.set(name, value);
    return value;
  }

  private walk(value: unknown, path: Path): unknown {
    if (Array.isArray(value)) {
      return value.map((item, i) => this.walk(item, child(path, i))).filter((item) => item !== NO_VALUE);
    }
    if (!isRecord(value)) return value;
    const key = intrinsicKey(value);
    if (key) return this.intrinsic(key, value[key], path);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const resolved = this.walk(v, child(path, k));
      if (resolved !== NO_VALUE) out[k] = resolved;
    }
    return out;
  }

  private str(value: unknown, path: Path, what: string): string {
    const out = this.walk(value, path);
    if (typeof out === 'string') return out;
    if (typeof out === 'number') return String(out);
    return fail(path, `${what} must resolve to a string, got ${JSON.stringify(out)}.`);
  }

  private list(value: unknown, path: Path, what: string): unknown[] {
    const out = this.walk(value, path);
    if (!Array.isArray(out)) fail(path, `${what} must resolve to a list, got ${JSON.stringify(out)}.`);
    return out;
  }

  private args(value: unknown, count: number, fn: string, path: Path): unknown[] {
    if (!Array.isArray(value) || value.length !== count) {
      fail(path, `${fn} takes a list of ${count} arguments, got ${JSON.stringify(value)}.`);
    }
    return value;
  }

  private intrinsic(fn: string, arg: unknown, path: Path): unknown {
    switch (fn) {
      case 'Ref':
        return this.ref(arg, path);
      case 'Fn::GetAtt':
        return this.getAtt(arg, path);
      case 'Fn::Join': {
        const [delimiter, items] = this.args(arg, 2, fn, path);
        const sep = this.str(delimiter, path, 'the Fn::Join delimiter');
        return this.list(items, path, 'the Fn::Join list')
          .map((item) =>
            typeof item === 'string' || typeof item === 'number'
              ? String(item)
              : fail(path, `Fn::Join got a non-string item ${JSON.stringify(item)}.`),
          )
          .join(sep);
      }
      case 'Fn::Sub':
        return this.sub(arg, path);
      case 'Fn::Select': {
        const [index, items] = this.args(arg, 2, fn, path);
        const i = Number(this.walk(index, path));
        const list = this.list(items, path, 'the Fn::Select list');
        if (!Number.isInteger(i) || i < 0 || i >= list.length) {
          fail(path, `Fn::Select index ${i} is out of range for a list of ${list.length}.`);
        }
        return list[i];
      }
      case 'Fn::Split': {
        const [delimiter, source] = this.args(arg, 2, fn, path);
        return this.str(source, path, 'the Fn::Split source').split(
          this.str(delimiter, path, 'the Fn::Split delimiter'),
        );
      }
      case 'Fn::If': {
        const [condition, whenTrue, whenFalse] = this.args(arg, 3, fn, path);
        if (typeof condition !== 'string') fail(path, 'Fn::If needs a condition name first.');
        return this.walk(this.conditionHolds(condition, path) ? whenTrue : whenFalse, path);
      }
      case 'Fn::Base64':
        return Buffer.from(this.str(arg, path, 'Fn::Base64'), 'utf8').toString('base64');
      case 'Fn::FindInMap': {
        const [map, top, second] = this.args(arg, 3, fn, path).map((a) => this.str(a, path, 'Fn::FindInMap'));
        const found = this.template.Mappings?.[map as string]?.[top as string]?.[second as string];
        if (found === undefined) fail(path, `Fn::FindInMap ${map}.${top}.${second} is not in Mappings.`);
        return this.walk(found, path);
      }
      case 'Fn::GetAZs':
        return ['a', 'b', 'c'].map((z) => `${this.env.region}${z}`);
      case 'Fn::ToJsonString':
        return JSON.stringify(this.walk(arg, path));
      case 'Fn::Length':
        return this.list(arg, path, 'Fn::Length').length;
      case 'Fn::ImportValue':
        return fail(
          path,
          "Fn::ImportValue reads another stack's export, which the local runtime cannot see; pass the value as a parameter or keep the wiring in one stack.",
        );
      default:
        return fail(path, `${fn} is not an intrinsic function the local runtime can evaluate.`);
    }
  }

  private ref(arg: unknown, path: Path): unknown {
    if (typeof arg !== 'string')
      fail(path, `Ref needs a logical id or parameter name, got ${JSON.stringify(arg)}.`);
    const pseudo = this.pseudo(arg);
    if (pseudo !== undefined) return pseudo;
    const parameter = this.template.Parameters?.[arg];
    if (parameter) {
      if (parameter.Default === undefined)
        fail(path, `parameter ${arg} has no Default, and the local runtime takes no parameters.`);
      return parameter.Default;
    }
    return this.names.ref(arg, where(path));
  }

  private pseudo(name: string): unknown {
    switch (name) {
      case 'AWS::AccountId':
        return this.env.account;
      case 'AWS::Region':
        return this.env.region;
      case 'AWS::Partition':
        return PARTITION;
      case 'AWS::URLSuffix':
        return URL_SUFFIX;
      case 'AWS::StackName':
        return this.env.stackName;
      case 'AWS::StackId':
        return `arn:${PARTITION}:cloudformation:${this.env.region}:${this.env.account}:stack/${this.env.stackName}/${stableUuid(this.env.stackName)}`;
      case 'AWS::NotificationARNs':
        return [];
      case 'AWS::NoValue':
        return NO_VALUE;
      default:
        return undefined;
    }
  }

  private getAtt(arg: unknown, path: Path): string {
    let logicalId: unknown;
    let attribute: unknown;
    if (typeof arg === 'string') {
      const dot = arg.indexOf('.');
      if (dot < 0) fail(path, `Fn::GetAtt "${arg}" needs the form LogicalId.Attribute.`);
      [logicalId, attribute] = [arg.slice(0, dot), arg.slice(dot + 1)];
    } else {
      [logicalId, attribute] = this.args(arg, 2, 'Fn::GetAtt', path);
      attribute = this.walk(attribute, path);
    }
    if (typeof logicalId !== 'string' || typeof attribute !== 'string') {
      fail(path, `Fn::GetAtt needs [LogicalId, Attribute], got ${JSON.stringify(arg)}.`);
    }
    return this.names.getAtt(logicalId, attribute, where(path));
  }

  private sub(arg: unknown, path: Path): string {
    let text: unknown = arg;
    const variables: Record<string, unknown> = {};
    if (Array.isArray(arg)) {
      const [template, vars] = this.args(arg, 2, 'Fn::Sub', path);
      text = template;
      if (!isRecord(vars)) fail(path, 'the second Fn::Sub argument must be a map of variables.');
      for (const [name, value] of Object.entries(vars)) variables[name] = this.walk(value, child(path, name));
    }
    if (typeof text !== 'string') fail(path, `Fn::Sub needs a string, got ${JSON.stringify(text)}.`);
    return text.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      const trimmed = name.trim();
      let value: unknown;
      if (Object.hasOwn(variables, trimmed)) value = variables[trimmed];
      else if (trimmed.includes('.') && !trimmed.startsWith('AWS::')) value = this.getAtt(trimmed, path);
      else value = this.ref(trimmed, path);
      if (typeof value === 'string' || typeof value === 'number') return String(value);
      return fail(path, `Fn::Sub variable ${whole} resolved to ${JSON.stringify(value)}, not a string.`);
    });
  }

  private evaluateCondition(value: unknown, path: Path): boolean {
    if (!isRecord(value))
      fail(path, `a condition must be Fn::Equals/And/Or/Not or Condition, got ${JSON.stringify(value)}.`);
    const [fn] = Object.keys(value);
    const arg = value[fn as string];
    switch (fn) {
      case 'Condition':
        return this.conditionHolds(String(arg), path);
      case 'Fn::Equals': {
        const [a, b] = this.args(arg, 2, fn, path).map((x) => this.walk(x, path));
        const scalar = (x: unknown) =>
          typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
        return scalar(a) && scalar(b) ? String(a) === String(b) : JSON.stringify(a) === JSON.stringify(b);
      }
      case 'Fn::Not': {
        const [inner] = this.args(arg, 1, fn, path);
        return !this.evaluateCondition(inner, path);
      }
      case 'Fn::And':
      case 'Fn::Or': {
        if (!Array.isArray(arg)) fail(path, `${fn} takes a list of conditions.`);
        const results = arg.map((c) => this.evaluateCondition(c, path));
        return fn === 'Fn::And' ? results.every(Boolean) : results.some(Boolean);
      }
      default:
        return fail(path, `${fn} cannot be used in a condition here.`);
    }
  }
}
