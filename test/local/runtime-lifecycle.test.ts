import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { LocalRuntime } from '../../local/runtime';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-lifecycle-'));
  dirs.push(dir);
  return dir;
}

/** Servers listening in this process. */
const listening = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;

const start = (dir: string) =>
  LocalRuntime.start({ projectRoot: PROJECT_ROOT, stage: 'dev', port: 0, stateDir: dir, log: () => {} });

describe('LocalRuntime lifecycle', () => {
  it('stops what it had started when a later step of its start fails, and says why it failed', async () => {
    const dir = stateDir();
    // The queues start after the endpoint, the S3 server and DynamoDB's thread: a log they cannot
    // read makes the start fail with all three up (before, the S3 server kept listening).
    mkdirSync(join(dir, 'sqs'), { recursive: true });
    writeFileSync(join(dir, 'sqs', 'queues.log'), '{"t":"h","format":"inferbus-sqs-log","v":9}\n');
    const before = listening();
    await expect(start(dir)).rejects.toThrow(/unsupported log version 9/);
    // Closed handles leave the list on a later turn of the event loop; leaked ones never do.
    await expect.poll(listening, { timeout: 2000 }).toBe(before);
  });

  it('settles: resolves when idle and archived, and a timeout names what is still pending', async () => {
    const runtime = await start(stateDir());
    try {
      await runtime.settle({ quietMs: 200 });
      await expect(runtime.settle({ quietMs: 1000, timeoutMs: 0 })).rejects.toThrow(
        /did not settle within 0 s: 0 bus deliveries in flight; 0 archive records not yet in S3/,
      );
    } finally {
      await runtime.stop();
    }
  });

  it('once stopping, refuses new events and messages from outside with 503 ServiceUnavailable, not its functions', async () => {
    const runtime = await start(stateDir());
    const config = { endpoint: runtime.endpoint, region: runtime.model.region, maxAttempts: 1 };
    const outside = { ...config, credentials: LOCAL_S3_CREDENTIALS };
    // What the Lambda workers sign with: the same keys plus the functions' session token.
    const functions = {
      ...config,
      credentials: { ...LOCAL_S3_CREDENTIALS, sessionToken: runtime.intake.functionSessionToken },
    };
    const events = new EventBridgeClient(outside);
    const sqs = new SQSClient(outside);
    const functionSqs = new SQSClient(functions);
    const queue = runtime.model.queues.find((q) => !q.name.endsWith('.fifo'));
    if (!queue) throw new Error('the dev template has no queue');
    const entry = { Source: 'test', DetailType: 'x', Detail: '{}', EventBusName: 'default' };
    try {
      // The first thing stop() does; the rest of the stop is not needed to see the intake refuse.
      runtime.intake.close();
      const refusal = {
        name: 'ServiceUnavailable',
        $metadata: expect.objectContaining({ httpStatusCode: 503 }),
      };
      await expect(events.send(new PutEventsCommand({ Entries: [entry] }))).rejects.toMatchObject(refusal);
      await expect(
        sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'x' })),
      ).rejects.toMatchObject({ ...refusal, message: expect.stringMatching(/shutting down.*Retry/) });
      // The AWS CLI's query protocol gets the same refusal as XML.
      const query = await fetch(runtime.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          Action: 'SendMessage',
          QueueUrl: queue.url,
          MessageBody: 'x',
        }).toString(),
      });
      expect(query.status).toBe(503);
      expect(await query.text()).toMatch(/<Code>ServiceUnavailable<\/Code>/);
      // Reading goes on, and an invocation in flight can still send (e.g. its dead letters).
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, WaitTimeSeconds: 0 }));
      await functionSqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'from a function' }));
      expect(runtime.queueCounts().find((q) => q.arn === queue.arn)?.visible).toBe(1);
      expect(runtime.intake.refused).toBe(3);
    } finally {
      events.destroy();
      sqs.destroy();
      functionSqs.destroy();
      await runtime.stop();
    }
  });
});
