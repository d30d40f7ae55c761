import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import type { DeletedMessage } from '../../local/lambda/event-source-mapping';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';
import { loadSplits } from '../../models/train/data';
import { requestEvent } from '../support/sqs-records';

/**
 * Each tenant has its own rule, queue and event-source concurrency share, so a flood from one
 * tenant queues behind that tenant alone. Shown without timing: the other tenant's events are all
 * processed while the flooding tenant still has a backlog.
 */
const texts = loadSplits().test.map((m) => m.text);
/** acme's tier-1 backlog at the moment each of initech's events finished. */
const floodBacklogWhenQuietDone: number[] = [];
let flooded = '';
let quiet = '';
let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await LocalRuntime.start({
    projectRoot: PROJECT_ROOT,
    stage: 'dev',
    port: 0,
    stateDir: mkdtempSync(join(tmpdir(), 'inferbus-isolation-')),
    log: () => {},
    onProcessed: (deleted: DeletedMessage) => {
      if (deleted.queueArn !== quiet) return;
      const counts = runtime.queues.counts(flooded);
      // Delayed counts too: a flood past acme's quota burst comes back to its queue with a delay.
      floodBacklogWhenQuietDone.push(counts.visible + counts.inFlight + counts.delayed);
    },
  });
  flooded = tier1QueueOf('acme');
  quiet = tier1QueueOf('initech');
}, 180_000);

afterAll(() => runtime?.stop());

const tier1QueueOf = (tenant: string) => {
  const rule = runtime.model.rules.find(
    (r) =>
      JSON.stringify(r.eventPattern).includes(`"inferbus.${tenant}"`) &&
      JSON.stringify(r.eventPattern).includes('InferenceRequested'),
  );
  return rule?.targets[0]?.arn as string;
};

const detailOf = (id: string, tenant: string, i: number) =>
  JSON.parse(requestEvent(id, texts[i % texts.length] as string, tenant));

describe('tenant isolation', () => {
  it("processes tenant B's events while tenant A's flood is still queued", async () => {
    // The flood lands in acme's queue as the acme rule would deliver it, faster than any consumer:
    // 50 of its batches, far more than the workers get through before initech's events are done.
    const batchSize = runtime.model.eventSourceMappings.find((m) => m.queueArn === flooded)?.batchSize ?? 10;
    // Sent without waiting for each group commit, so the whole flood is queued before acme's
    // workers get far (one send at a time let them drain it while it was still being sent).
    const flood = Array.from({ length: 50 * batchSize }, (_, i) =>
      runtime.queues.send(flooded, JSON.stringify(detailOf(`flood-${i}`, 'acme', i))),
    );
    await Promise.all(flood);

    const client = new EventBridgeClient({
      endpoint: runtime.endpoint,
      region: runtime.model.region,
      credentials: LOCAL_S3_CREDENTIALS,
    });
    const bus = runtime.model.buses.find((b) => b.name !== 'default')?.name;
    for (let i = 0; i < 20; i += 10) {
      const entries = Array.from({ length: 10 }, (_, k) => ({
        EventBusName: bus,
        Source: 'inferbus.initech',
        DetailType: 'InferenceRequested',
        Detail: JSON.stringify(detailOf(`quiet-${i + k}`, 'initech', i + k).detail),
      }));
      await client.send(new PutEventsCommand({ Entries: entries }));
    }

    const deadline = Date.now() + 120_000;
    while (floodBacklogWhenQuietDone.length < 20 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));

    expect(floodBacklogWhenQuietDone).toHaveLength(20);
    // Every one of initech's events finished while acme still had a backlog in its own queue.
    expect(Math.min(...floodBacklogWhenQuietDone)).toBeGreaterThan(0);
  });
});
