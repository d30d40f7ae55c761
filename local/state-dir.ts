import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * The local runtime's state folder: the marker that says the runtime created it (so `--reset`
 * never empties a folder it did not make), and the lock that keeps a second runtime off it.
 */

/** Written into every state folder the runtime creates; `--reset` empties only folders holding it. */
export const STATE_MARKER = '.inferbus-state';
/** Held while a runtime uses the folder: `{ pid, startedAt, host }`. */
export const STATE_LOCK = '.inferbus-lock';

/** What the runtime itself writes at the top of a state folder. */
const RUNTIME_ENTRIES = new Set([STATE_MARKER, 'sqs', 's3', 'dynamodb', 'firehose', 'demo']);
/** The lock, and what a start killed while taking it leaves beside it. */
const isLockFile = (entry: string) => entry.startsWith(STATE_LOCK);

/** A state folder the runtime cannot use or reset; the message says what to do instead. */
export class StateDirError extends Error {
  override readonly name = 'StateDirError';
  constructor(
    message: string,
    /** `usage`: pick another folder; `in-use`: another runtime holds it. */
    readonly kind: 'usage' | 'in-use',
  ) {
    super(message);
  }
}

const lockSchema = z.object({
  pid: z.number().int().positive(),
  startedAt: z.string(),
  host: z.string(),
});
type LockOwner = z.infer<typeof lockSchema>;

const markerText = () =>
  `${JSON.stringify({ createdBy: 'inferbus local', createdAt: new Date().toISOString() })}\n`;

/**
 * Makes `dir` ready: creates it with the marker when missing, marks it when it is empty, and
 * adopts a state folder of an older inferbus (one holding only what the runtime writes, its SQS
 * log among it). Any other folder is used as it is, unmarked. Returns whether it carries the marker.
 */
export function prepareStateDir(dir: string, note: (line: string) => void): boolean {
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new StateDirError(`state dir ${dir} is a file, not a folder; pass another --state-dir`, 'usage');
  mkdirSync(dir, { recursive: true });
  if (existsSync(join(dir, STATE_MARKER))) return true;
  const entries = readdirSync(dir);
  const empty = entries.every(isLockFile);
  const olderStateDir =
    entries.every((e) => RUNTIME_ENTRIES.has(e) || isLockFile(e)) &&
    existsSync(join(dir, 'sqs', 'queues.log'));
  if (!empty && !olderStateDir) {
    note(`note: ${dir} was not created by inferbus local (no ${STATE_MARKER}); --reset will refuse it`);
    return false;
  }
  writeFileSync(join(dir, STATE_MARKER), markerText());
  return true;
}

/**
 * Throws unless `dir` carries the marker: a folder the runtime did not create (a project, a home
 * folder) is never emptied.
 */
export function assertResettable(dir: string): void {
  if (existsSync(join(dir, STATE_MARKER))) return;
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, … (${entries.length} in all)` : '');
  throw new StateDirError(
    `refusing to reset ${dir}: it has no ${STATE_MARKER} marker, so inferbus local did not create it` +
      `${entries.length > 0 ? ` (it holds ${shown})` : ''}. Pass a --state-dir that inferbus local ` +
      'created, or a new one; delete this folder yourself if you are sure it holds nothing else',
    'usage',
  );
}

/** Empties a marked state folder, keeping the marker and the lock (which the caller holds). */
export function resetStateDir(dir: string): void {
  assertResettable(dir);
  for (const entry of readdirSync(dir)) {
    if (entry === STATE_MARKER || isLockFile(entry)) continue;
    rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

export interface StateDirLock {
  readonly dir: string;
  /** Removes the lock (when it is still ours); safe to call twice. */
  release(): void;
}

/**
 * Takes the folder's lock, or throws naming the pid that holds it. A lock left by a process that
 * is gone is taken over with a note. The lock file appears whole (written aside, then hard-linked
 * into place, which fails when one exists), so no reader ever sees it half written.
 */
export function acquireStateDirLock(dir: string, note: (line: string) => void): StateDirLock {
  const path = join(dir, STATE_LOCK);
  const owner: LockOwner = { pid: process.pid, startedAt: new Date().toISOString(), host: hostname() };
  const aside = `${path}.${process.pid}.tmp`;
  writeFileSync(aside, `${JSON.stringify(owner)}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
      }
      const holder = readLock(path);
      if (holder === 'gone') continue;
      if (holder !== 'unreadable' && (holder.host !== owner.host || isRunning(holder.pid))) {
        const where = holder.host === owner.host ? '' : ` on host ${holder.host}`;
        throw new StateDirError(
          `state dir ${dir} is in use by pid ${holder.pid}${where} (started at ${holder.startedAt}); ` +
            'stop it or pass another --state-dir',
          'in-use',
        );
      }
      takeOver(path, holder, note);
    }
  } finally {
    rmSync(aside, { force: true });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const holder = readLock(path);
    if (typeof holder === 'object' && holder.pid === owner.pid && holder.startedAt === owner.startedAt)
      rmSync(path, { force: true });
  };
  // A crash or process.exit still frees the folder; only SIGKILL leaves a stale lock behind.
  process.on('exit', release);
  return { dir, release };
}

/** Moves a stale lock away; puts it back if another process replaced it in the meantime. */
function takeOver(path: string, stale: LockOwner | 'unreadable', note: (line: string) => void): void {
  const moved = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, moved);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const found = readLock(moved);
  const same =
    stale === 'unreadable'
      ? found === 'unreadable'
      : typeof found === 'object' && found.pid === stale.pid && found.startedAt === stale.startedAt;
  if (!same) {
    // Another runtime took the stale lock over between our read and our rename: it is theirs.
    try {
      linkSync(moved, path);
    } finally {
      unlinkSync(moved);
    }
    return;
  }
  unlinkSync(moved);
  note(
    stale === 'unreadable'
      ? `note: ${path} was unreadable; took the state dir over`
      : `note: took over the lock of pid ${stale.pid} (started at ${stale.startedAt}), which is no longer running`,
  );
}

function readLock(path: string): LockOwner | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  try {
    const parsed = lockSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Signal 0 checks that a process exists without touching it; EPERM means it exists as another user. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
