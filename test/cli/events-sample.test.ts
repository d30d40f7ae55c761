import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app';

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'bin', 'inferbus.mjs'), ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });

describe('inferbus events sample, from the task definitions', () => {
  it("prints a task's held-out examples as requests naming the task, on a stream of its own", async () => {
    const { stdout } = await run('events', 'sample', '--task', 'spam', '--count', '6');
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(6);
    for (const line of lines) {
      expect(line.task).toBe('spam');
      expect(line.stream).toMatch(/^sample-[0-9a-z]+-spam$/);
      expect(typeof line.payload.text).toBe('string');
      expect(['ham', 'spam']).toContain(line.payload.expectedLabel);
    }
    // Numbered per (tenant, stream) from 1: three tenants in turn.
    expect(lines.map((l) => [l.tenant, l.seq])).toEqual([
      ['acme', 1],
      ['globex', 1],
      ['initech', 1],
      ['acme', 2],
      ['globex', 2],
      ['initech', 2],
    ]);
  }, 60_000);

  it('refuses an unknown task, naming the tasks there are', async () => {
    await expect(run('events', 'sample', '--task', 'nope')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--task nope: not a task of .*\(it has .*spam/),
    });
  }, 60_000);
});
