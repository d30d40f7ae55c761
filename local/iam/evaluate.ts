import { conditionBlockHolds, type RequestContext } from './conditions';
import type { PolicyStatement, Principal } from './policy-document';
import { arnMatch, wildcardMatch } from './wildcard';

/** Who makes a call: an IAM role (a Lambda function's execution role) or an AWS service. */
export type CallerPrincipal =
  | { readonly kind: 'role'; readonly arn: string; readonly account: string }
  | { readonly kind: 'service'; readonly service: string };

export interface AuthorizationRequest {
  readonly principal: CallerPrincipal;
  /** `service:Action`, e.g. `sqs:SendMessage`. */
  readonly action: string;
  /** The ARN the action is authorized on. */
  readonly resource: string;
  readonly context?: RequestContext;
}

export interface PoliciesInForce {
  /** The caller's identity policies (a role's inline and attached policies); none for a service. */
  readonly identity: readonly PolicyStatement[];
  /** The resource's policy (queue, topic, bucket, key or bus policy), when it has one. */
  readonly resource?: readonly PolicyStatement[];
}

export type Decision =
  | { readonly allowed: true; readonly by: 'identity' | 'resource' }
  | {
      readonly allowed: false;
      readonly reason: 'explicit-deny' | 'implicit-deny';
      /** The policy kind and statement id of an explicit deny. */
      readonly statement?: string;
    };

/**
 * IAM's evaluation for a caller and a resource of one account (no SCPs, permission boundaries or
 * session policies, which the stack does not use): an explicit deny in any policy wins; otherwise
 * an allow in the identity policies or in the resource policy (naming this principal) allows;
 * otherwise the request is implicitly denied.
 */
export function authorize(policies: PoliciesInForce, request: AuthorizationRequest): Decision {
  const context = request.context ?? {};
  const identity = request.principal.kind === 'role' ? policies.identity : [];
  const resourceStatements = (policies.resource ?? []).filter((s) => principalMatches(s, request.principal));
  const applies = (s: PolicyStatement) =>
    actionMatches(s, request.action) &&
    resourceMatches(s, request.resource) &&
    conditionBlockHolds(s.Condition, context);

  for (const [kind, statements] of [
    ['identity', identity],
    ['resource', resourceStatements],
  ] as const) {
    const deny = statements.find((s) => s.Effect === 'Deny' && applies(s));
    if (deny)
      return {
        allowed: false,
        reason: 'explicit-deny',
        statement: `${kind} policy ${deny.Sid ?? '(no Sid)'}`,
      };
  }
  if (identity.some((s) => s.Effect === 'Allow' && applies(s))) return { allowed: true, by: 'identity' };
  // An allow naming only the account delegates to the identity policies: it grants nothing itself.
  const grantsDirectly = (s: PolicyStatement) => !namesOnlyAccounts(s.Principal);
  if (resourceStatements.some((s) => s.Effect === 'Allow' && grantsDirectly(s) && applies(s))) {
    return { allowed: true, by: 'resource' };
  }
  return { allowed: false, reason: 'implicit-deny' };
}

function actionMatches(s: PolicyStatement, action: string): boolean {
  if (s.Action) return s.Action.some((p) => wildcardMatch(p, action, true));
  return !(s.NotAction ?? []).some((p) => wildcardMatch(p, action, true));
}

function resourceMatches(s: PolicyStatement, resource: string): boolean {
  // A resource policy statement may leave Resource out: it then means the resource it is attached to.
  if (s.Resource === undefined && s.NotResource === undefined) return true;
  if (s.Resource) return s.Resource.some((p) => arnMatch(p, resource));
  return !(s.NotResource ?? []).some((p) => arnMatch(p, resource));
}

function principalMatches(s: PolicyStatement, caller: CallerPrincipal): boolean {
  if (s.Principal !== undefined) return principalListed(s.Principal, caller);
  if (s.NotPrincipal !== undefined) return !principalListed(s.NotPrincipal, caller);
  return false;
}

function principalListed(principal: Principal, caller: CallerPrincipal): boolean {
  if (principal === '*') return true;
  if (caller.kind === 'service') return (principal.Service ?? []).includes(caller.service);
  return (principal.AWS ?? []).some(
    (p) =>
      p === '*' || p === caller.arn || p === caller.account || p === `arn:aws:iam::${caller.account}:root`,
  );
}

function namesOnlyAccounts(principal: Principal | undefined): boolean {
  if (principal === undefined || principal === '*') return false;
  const aws = principal.AWS ?? [];
  const others = Object.entries(principal).filter(([k]) => k !== 'AWS');
  return others.length === 0 && aws.length > 0 && aws.every((p) => /^\d{12}$/.test(p) || /:root$/.test(p));
}
