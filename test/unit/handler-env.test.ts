import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, readHandlerEnv, readTenantPolicies } from '../../functions/shared/env';

describe('handler environment', () => {
  it('reads and defaults the variables the CDK app sets', () => {
    const env = readHandlerEnv({
      EVENT_BUS_NAME: 'bus',
      INFERBUS_TIER: '1',
    });
    expect(env).toMatchObject({
      MODELS_DIR: '/opt/models',
      CASCADE_THRESHOLD: 'manifest',
      MAX_RECEIVE_COUNT: 3,
      TENANT_POLICIES_FILE: '/opt/inferbus/tenant-policies.json',
    });
  });

  it('names a missing variable and a malformed one', () => {
    expect(() => readHandlerEnv({ INFERBUS_TIER: '1' })).toThrow(ConfigurationError);
    expect(() => readHandlerEnv({ INFERBUS_TIER: '1' })).toThrow(/EVENT_BUS_NAME is not set/);
    expect(() =>
      readHandlerEnv({ EVENT_BUS_NAME: 'b', INFERBUS_TIER: '1', AWS_ENDPOINT_URL_SQS: 'localhost' }),
    ).toThrow(/AWS_ENDPOINT_URL_SQS="localhost"/);
    expect(() =>
      readHandlerEnv({ EVENT_BUS_NAME: 'b', INFERBUS_TIER: '1', CASCADE_THRESHOLD: '0.2' }),
    ).toThrow(/CASCADE_THRESHOLD/);
  });
});

describe('tenant policies file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-policies-'));

  it('reads a valid file', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(
      file,
      JSON.stringify({ acme: { ratePerSecond: 1, burst: 2, ordering: 'flag', maxHoldSeconds: 5 } }),
    );
    expect(readTenantPolicies(file).acme?.burst).toBe(2);
  });

  it('names a missing file and the layer that should hold it', () => {
    expect(() => readTenantPolicies(join(dir, 'missing.json'))).toThrow(
      /TENANT_POLICIES_FILE=.*missing\.json cannot be read .*tenant-config layer/,
    );
  });

  it('names a malformed file and what it must hold', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ acme: { ratePerSecond: -1 } }));
    expect(() => readTenantPolicies(file)).toThrow(/bad\.json must hold a JSON object of tenant id/);
  });
});
