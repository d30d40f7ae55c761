import { describe, expect, it } from 'vitest';
import { ConfigError, loadStageConfig, parseStageConfig, stages } from '../../lib/config';

const dev = () => structuredClone(stages.dev) as Record<string, unknown> & typeof stages.dev;
/** Dev's first task's tiers, editable (a clone). */
const tiersOf = (config: ReturnType<typeof dev>) => {
  const [tier1, tier2] = config.tasks[0]?.tiers ?? [];
  if (!tier1 || !tier2) throw new Error('dev has two tiers');
  return [tier1, tier2] as [typeof tier1 & Record<string, unknown>, typeof tier2 & Record<string, unknown>];
};

function problemsOf(input: unknown): string {
  try {
    parseStageConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('stage configuration', () => {
  it.each(Object.keys(stages))('built-in stage %s is valid', (stage) => {
    const config = loadStageConfig(stage);
    expect(config.stage).toBe(stage);
    expect(config.architecture).toBe('arm64');
  });

  it('rejects an unknown stage and lists the known ones', () => {
    expect(() => loadStageConfig('qa')).toThrow(/Unknown stage "qa". Known stages: dev, prod/);
  });

  it('names the field, the allowed values and the value given', () => {
    const message = problemsOf({ ...dev(), architecture: 'mips' });
    expect(message).toContain('stage "dev"');
    expect(message).toMatch(/architecture: .*"arm64"\|"x86_64".*\(got "mips"\)/);
  });

  it('reports every problem at once', () => {
    const config = dev();
    const [tier1, tier2] = tiersOf(config);
    tier1.memoryMiB = 64;
    tier2.timeoutSeconds = 901;
    const message = problemsOf(config);
    expect(message).toMatch(/tasks\[0\]\.tiers\[0\]\.memoryMiB: .*>=128.*\(got 64\)/);
    expect(message).toMatch(/tasks\[0\]\.tiers\[1\]\.timeoutSeconds: .*<=900.*\(got 901\)/);
  });

  it('requires a batching window for batches above 10 records', () => {
    const config = dev();
    const [tier1] = tiersOf(config);
    tier1.batchSize = 100;
    tier1.maxBatchingWindowSeconds = 0;
    expect(problemsOf(config)).toMatch(
      /tasks\[0\]\.tiers\[0\]\.maxBatchingWindowSeconds: must be >= 1 when batchSize is above 10/,
    );
  });

  it('requires provisioned concurrency min <= max', () => {
    const config = dev();
    tiersOf(config)[1].provisionedConcurrency = { min: 5, max: 2, targetUtilization: 0.7 };
    expect(problemsOf(config)).toMatch(
      /tasks\[0\]\.tiers\[1\]\.provisionedConcurrency\.min: must be <= provisionedConcurrency\.max \(2\)/,
    );
  });

  it('rejects duplicate, reserved and malformed tenant ids', () => {
    const config = dev();
    const [first] = config.tenants;
    if (!first) throw new Error('dev has tenants');
    config.tenants = [first, { ...first }, { ...first, id: 'results' }, { ...first, id: 'Bad_Id' }];
    const message = problemsOf(config);
    expect(message).toMatch(/tenants\[1\]\.id: duplicates tenant "acme"/);
    expect(message).toMatch(/tenants\[2\]\.id: is reserved/);
    expect(message).toMatch(/tenants\[3\]\.id: must be 1-32 characters/);
    // `unknown` names the tenant of failure notices whose record had none: no real tenant may take it.
    config.tenants = [first, { ...first, id: 'unknown' }];
    expect(problemsOf(config)).toMatch(
      /tenants\[1\]\.id: is reserved; choose an id other than results, inferbus, aws, unknown/,
    );
  });

  it('rejects a tenant share outside (0, 1] and an empty tenant list', () => {
    const config = dev();
    const [first] = config.tenants;
    if (!first) throw new Error('dev has tenants');
    expect(problemsOf({ ...config, tenants: [{ ...first, maxConcurrencyShare: 0 }] })).toMatch(
      /tenants\[0\]\.maxConcurrencyShare: .*>0/,
    );
    expect(problemsOf({ ...config, tenants: [] })).toMatch(/tenants: must list at least one tenant/);
  });

  it('refuses a principal shared by two tenants, or one inside another tenant account', () => {
    const config = dev();
    const [acme, globex, initech] = config.tenants;
    if (!acme || !globex || !initech) throw new Error('dev has three tenants');
    config.tenants = [
      { ...acme, publisherPrincipals: ['111111111111'], dlqReaderPrincipals: ['111111111111'] },
      { ...globex, dlqReaderPrincipals: ['arn:aws:iam::111111111111:role/globex-ops'] },
      { ...initech, publisherPrincipals: ['arn:aws:iam::222222222222:role/shared', 'bad'] },
      { ...initech, id: 'umbrella', dlqReaderPrincipals: ['arn:aws:iam::222222222222:role/shared'] },
    ];
    const message = problemsOf(config);
    expect(message).toMatch(
      /tenants\[1\]\.dlqReaderPrincipals\[0\]: arn:aws:iam::111111111111:role\/globex-ops overlaps a principal of tenant "acme"/,
    );
    expect(message).toMatch(
      /tenants\[3\]\.dlqReaderPrincipals\[0\]: .*role\/shared overlaps a principal of tenant "initech"/,
    );
    expect(message).toMatch(
      /tenants\[2\]\.publisherPrincipals\[1\]: must be a 12-digit account id or an IAM/,
    );
    expect(message).not.toMatch(/tenants\[0\]\./); // one tenant may list a principal as publisher and reader
  });

  it('enforces the Parquet conversion minimum buffer and a valid alarm email', () => {
    const config = dev();
    config.archive.bufferingSizeMiB = 5;
    const message = problemsOf({ ...config, alarms: { ...config.alarms, email: 'not-an-email' } });
    expect(message).toMatch(/archive\.bufferingSizeMiB: .*>=64.*\(got 5\)/);
    expect(message).toMatch(/alarms\.email: .*\(got "not-an-email"\)/);
  });

  it('says when a required field is missing', () => {
    const { tasks: _tasks, ...rest } = dev();
    expect(problemsOf(rest)).toMatch(/tasks: .*\(missing\)/);
  });

  it('defaults each tenant to the flag ordering policy with a 60 s hold bound', () => {
    const config = loadStageConfig('dev');
    for (const tenant of config.tenants)
      expect(tenant.ordering).toEqual({ policy: 'flag', maxHoldSeconds: 60 });
    const partial = dev();
    (partial.tenants[0] as Record<string, unknown>).ordering = { policy: 'hold' };
    expect(parseStageConfig(partial).tenants[0]?.ordering).toEqual({ policy: 'hold', maxHoldSeconds: 60 });
  });

  it('explains a bad ordering policy and an out-of-range hold', () => {
    const config = dev();
    (config.tenants[0] as Record<string, unknown>).ordering = { policy: 'drop', maxHoldSeconds: 60 };
    (config.tenants[1] as Record<string, unknown>).ordering = { policy: 'hold', maxHoldSeconds: 0 };
    (config.tenants[2] as Record<string, unknown>).ordering = { policy: 'hold', maxHoldSeconds: 7200 };
    const message = problemsOf(config);
    expect(message).toMatch(
      /tenants\[0\]\.ordering\.policy: must be "flag" \(process and mark gaps\) or "hold".*\(got "drop"\)/,
    );
    expect(message).toMatch(/tenants\[1\]\.ordering\.maxHoldSeconds: must be at least 1 second \(got 0\)/);
    expect(message).toMatch(
      /tenants\[2\]\.ordering\.maxHoldSeconds: must be at most 3600 seconds.*\(got 7200\)/,
    );
  });

  it('checks tasks: ids, duplicates, tier counts, and no threshold on the last tier', () => {
    const config = dev();
    const [spam] = config.tasks;
    if (!spam) throw new Error('dev has a task');
    const [tier1, tier2] = tiersOf(config);
    config.tasks = [
      spam,
      { ...spam },
      { id: 'Sensor-1', tiers: [tier1, tier2] },
      { id: 'empty', tiers: [] },
      { id: 'late', tiers: [tier1, { ...tier2, threshold: 0.9 }] },
      { id: 'badmodel', tiers: [{ ...tier1, model: 'Tier 1' }, tier2] },
    ];
    const message = problemsOf(config);
    expect(message).toMatch(/tasks\[1\]\.id: duplicates task "spam"/);
    expect(message).toMatch(/tasks\[2\]\.id: must be 1-12 lowercase letters and digits/);
    expect(message).toMatch(/tasks\[3\]\.tiers: must list at least one tier/);
    expect(message).toMatch(
      /tasks\[4\]\.tiers\[1\]\.threshold: the last tier answers every request it gets; remove its threshold \(got 0\.9\)/,
    );
    expect(message).toMatch(/tasks\[5\]\.tiers\[0\]\.model: must be a model name .*\(got "Tier 1"\)/);
    expect(problemsOf({ ...dev(), tasks: [] })).toMatch(/tasks: must list at least one task/);
  });
});
