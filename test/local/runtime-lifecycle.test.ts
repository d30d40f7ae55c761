import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';
import { LocalRuntime } from '../../local/runtime';

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
});
