import type { RuleModel, TargetModel, TemplateModel } from '../model.js';
import type { AccessRequest } from './actions.js';
import { UnsupportedConditionError } from './conditions.js';
import { type LocalCredentials, type LocalPrincipal, localPrincipal } from './credentials.js';
import { authorize, type CallerPrincipal, type Decision } from './evaluate.js';
import type { PolicyStatement } from './policy-document.js';

/**
 * Condition keys the local runtime puts in every request context it authorizes, plus the service
 * keys of the calls it serves. A policy that tests any other key is refused at start: the runtime
 * cannot say what AWS would put there, and a key it leaves out would silently change the outcome.
 */
export const SUPPORTED_CONDITION_KEYS = [
  'aws:SecureTransport',
  'aws:SourceArn',
  'aws:SourceAccount',
  'aws:PrincipalArn',
  'aws:PrincipalAccount',
  'aws:PrincipalServiceName',
  'events:source',
  'events:detail-type',
] as const;

/** Who made a call the local runtime authorizes. */
export type Caller =
  /** A function (or a service acting with a template role) signing with the credentials the runtime gave it. */
  | { readonly kind: 'principal'; readonly principal: LocalPrincipal }
  /** Any other credentials: the developer's own (CLI, SDK, tests). */
  | { readonly kind: 'user' }
  /** An AWS service delivering on a resource's behalf (EventBridge into a queue). */
  | { readonly kind: 'service'; readonly service: string; readonly sourceArn: string };

export interface Denial {
  readonly action: string;
  readonly resource: string;
  readonly explicit: boolean;
  /** AWS's wording: `User: <arn> is not authorized to perform: <action> on resource: <arn> because …`. */
  readonly message: string;
}

/**
 * Who the developer's own credentials stand for in denial messages. Their identity policies are not
 * in the template, so they are treated as allowing everything: only a resource policy's explicit
 * deny refuses them, as AWS evaluates it for same-account callers too.
 */
export const LOCAL_USER_ARN_SUFFIX = ':user/inferbus-local';
const ALLOW_ALL: readonly PolicyStatement[] = [{ Effect: 'Allow', Action: ['*'], Resource: ['*'] }];
const CACHE_LIMIT = 50_000;
const OBSERVED_LIMIT = 10_000;

export type AuthorizerModel = Pick<
  TemplateModel,
  'account' | 'region' | 'iam' | 'functions' | 'deliveryStreams' | 'eventSourceMappings' | 'rules'
>;

export interface LocalAuthorizerOptions {
  /**
   * `false` allows every call without evaluating anything (the start-up checks still run): for the
   * side-by-side cost measurement only. @default true
   */
  readonly enabled?: boolean;
  /**
   * What a start-up refusal (a function without a role, a managed policy, an unsupported condition
   * key, an event source mapping its role cannot poll) does: `throw` the first, as the runtime
   * must; `collect` them in {@link LocalAuthorizer.startupProblems} (preflight lists them all).
   * @default 'throw'
   */
  readonly startupChecks?: 'throw' | 'collect';
}

/** One distinct call a principal was allowed (what a test replays against a narrower policy). */
export interface ObservedAccess {
  readonly principal: string;
  readonly roleArn: string;
  readonly request: AccessRequest;
  /** False when the call was denied (only {@link LocalAuthorizer.observedCalls} lists those). */
  readonly allowed: boolean;
}

/**
 * The local runtime's IAM: the credentials it hands each function (and each service role it acts
 * with), and the decision for every call made with them, from the template's identity and resource
 * policies. Decisions are cached by (principal, action, resource, context).
 */
export class LocalAuthorizer {
  readonly enabled: boolean;
  /** The start-up refusals, in `collect` mode (empty otherwise: the first one threw). */
  readonly startupProblems: string[] = [];
  private readonly collect: boolean;
  private readonly byKey = new Map<string, LocalPrincipal>();
  private readonly byLabel = new Map<string, LocalPrincipal>();
  private readonly cache = new Map<string, Denial | null>();
  private readonly counters = new Map<string, number>();
  private readonly observedAccess = new Map<string, ObservedAccess>();
  private readonly targetRoles = new Map<string, LocalPrincipal>();
  private readonly userArn: string;
  /** Services whose resource policies hold a Deny (the only thing that can refuse a user). */
  private readonly denyingServices: ReadonlySet<string>;

  constructor(
    private readonly model: AuthorizerModel,
    options: LocalAuthorizerOptions = {},
  ) {
    this.enabled = options.enabled ?? true;
    this.collect = options.startupChecks === 'collect';
    this.userArn = `arn:aws:iam::${model.account}${LOCAL_USER_ARN_SUFFIX}`;
    for (const fn of model.functions) {
      if (!fn.roleArn) {
        this.refuse(
          `function ${fn.logicalId} has no execution role of this template, so the local IAM cannot authorize its calls: give it a role in the CDK app`,
        );
        continue;
      }
      this.add(localPrincipal(fn.logicalId, fn.roleArn, fn.name));
    }
    for (const stream of model.deliveryStreams) {
      if (stream.roleArn) this.add(localPrincipal(stream.logicalId, stream.roleArn, stream.name));
    }
    const denying = new Set<string>();
    for (const [arn, statements] of model.iam.resourcePolicies) {
      if (statements.some((s) => s.Effect === 'Deny')) denying.add(arn.split(':')[2] ?? '');
    }
    this.denyingServices = denying;
    this.checkPolicies();
    this.checkEventSourceMappings();
  }

  /** The credentials a function's (or delivery stream's) calls are signed with. */
  credentialsOf(logicalId: string): LocalCredentials {
    const principal = this.byLabel.get(logicalId);
    if (!principal) throw new Error(`the local IAM has no principal ${logicalId}`);
    return principal.credentials;
  }

  principalOf(logicalId: string): LocalPrincipal | undefined {
    return this.byLabel.get(logicalId);
  }

  /** The caller behind an access key id: a principal of the runtime's, or the developer. */
  callerOf(accessKeyId: string | undefined): Caller {
    const principal = accessKeyId ? this.byKey.get(accessKeyId) : undefined;
    return principal ? { kind: 'principal', principal } : { kind: 'user' };
  }

  /** Whether a user's call to `service` can be refused at all (so its body need not be read otherwise). */
  mayDenyUser(service: string): boolean {
    return this.enabled && this.denyingServices.has(service);
  }

  /** The first of `requests` the caller may not make, or undefined when all are allowed. Counts each call once. */
  check(caller: Caller, service: string, requests: readonly AccessRequest[]): Denial | undefined {
    let denial: Denial | undefined;
    for (const request of requests) {
      denial = this.decide(caller, request);
      if (denial) break;
    }
    this.count(caller, service, denial === undefined);
    return denial;
  }

  /** One request's decision, without counting it. */
  decide(caller: Caller, request: AccessRequest): Denial | undefined {
    if (!this.enabled) return undefined;
    const key = `${cacheKeyOf(caller)}\n${request.action}\n${request.resource}\n${contextKeyOf(request)}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const denial = this.evaluate(caller, request);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, denial ?? null);
    if (caller.kind === 'principal' && this.observedAccess.size < OBSERVED_LIMIT) {
      this.observedAccess.set(key, {
        principal: caller.principal.label,
        roleArn: caller.principal.roleArn,
        request,
        allowed: denial === undefined,
      });
    }
    return denial;
  }

  /** Every distinct call a principal was allowed so far. */
  observed(): ObservedAccess[] {
    return this.observedCalls().filter((call) => call.allowed);
  }

  /** Every distinct call a principal made so far, allowed or denied (what preflight replays). */
  observedCalls(): ObservedAccess[] {
    return [...this.observedAccess.values()];
  }

  /** Counts of allowed and denied calls per principal and service. */
  counts(): { principal: string; service: string; allowed: number; denied: number }[] {
    const rows = new Map<string, { principal: string; service: string; allowed: number; denied: number }>();
    for (const [key, value] of this.counters) {
      const [principal = '', service = '', outcome] = key.split('\t');
      const row = rows.get(`${principal}\t${service}`) ?? { principal, service, allowed: 0, denied: 0 };
      if (outcome === 'allowed') row.allowed += value;
      else row.denied += value;
      rows.set(`${principal}\t${service}`, row);
    }
    return [...rows.values()];
  }

  /**
   * An EventBridge delivery, authorized as AWS authorizes it: into a queue (target or target DLQ)
   * by the queue's policy for `events.amazonaws.com` with the rule as `aws:SourceArn`; into
   * Firehose by the target's role. Returns the denial message, or undefined when allowed.
   */
  authorizeDelivery(delivery: {
    readonly rule: Pick<RuleModel, 'arn' | 'name'>;
    readonly target: TargetModel;
    readonly to: 'target' | 'dead-letter';
  }): string | undefined {
    const { rule, target, to } = delivery;
    const arn = to === 'target' ? target.arn : target.deadLetterArn;
    const service = arn?.split(':')[2];
    if (!arn || (service !== 'sqs' && service !== 'firehose')) return undefined;
    let caller: Caller;
    if (service === 'sqs') caller = { kind: 'service', service: 'events.amazonaws.com', sourceArn: rule.arn };
    else if (target.roleArn) {
      caller = { kind: 'principal', principal: this.targetRolePrincipal(rule.name, target) };
    } else {
      this.countDelivery(
        { kind: 'service', service: 'events.amazonaws.com', sourceArn: rule.arn },
        service,
        false,
      );
      return `rule ${rule.name} target ${target.id} has no RoleArn: EventBridge needs a role allowed firehose:PutRecord to deliver to ${arn}`;
    }
    const action = service === 'sqs' ? 'sqs:SendMessage' : 'firehose:PutRecord';
    const denial = this.check(caller, service, [{ action, resource: arn }]);
    return denial?.message;
  }

  /** Counts a service-to-service delivery decision (EventBridge into SQS or Firehose, Firehose into S3). */
  countDelivery(caller: Caller, service: string, allowed: boolean): void {
    this.count(caller, service, allowed);
  }

  private count(caller: Caller, service: string, allowed: boolean): void {
    const key = `${labelOf(caller)}\t${service}\t${allowed ? 'allowed' : 'denied'}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
  }

  private targetRolePrincipal(ruleName: string, target: TargetModel): LocalPrincipal {
    const label = `${ruleName}/${target.id}`;
    let principal = this.targetRoles.get(label);
    if (!principal) {
      // EventBridge's session name for a target role is not documented; the rule and target name it here.
      principal = localPrincipal(label, target.roleArn as string, label.replaceAll('/', '-'));
      this.targetRoles.set(label, principal);
    }
    return principal;
  }

  private refuse(message: string): void {
    if (!this.collect) throw new Error(message);
    this.startupProblems.push(message);
  }

  private add(principal: LocalPrincipal): void {
    this.byKey.set(principal.credentials.accessKeyId, principal);
    this.byLabel.set(principal.label, principal);
  }

  private evaluate(caller: Caller, request: AccessRequest): Denial | undefined {
    const resource = this.resourcePolicyOf(request.resource);
    const context = { 'aws:SecureTransport': 'true', ...this.callerContext(caller), ...request.context };
    let principal: CallerPrincipal;
    let identity: readonly PolicyStatement[];
    if (caller.kind === 'service') {
      principal = { kind: 'service', service: caller.service };
      identity = [];
    } else if (caller.kind === 'principal') {
      principal = { kind: 'role', arn: caller.principal.roleArn, account: this.model.account };
      identity = this.model.iam.roles.get(caller.principal.roleArn)?.statements ?? [];
    } else {
      principal = { kind: 'role', arn: this.userArn, account: this.model.account };
      identity = ALLOW_ALL;
    }
    let decision: Decision;
    try {
      decision = authorize({ identity, ...(resource && { resource }) }, { principal, ...request, context });
    } catch (error) {
      if (error instanceof UnsupportedConditionError)
        throw new Error(`${request.action} on ${request.resource}: ${error.message}`);
      throw error;
    }
    if (decision.allowed) return undefined;
    const who =
      caller.kind === 'principal'
        ? caller.principal.sessionArn
        : caller.kind === 'service'
          ? caller.service
          : this.userArn;
    const explicit = decision.reason === 'explicit-deny';
    const why = explicit
      ? `with an explicit deny in ${decision.statement?.startsWith('identity') ? 'an identity-based' : 'a resource-based'} policy`
      : caller.kind === 'service'
        ? `because no resource-based policy allows the ${request.action} action`
        : `because no identity-based policy allows the ${request.action} action`;
    return {
      action: request.action,
      resource: request.resource,
      explicit,
      message: `User: ${who} is not authorized to perform: ${request.action} on resource: ${request.resource} ${why}`,
    };
  }

  private callerContext(caller: Caller): Record<string, string> {
    if (caller.kind === 'service') {
      return {
        'aws:SourceArn': caller.sourceArn,
        'aws:SourceAccount': this.model.account,
        'aws:PrincipalServiceName': caller.service,
      };
    }
    const arn = caller.kind === 'principal' ? caller.principal.roleArn : this.userArn;
    return { 'aws:PrincipalArn': arn, 'aws:PrincipalAccount': this.model.account };
  }

  /** The policy guarding a resource: the queue's, bus's or key's own, an object's bucket's. */
  private resourcePolicyOf(arn: string): readonly PolicyStatement[] | undefined {
    const policies = this.model.iam.resourcePolicies;
    const direct = policies.get(arn);
    if (direct) return direct;
    if (arn.startsWith('arn:aws:s3:::')) return policies.get(arn.split('/')[0] as string);
    return undefined;
  }

  /**
   * Start-up refusals: roles with managed policies (their documents are not in the template),
   * condition keys the runtime does not supply. Only roles of what the runtime runs are read.
   */
  private checkPolicies(): void {
    const roles = new Set([...this.byLabel.values()].map((p) => p.roleArn));
    for (const rule of this.model.rules)
      for (const target of rule.targets) if (target.roleArn) roles.add(target.roleArn);
    for (const roleArn of roles) {
      const role = this.model.iam.roles.get(roleArn);
      const users = [...this.byLabel.values()].filter((p) => p.roleArn === roleArn).map((p) => p.label);
      const whose = users.length ? ` (the role of ${users.join(', ')})` : '';
      if (!role) {
        this.refuse(
          `role ${roleArn}${whose} is not a role of this template, so the local IAM cannot read its policies`,
        );
        continue;
      }
      if (role.managedPolicyArns.length > 0) {
        this.refuse(
          `role ${roleArn}${whose} has managed policies the local IAM cannot read (${role.managedPolicyArns.join(', ')}): ` +
            'grant what the function needs with inline statements (grant* methods, addToRolePolicy) instead',
        );
      }
      for (const problem of conditionKeyProblems(role.statements, `role ${roleArn}`)) this.refuse(problem);
    }
    for (const [arn, statements] of this.model.iam.resourcePolicies)
      for (const problem of conditionKeyProblems(statements, `the resource policy of ${arn}`))
        this.refuse(problem);
  }

  /**
   * What CreateEventSourceMapping checks in AWS: the function's role may receive, delete and read
   * the attributes of its queue ("The provided execution role does not have permissions to call
   * ReceiveMessage on SQS").
   */
  private checkEventSourceMappings(): void {
    for (const mapping of this.model.eventSourceMappings) {
      const principal = this.byLabel.get(mapping.functionLogicalId);
      if (!principal) continue;
      for (const call of ['ReceiveMessage', 'DeleteMessage', 'GetQueueAttributes']) {
        const denial = this.evaluate(
          { kind: 'principal', principal },
          { action: `sqs:${call}`, resource: mapping.queueArn },
        );
        if (denial) {
          this.refuse(
            `event source mapping ${mapping.logicalId}: The provided execution role does not have permissions to call ${call} on SQS (${denial.message}); grant the function's role sqs:${call} on the queue (queue.grantConsumeMessages)`,
          );
        }
      }
    }
  }
}

function labelOf(caller: Caller): string {
  if (caller.kind === 'principal') return caller.principal.label;
  return caller.kind === 'service' ? caller.service : 'user';
}

function cacheKeyOf(caller: Caller): string {
  if (caller.kind === 'principal') return `p:${caller.principal.label}`;
  return caller.kind === 'service' ? `s:${caller.service}:${caller.sourceArn}` : 'u';
}

function contextKeyOf(request: AccessRequest): string {
  if (!request.context) return '';
  let key = '';
  for (const [name, value] of Object.entries(request.context)) key += `${name}=${String(value)}\u0001`;
  return key;
}

const SUPPORTED = new Set(SUPPORTED_CONDITION_KEYS.map((k) => k.toLowerCase()));

function conditionKeyProblems(statements: readonly PolicyStatement[], where: string): string[] {
  const problems: string[] = [];
  for (const statement of statements) {
    for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
      for (const key of Object.keys(keys)) {
        if (!SUPPORTED.has(key.toLowerCase())) {
          problems.push(
            `${where}: statement ${statement.Sid ?? '(no Sid)'} tests condition key ${key} (${operator}), which the local runtime does not supply (it supplies ${SUPPORTED_CONDITION_KEYS.join(', ')}): it cannot decide that statement as AWS would`,
          );
        }
      }
    }
  }
  return problems;
}
