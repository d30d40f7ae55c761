import { describe, expect, it } from 'vitest';
import { unroutedEventReason } from '../../cli/commands/dlq';
import { checkTenants } from '../../cli/tenant-check';
import { tenantSource } from '../../functions/core/events';
import {
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
  const patterns = unroutedRequestPatterns(many);

  it('splits many tenants over patterns within the size quota, each valid', () => {
    expect(patterns.length).toBeGreaterThan(1);
    for (const p of patterns) {
      expect(JSON.stringify(p).length).toBeLessThanOrEqual(MAX_EVENT_PATTERN_CHARS);
      expect(() => validatePattern(p)).not.toThrow();
    }
  });

  it('matches each request exactly once across tenant rules and unrouted rules, however split', () => {
    const rules = [...many.map(tenantRequestPattern), ...patterns];
    const events = [
      ...many.map((t) => request(tenantSource(t), { tenant: t })),
      request(tenantSource('umbrella'), { tenant: 'umbrella' }),
      request(tenantSource(many[7] as string), { tenant: many[8] }),
      request(tenantSource(many[39] as string), {}),
      request('other', { tenant: many[0] }),
    ];
    for (const event of events) {
      expect(rules.filter((r) => matchesPattern(r, event))).toHaveLength(1);
      expect(patterns.some((p) => matchesPattern(p, event))).toBe(
        !many.some((t) => event.source === tenantSource(t) && event.detail.tenant === t),
      );
    }
  });

  it('says which tenant list cannot fit at all rather than emit a pattern EventBridge refuses', () => {
    expect(() => unroutedRequestPatterns(['a'.repeat(40)], 100)).toThrow(/over EventBridge's 100/);
    expect(() => unroutedRequestPatterns([])).toThrow(/at least one tenant/);
  });
});

describe('unroutedReason', () => {
  it('names the missing tenant, the mismatch, and the unconfigured tenant', () => {
    expect(unroutedReason('inferbus.acme', undefined)?.code).toBe('MissingTenant');
    expect(unroutedReason('inferbus.acme', 'globex')).toEqual({
      code: 'SourceTenantMismatch',
      message: 'source "inferbus.acme" does not match detail.tenant "globex" (expected inferbus.globex)',
    });
    expect(unroutedReason('inferbus.umbrella', 'umbrella', ['acme'])).toEqual({
      code: 'NoTenantConfiguration',
      message: 'no tenant configuration for umbrella (configured: acme)',
    });
    expect(unroutedReason('inferbus.acme', 'acme', ['acme'])).toBeUndefined();
  });

  it('derives the reason a DLQ reader shows from the event body alone', () => {
    const body = JSON.stringify(request('inferbus.umbrella', { tenant: 'umbrella' }));
    expect(unroutedEventReason(body)).toEqual({
      code: 'NoTenantConfiguration',
      message: 'no tenant configuration for umbrella',
    });
    expect(unroutedEventReason('not json').code).toBe('NotAnEvent');
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
});
