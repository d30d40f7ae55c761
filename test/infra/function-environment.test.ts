import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AWS_LIMITS, lambdaEnvironmentBytes } from '../../local/template/limits';
import { synth } from './synth';

/**
 * The function environment must not grow with the number of tenants (Lambda's limit is 4 KB for
 * all variables). 50 tenants pass CloudFormation's 500-resource limit, so the stack's resource
 * check is lifted here to look at the functions alone.
 */
describe('function environment with 50 tenants', () => {
  it('stays under 4 KB per function, the same size as with 3 tenants', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferbus-50-tenants-'));
    const tenants = Array.from({ length: 50 }, (_, i) => ({
      id: `tenant-${String(i).padStart(2, '0')}-with-a-long-name`,
      maxConcurrencyShare: 0.02,
      quota: { ratePerSecond: 10, burst: 20 },
      ordering: { policy: 'hold', maxHoldSeconds: 60 },
    }));
    writeFileSync(join(dir, 'tenants.json'), JSON.stringify({ tenants }));
    const sizes = (context: Record<string, unknown>) => {
      const { template } = synth({ stage: 'dev', '@aws-cdk/core:stackResourceLimit': 0, ...context });
      return Object.values<any>(template.findResources('AWS::Lambda::Function'))
        .filter((fn) => fn.Properties.Environment)
        .map((fn) => {
          // An intrinsic (Ref, GetAtt, Join) counts as the longest name it could resolve to.
          const variables = Object.fromEntries(
            Object.entries<unknown>(fn.Properties.Environment.Variables).map(([k, v]) => [
              k,
              typeof v === 'string' ? v : 'x'.repeat(256),
            ]),
          );
          return lambdaEnvironmentBytes(variables);
        });
    };
    const many = sizes({ config: join(dir, 'tenants.json') });
    expect(many.length).toBeGreaterThanOrEqual(2);
    for (const size of many) expect(size).toBeLessThan(AWS_LIMITS.lambdaEnvironmentBytes);
    expect(many).toEqual(sizes({}));
  });
});
