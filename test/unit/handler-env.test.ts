import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../functions/core/manifest';
import {
  ConfigurationError,
  cascadeThreshold,
  readHandlerEnv,
  readTenantPolicies,
} from '../../functions/shared/env';

const BASE = {
  EVENT_BUS_NAME: 'bus',
  ARCHIVE_STREAM_NAME: 'archive',
  INFERBUS_TASK: 'spam',
  INFERBUS_TIER: '1',
  INFERBUS_LAST_TIER: 'false',
  MODEL_NAME: 'tier1',
};

describe('handler environment', () => {
  it('reads and defaults the variables the CDK app sets', () => {
    const env = readHandlerEnv(BASE);
    expect(env).toMatchObject({
      INFERBUS_TASK: 'spam',
      INFERBUS_TIER: 1,
      INFERBUS_LAST_TIER: false,
      MODEL_NAME: 'tier1',
      MODELS_DIR: '/opt/models',
      CASCADE_THRESHOLD: 'manifest',
      MAX_RECEIVE_COUNT: 3,
      TENANT_POLICIES_FILE: '/opt/inferbus/tenant-policies.json',
    });
    expect(readHandlerEnv({ ...BASE, INFERBUS_LAST_TIER: 'true' }).INFERBUS_LAST_TIER).toBe(true);
  });

  it('names a missing variable and a malformed one', () => {
    const { EVENT_BUS_NAME: _bus, ...noBus } = BASE;
    expect(() => readHandlerEnv(noBus)).toThrow(ConfigurationError);
    expect(() => readHandlerEnv(noBus)).toThrow(/EVENT_BUS_NAME is not set/);
    const { ARCHIVE_STREAM_NAME: _stream, ...noStream } = BASE;
    expect(() => readHandlerEnv(noStream)).toThrow(/ARCHIVE_STREAM_NAME is not set/);
    for (const name of ['INFERBUS_TASK', 'MODEL_NAME', 'INFERBUS_LAST_TIER'] as const) {
      const { [name]: _gone, ...rest } = BASE;
      expect(() => readHandlerEnv(rest)).toThrow(`${name} is not set`);
    }
    expect(() => readHandlerEnv({ ...BASE, AWS_ENDPOINT_URL_SQS: 'localhost' })).toThrow(
      /AWS_ENDPOINT_URL_SQS="localhost"/,
    );
    expect(() => readHandlerEnv({ ...BASE, INFERBUS_TASK: 'Spam-Task' })).toThrow(
      /INFERBUS_TASK="Spam-Task"/,
    );
    expect(() => readHandlerEnv({ ...BASE, INFERBUS_LAST_TIER: 'yes' })).toThrow(/INFERBUS_LAST_TIER="yes"/);
    expect(() => readHandlerEnv({ ...BASE, CASCADE_THRESHOLD: '1.2' })).toThrow(/CASCADE_THRESHOLD/);
  });
});

describe('cascade threshold against the task', () => {
  const manifest = (labels: string[], cascades: { tiers: string[]; thresholds: number[] }[]) =>
    ({ task: { id: 'triage', labels }, cascades }) as unknown as Manifest;
  const env = (vars: Record<string, string>) => readHandlerEnv({ ...BASE, ...vars });
  const three = ['a', 'b', 'c'];

  it("checks a number against the task's K labels: [1/K, 1]", () => {
    expect(cascadeThreshold(env({ CASCADE_THRESHOLD: '0.4' }), manifest(three, []))).toBe(0.4);
    expect(() => cascadeThreshold(env({ CASCADE_THRESHOLD: '0.2' }), manifest(three, []))).toThrow(
      "CASCADE_THRESHOLD=0.2 is outside [1/3, 1] = [0.3333, 1] for task triage's 3 labels",
    );
    // 0.4 is fine for three labels and below the floor for two.
    expect(() => cascadeThreshold(env({ CASCADE_THRESHOLD: '0.4' }), manifest(['x', 'y'], []))).toThrow(
      /outside \[1\/2, 1\]/,
    );
  });

  it("takes the manifest's threshold for this model at this tier", () => {
    const m = manifest(three, [
      { tiers: ['small', 'mid', 'big'], thresholds: [0.6, 0.8] },
      { tiers: ['small', 'big'], thresholds: [0.6] },
    ]);
    expect(cascadeThreshold(env({ MODEL_NAME: 'small' }), m)).toBe(0.6);
    expect(cascadeThreshold(env({ MODEL_NAME: 'mid', INFERBUS_TIER: '2' }), m)).toBe(0.8);
    // The last tier never escalates, so it needs no calibrated threshold.
    expect(
      cascadeThreshold(env({ MODEL_NAME: 'big', INFERBUS_TIER: '3', INFERBUS_LAST_TIER: 'true' }), m),
    ).toBe(1);
  });

  it('refuses to guess when no cascade, or cascades that disagree, give the threshold', () => {
    const m = manifest(three, [
      { tiers: ['small', 'big'], thresholds: [0.6] },
      { tiers: ['small', 'mid'], thresholds: [0.7] },
    ]);
    expect(() => cascadeThreshold(env({ MODEL_NAME: 'small' }), m)).toThrow(
      /different thresholds \(0\.6, 0\.7\); set CASCADE_THRESHOLD to a number in \[1\/3, 1\]/,
    );
    expect(() => cascadeThreshold(env({ MODEL_NAME: 'mid', INFERBUS_TIER: '2' }), m)).toThrow(
      'for task triage no cascade in its manifest runs model mid at tier 2 before another tier',
    );
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
