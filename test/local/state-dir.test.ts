import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  acquireStateDirLock,
  prepareStateDir,
  resetStateDir,
  STATE_LOCK,
  STATE_MARKER,
} from '../../local/state-dir';

const root = mkdtempSync(join(tmpdir(), 'inferbus-state-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `d${n++}`);

/** The pid of a process that has already exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid as number;

describe('state dir marker and reset', () => {
  it('marks a folder it creates (or finds empty), and a reset then keeps only the marker and the lock', () => {
    const dir = fresh();
    expect(prepareStateDir(dir, () => {})).toBe(true);
    const lock = acquireStateDirLock(dir, () => {});
    mkdirSync(join(dir, 'sqs'));
    writeFileSync(join(dir, 'sqs', 'queues.log'), '');
    resetStateDir(dir);
    expect(readdirSync(dir).sort()).toEqual([STATE_LOCK, STATE_MARKER]);
    lock.release();
    expect(readdirSync(dir)).toEqual([STATE_MARKER]);

    const empty = fresh();
    mkdirSync(empty);
    expect(prepareStateDir(empty, () => {})).toBe(true);
  });

  it('leaves any other folder unmarked, says so, and refuses to reset it', () => {
    const dir = fresh();
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{}');
    const notes: string[] = [];
    expect(prepareStateDir(dir, (l) => notes.push(l))).toBe(false);
    expect(notes.join('\n')).toMatch(/not created by inferbus local.*--reset will refuse it/);
    expect(() => resetStateDir(dir)).toThrow(
      /refusing to reset .*: it has no \.inferbus-state marker.*\(it holds package\.json, src\)/,
    );
    expect(readdirSync(dir).sort()).toEqual(['package.json', 'src']);
  });

  it("adopts an older inferbus state folder (only the runtime's own folders, an SQS log among them)", () => {
    const dir = fresh();
    mkdirSync(join(dir, 'sqs'), { recursive: true });
    mkdirSync(join(dir, 's3'));
    writeFileSync(join(dir, 'sqs', 'queues.log'), '');
    expect(prepareStateDir(dir, () => {})).toBe(true);
    expect(existsSync(join(dir, STATE_MARKER))).toBe(true);
    // The same folders with a file of the user's beside them: not adopted.
    const mixed = fresh();
    mkdirSync(join(mixed, 'sqs'), { recursive: true });
    writeFileSync(join(mixed, 'sqs', 'queues.log'), '');
    writeFileSync(join(mixed, 'notes.txt'), 'mine');
    expect(prepareStateDir(mixed, () => {})).toBe(false);
  });

  it('refuses a state dir that is a file', () => {
    const file = fresh();
    writeFileSync(file, '');
    expect(() => prepareStateDir(file, () => {})).toThrow(
      /is a file, not a folder; pass another --state-dir/,
    );
  });
});

describe('state dir lock', () => {
  it('refuses a second holder, naming the pid and its start; free again once released', () => {
    const dir = fresh();
    prepareStateDir(dir, () => {});
    const first = acquireStateDirLock(dir, () => {});
    expect(() => acquireStateDirLock(dir, () => {})).toThrow(
      new RegExp(
        `state dir ${dir} is in use by pid ${process.pid} \\(started at \\d{4}-.*Z\\); stop it or pass another --state-dir`,
      ),
    );
    first.release();
    acquireStateDirLock(dir, () => {}).release();
    expect(readdirSync(dir)).toEqual([STATE_MARKER]);
  });

  it('takes over a lock whose process is gone, or that cannot be read, with a note', () => {
    const dir = fresh();
    prepareStateDir(dir, () => {});
    const pid = deadPid();
    writeFileSync(
      join(dir, STATE_LOCK),
      JSON.stringify({ pid, startedAt: '2026-01-01T00:00:00.000Z', host: hostname() }),
    );
    const notes: string[] = [];
    const lock = acquireStateDirLock(dir, (l) => notes.push(l));
    expect(notes).toEqual([
      `note: took over the lock of pid ${pid} (started at 2026-01-01T00:00:00.000Z), which is no longer running`,
    ]);
    lock.release();
    writeFileSync(join(dir, STATE_LOCK), 'not json');
    const again = acquireStateDirLock(dir, (l) => notes.push(l));
    expect(notes[1]).toMatch(/was unreadable; took the state dir over/);
    again.release();
  });

  it('never takes over a lock from another host (its pid cannot be checked here)', () => {
    const dir = fresh();
    prepareStateDir(dir, () => {});
    writeFileSync(
      join(dir, STATE_LOCK),
      JSON.stringify({ pid: deadPid(), startedAt: '2026-01-01T00:00:00.000Z', host: 'elsewhere' }),
    );
    expect(() => acquireStateDirLock(dir, () => {})).toThrow(/in use by pid \d+ on host elsewhere/);
  });
});
