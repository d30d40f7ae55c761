import {
  type AccessRequest,
  accessRequestsOf,
  type Place,
  s3AccessRequests,
  UnmappedOperationError,
} from './actions.js';
import type { Caller, Denial, LocalAuthorizer } from './authorizer.js';
import { accessKeyIdOf } from './credentials.js';
import { accessDenied, type GuardResponse, unmapped } from './responses.js';

export type JsonService = 'sqs' | 'events' | 'dynamodb' | 'firehose';

/** What a guard says about one call: go on, answer this instead, or (PutEvents) drop these entries. */
export type Verdict =
  | { readonly go: true; readonly deniedEntries?: ReadonlyMap<number, Denial> }
  | { readonly go: false; readonly response: GuardResponse };

const GO: Verdict = { go: true };

/**
 * Authorizes the calls that reach the local endpoints, before the service sees them: finds the
 * caller from the signing access key, maps the call to IAM actions with the action table, and
 * answers a denial in the service's own error shape.
 */
export class EndpointGuard {
  constructor(
    readonly authorizer: LocalAuthorizer,
    private readonly place: Place,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * A JSON-protocol call. `input` is the parsed body, or a function that parses it (called only when
   * the decision needs the body). `operation` is the X-Amz-Target's part after the service prefix.
   */
  json(
    service: JsonService,
    operation: string,
    input: unknown | (() => unknown),
    authorization: string | undefined,
  ): Verdict {
    const caller = this.authorizer.callerOf(accessKeyIdOf(authorization));
    if (caller.kind === 'user' && !this.authorizer.mayDenyUser(service)) {
      this.authorizer.check(caller, service, []);
      return GO;
    }
    if (!this.authorizer.enabled) {
      this.authorizer.check(caller, service, []);
      return GO;
    }
    let requests: AccessRequest[];
    try {
      requests = accessRequestsOf(
        service,
        operation,
        typeof input === 'function' ? input() : input,
        this.place,
      );
    } catch (error) {
      return this.unmapped(service, caller, error);
    }
    if (service === 'events' && operation === 'PutEvents' && requests.length > 1) {
      return this.perEntry(caller, requests);
    }
    const denial = this.authorizer.check(caller, service, requests);
    return denial ? this.deny(service, caller, denial) : GO;
  }

  /** An S3 REST call (method, path-style URL, copy source header). */
  s3(method: string, url: string, headers: Record<string, string | string[] | undefined>): Verdict {
    const authorization = typeof headers.authorization === 'string' ? headers.authorization : undefined;
    const caller = this.authorizer.callerOf(accessKeyIdOf(authorization, url));
    if (!this.authorizer.enabled || (caller.kind === 'user' && !this.authorizer.mayDenyUser('s3'))) {
      this.authorizer.check(caller, 's3', []);
      return GO;
    }
    const queryAt = url.indexOf('?');
    const copySource = headers['x-amz-copy-source'];
    let requests: AccessRequest[];
    try {
      requests = s3AccessRequests({
        method,
        path: queryAt < 0 ? url : url.slice(0, queryAt),
        query: new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1)),
        ...(typeof copySource === 'string' && { copySource }),
      });
    } catch (error) {
      return this.unmapped('s3', caller, error);
    }
    const denial = this.authorizer.check(caller, 's3', requests);
    return denial ? this.deny('s3', caller, denial) : GO;
  }

  /**
   * PutEvents entries are authorized one by one (each has its own bus, source and detail type).
   * All denied: the request fails with AccessDeniedException; some: those entries fail with it.
   */
  private perEntry(caller: Caller, requests: readonly AccessRequest[]): Verdict {
    const denied = new Map<number, Denial>();
    requests.forEach((request, i) => {
      const denial = this.authorizer.decide(caller, request);
      if (denial) denied.set(i, denial);
    });
    if (denied.size === requests.length) return this.deny('events', caller, denied.get(0) as Denial, false);
    this.authorizer.check(caller, 'events', []);
    if (denied.size === 0) return GO;
    this.logDenial('events', caller, denied.values().next().value as Denial);
    return { go: true, deniedEntries: denied };
  }

  private deny(service: string, caller: Caller, denial: Denial, counted = true): Verdict {
    if (!counted) this.authorizer.countDelivery(caller, service, false);
    this.logDenial(service, caller, denial);
    return { go: false, response: accessDenied(service, denial) };
  }

  private logDenial(service: string, caller: Caller, denial: Denial): void {
    const who = caller.kind === 'principal' ? caller.principal.label : caller.kind;
    this.log(`iam: denied ${who} ${service}: ${denial.message}`);
  }

  private unmapped(service: string, caller: Caller, error: unknown): Verdict {
    if (!(error instanceof UnmappedOperationError)) throw error;
    if (caller.kind === 'user') {
      // The developer's own calls are allowed; no resource policy can be checked without a mapping.
      this.authorizer.check(caller, service, []);
      return GO;
    }
    const who = caller.kind === 'principal' ? caller.principal.label : caller.service;
    this.log(`iam: REFUSED ${who}: ${error.message}`);
    this.authorizer.countDelivery(caller, service, false);
    return { go: false, response: unmapped(service, error, who) };
  }
}

/**
 * PutEvents with some entries denied: the others go to the bus; the answer lists every entry in
 * request order, the denied ones with AccessDeniedException.
 */
export async function putEventsWithDenials(
  request: Record<string, unknown>,
  denied: ReadonlyMap<number, Denial>,
  send: (body: string) => Promise<{ status: number; headers: Record<string, string>; body: string }>,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const entries = request.Entries as unknown[];
  const allowed = entries.filter((_, i) => !denied.has(i));
  const response = await send(JSON.stringify({ ...request, Entries: allowed }));
  if (response.status !== 200) return response;
  const result = JSON.parse(response.body) as { FailedEntryCount: number; Entries: unknown[] };
  const sent = result.Entries[Symbol.iterator]();
  const merged = entries.map((_, i) => {
    const denial = denied.get(i);
    return denial ? { ErrorCode: 'AccessDeniedException', ErrorMessage: denial.message } : sent.next().value;
  });
  const body = JSON.stringify({ FailedEntryCount: result.FailedEntryCount + denied.size, Entries: merged });
  return {
    ...response,
    headers: { ...response.headers, 'content-length': String(Buffer.byteLength(body)) },
    body,
  };
}
