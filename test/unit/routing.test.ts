import { describe, expect, it } from 'vitest';
import { unroutedEventReason } from '../../cli/commands/dlq';
import { checkTenants } from '../../cli/tenant-check';
import { tenantSource } from '../../functions/core/events';
import {
  entryRouteOf,
  escalationPattern,
  MAX_EVENT_PATTERN_CHARS,
  tenantRequestPattern,
  unroutedReason,
  unroutedRequestPatterns,
} from '../../functions/core/routing';
import { matchesPattern, validatePattern } from '../../local/eventbridge/pattern';

const request = (source: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: 'e',
  'detail-type': 'InferenceRequested',
  source,
  account: '123456789012',
  time: '2026-11-29T00:00:00Z',
  region: 'eu-west-1',
  resources: [],
  detail,
});

describe('unroutedRequestPatterns', () => {
  // 40 tenants with long ids do not fit one 2,048-character pattern.
  const many = Array.from({ length: 40 }, (_, i) => `tenant-with-a-long-name-${String(i).padStart(3, '0')}`);
  const tasks = ['spam', 'sensor'];
  const patterns = unroutedRequestPatterns({ tenants: many, tasks });

  it('splits many tenants over patterns within the size quota, each valid', () => {
    expect(patterns.length).toBeGreaterThan(1);
    for (const p of patterns) {
      expect(JSON.stringify(p).length).toBeLessThanOrEqual(MAX_EVENT_PATTERN_CHARS);
      expect(() => validatePattern(p)).not.toThrow();
    }
  });

  it('matches each request exactly once across tenant rules and unrouted rules, however split', () => {
    const rules = [
      ...many.flatMap((tenant) => tasks.map((task) => tenantRequestPattern(tenant, task, tasks))),
      ...patterns,
    ];
    const events = [
      ...many.map((t) => request(tenantSource(t), { tenant: t })),
      ...many.map((t) => request(tenantSource(t), { tenant: t, task: 'sensor' })),
      request(tenantSource(many[3] as string), { tenant: many[3], task: 'spam' }),
      request(tenantSource(many[3] as string), { tenant: many[3], task: 'vision' }),
      request(tenantSource(many[3] as string), { tenant: many[3], task: null }),
      request(tenantSource(many[3] as string), { tenant: many[3], task: 7 }),
      request(tenantSource('umbrella'), { tenant: 'umbrella' }),
      request(tenantSource(many[7] as string), { tenant: many[8] }),
      request(tenantSource(many[39] as string), {}),
      request('other', { tenant: many[0] }),
    ];
    const routed = (event: ReturnType<typeof request>) =>
      many.some((t) => event.source === tenantSource(t) && event.detail.tenant === t) &&
      (event.detail.task === undefined || tasks.includes(event.detail.task as string));
    for (const event of events) {
      expect(rules.filter((r) => matchesPattern(r, event))).toHaveLength(1);
      expect(patterns.some((p) => matchesPattern(p, event))).toBe(!routed(event));
    }
  });

  it('says which tenant list cannot fit at all rather than emit a pattern EventBridge refuses', () => {
    expect(() => unroutedRequestPatterns({ tenants: ['a'.repeat(40)], tasks }, 100)).toThrow(
      /over EventBridge's 100/,
    );
    expect(() => unroutedRequestPatterns({ tenants: [], tasks })).toThrow(/at least one tenant/);
    expect(() => unroutedRequestPatterns({ tenants: ['acme'], tasks: [] })).toThrow(/at least one task/);
  });
});

describe('task routing', () => {
  const tasks = ['spam', 'sensor', 'triage'];
  const entry = (task: string) => tenantRequestPattern('acme', task, tasks);

  it('sends a request without a task to the first task only', () => {
    const event = request('inferbus.acme', { tenant: 'acme' });
    expect(tasks.filter((task) => matchesPattern(entry(task), event))).toEqual(['spam']);
  });

  it('sends a request naming a task to that task only', () => {
    for (const named of tasks) {
      const event = request('inferbus.acme', { tenant: 'acme', task: named });
      expect(tasks.filter((task) => matchesPattern(entry(task), event))).toEqual([named]);
    }
  });

  it('sends an escalation to the next tier of its own task only', () => {
    const escalation = (task: string, tier: number) => ({
      ...request('inferbus.results', { tenant: 'acme', task, payload: { task, tier } }),
      'detail-type': 'EscalationRequested',
    });
    const rules = tasks.flatMap((task) =>
      [2, 3].map((tier) => ({ task, tier, p: escalationPattern('acme', task, tier) })),
    );
    const takers = (e: unknown) =>
      rules.filter((r) => matchesPattern(r.p, e)).map((r) => `${r.task}/${r.tier}`);
    expect(takers(escalation('triage', 1))).toEqual(['triage/2']);
    expect(takers(escalation('triage', 2))).toEqual(['triage/3']);
    expect(takers(escalation('sensor', 1))).toEqual(['sensor/2']);
    // The last tier never escalates; if one did, no rule would take it.
    expect(takers(escalation('triage', 3))).toEqual([]);
    expect(() => escalationPattern('acme', 'spam', 1)).toThrow(/tier 2 or later/);
  });

  it('reads the route back from a pattern, and only from one built by tenantRequestPattern', () => {
    expect(entryRouteOf(entry('spam'))).toEqual({ tenant: 'acme', task: 'spam', isDefault: true });
    expect(entryRouteOf(entry('triage'))).toEqual({ tenant: 'acme', task: 'triage', isDefault: false });
    expect(entryRouteOf({ ...entry('triage'), source: ['inferbus.globex'] })).toBeUndefined();
    expect(entryRouteOf(escalationPattern('acme', 'spam', 2))).toBeUndefined();
  });
});

describe('unroutedReason', () => {
  it('names the missing tenant, the mismatch, and the unconfigured tenant', () => {
    expect(unroutedReason('inferbus.acme', undefined, undefined)?.code).toBe('MissingTenant');
    expect(unroutedReason('inferbus.acme', 'globex', undefined)).toEqual({
      code: 'SourceTenantMismatch',
      message: 'source "inferbus.acme" does not match detail.tenant "globex" (expected inferbus.globex)',
    });
    expect(unroutedReason('inferbus.umbrella', 'umbrella', undefined, { tenants: ['acme'] })).toEqual({
      code: 'NoTenantConfiguration',
      message: 'no tenant configuration for umbrella (configured: acme)',
    });
    expect(unroutedReason('inferbus.acme', 'acme', undefined, { tenants: ['acme'] })).toBeUndefined();
  });

  it('names a task the stage does not serve, and what to do', () => {
    const stage = { tenants: ['acme'], tasks: ['spam', 'sensor'] };
    expect(unroutedReason('inferbus.acme', 'acme', 'vision', stage)).toEqual({
      code: 'UnknownTask',
      message: 'detail.task "vision" is no task of this stage (tasks: spam, sensor; leave it out for spam)',
    });
    expect(unroutedReason('inferbus.acme', 'acme', null, stage)?.code).toBe('UnknownTask');
    expect(unroutedReason('inferbus.acme', 'acme', 'sensor', stage)).toBeUndefined();
    expect(unroutedReason('inferbus.acme', 'acme', undefined, stage)).toBeUndefined();
  });

  it('derives the reason a DLQ reader shows from the event body alone', () => {
    const body = JSON.stringify(request('inferbus.umbrella', { tenant: 'umbrella' }));
    expect(unroutedEventReason(body)).toEqual({
      code: 'NoTenantConfiguration',
      message: 'no tenant configuration for umbrella',
    });
    expect(unroutedEventReason('not json').code).toBe('NotAnEvent');
    // Without the stage's lists a reader cannot tell an unknown task from an unknown tenant.
    const unknownTask = JSON.stringify(request('inferbus.acme', { tenant: 'acme', task: 'vision' }));
    expect(unroutedEventReason(unknownTask)).toEqual({
      code: 'NoTenantConfiguration',
      message: 'no tenant configuration for acme or no task "vision"',
    });
  });
});

describe('checkTenants', () => {
  const entry = (tenant: string, extra: Record<string, unknown> = {}) => ({
    line: 1,
    entry: {
      Source: tenantSource(tenant),
      DetailType: 'InferenceRequested',
      Detail: JSON.stringify({ tenant }),
      EventBusName: 'inferbus-dev',
      ...extra,
    },
  });

  it('refuses requests for tenants with no rule, with what to do, and passes everything else', () => {
    const { routable, refused } = checkTenants(
      [
        entry('acme'),
        entry('umbrella'),
        entry('umbrella', { EventBusName: 'another-bus' }),
        entry('umbrella', { DetailType: 'InferenceCompleted' }),
      ],
      ['acme'],
      'inferbus-dev',
    );
    expect(routable).toHaveLength(3);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.reason).toMatch(
      /^NoTenantConfiguration: no tenant configuration for umbrella .*--allow-unknown-tenants/,
    );
  });

  it('refuses requests for a task the stage does not serve, when the template says which it does', () => {
    const { refused } = checkTenants(
      [
        entry('acme', { Detail: JSON.stringify({ tenant: 'acme', task: 'vision' }) }),
        entry('acme', { Detail: JSON.stringify({ tenant: 'acme', task: 'sensor' }) }),
      ],
      ['acme'],
      'inferbus-dev',
      ['spam', 'sensor'],
    );
    expect(refused.map((r) => r.reason)).toEqual([
      expect.stringMatching(
        /^UnknownTask: detail.task "vision" is no task of this stage .*Add the task to the stage config/,
      ),
    ]);
  });
});
