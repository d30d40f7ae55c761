import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AthenaClient } from '@aws-sdk/client-athena';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, PROJECT_ROOT } from '../../lib/app';
import { stages } from '../../lib/config';
import { runQuery } from '../../local/demo/athena-client';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { loadSplits } from '../../models/train/data';

/**
 * A tenant with a tiny quota on the local runtime: the dev app synthesized with a config file
 * that gives acme 5 events/s (burst 5), tenant state in the local DynamoDB-compatible server.
 * Everything over quota is delayed and still ends with a result in the archive.
 */
const work = mkdtempSync(join(tmpdir(), 'inferbus-quota-'));
const cdkOutDir = join(work, 'cdk.out');
let runtime: LocalRuntime;
const messages = loadSplits().test;
const EVENTS = 30;

beforeAll(async () => {
  const configPath = join(work, 'config.json');
  const tenants = structuredClone(stages.dev.tenants).map((t) =>
    t.id === 'acme' ? { ...t, quota: { ratePerSecond: 5, burst: 5 } } : t,
  );
  writeFileSync(configPath, JSON.stringify({ tenants }));
  createApp({
    outdir: cdkOutDir,
    context: { stage: 'dev', config: configPath, 'aws:cdk:enable-asset-metadata': true },
  }).app.synth();
  runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir: join(work, 'state'),
    cdkOutDir,
    log: () => {},
    firehoseIntervalSeconds: 1,
  });
}, 180_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('tenant quota on the local runtime', () => {
  it('delays a flood over quota and still answers every event', async () => {
    expect(runtime.model.tables).toHaveLength(1);
    const config = {
      endpoint: runtime.endpoint,
      region: runtime.model.region,
      credentials: LOCAL_S3_CREDENTIALS,
    };
    const events = new EventBridgeClient(config);
    const bus = runtime.model.buses.find((b) => b.name !== 'default')?.name;
    const started = Date.now();
    for (let i = 0; i < EVENTS; i += 10) {
      const entries = Array.from({ length: 10 }, (_, k) => {
        const seq = i + k + 1;
        return {
          EventBusName: bus,
          Source: 'inferbus.acme',
          DetailType: 'InferenceRequested',
          Detail: JSON.stringify({
            id: `quota-${seq}`,
            tenant: 'acme',
            stream: 'quota',
            seq,
            hlc: `${Date.now()}-0-test`,
            type: 'message.received',
            payload: { text: messages[seq]?.text ?? 'x' },
            metadata: {},
            time: new Date().toISOString(),
          }),
        };
      });
      const response = await events.send(new PutEventsCommand({ Entries: entries }));
      expect(response.FailedEntryCount).toBe(0);
    }

    // Delayed records sit in the queue as delayed messages; wait until nothing is left anywhere.
    let sawDelayed = false;
    await runtime.settle({
      quietMs: 1500,
      timeoutMs: 90_000,
      onPoll: () => {
        sawDelayed ||= runtime.queueCounts().some((q) => q.delayed > 0);
      },
    });
    expect(sawDelayed).toBe(true);
    // 30 events at 5/s after a burst of 5 cannot all finish in much under 5 s.
    expect(Date.now() - started).toBeGreaterThan(4000);

    const table = runtime.model.glueTables[0];
    const result = await runQuery(
      new AthenaClient(config),
      runtime.model.workGroups[0]?.name as string,
      table?.databaseName as string,
      "SELECT DISTINCT source_event_id FROM events WHERE detail_type IN ('InferenceCompleted') AND tenant = 'acme'",
      [],
    );
    const answered = new Set(result.rows.map((r) => r.source_event_id as string));
    const missing = Array.from({ length: EVENTS }, (_, i) => `quota-${i + 1}`).filter(
      (id) => !answered.has(id),
    );
    expect(missing).toEqual([]);
  }, 150_000);
});
