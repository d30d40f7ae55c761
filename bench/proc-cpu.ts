/**
 * CPU time per process group of the local pipeline, read from /proc: the runtime's main thread,
 * the runtime's other threads (V8's GC and compiler helpers, libuv's pool, DuckDB, the DynamoDB
 * thread), the Lambda workers of each function, and the load generator. CPU time, unlike events/s,
 * says where the work goes and barely moves when the shared machine is busy.
 *
 * Linux only; elsewhere every snapshot is empty and the report says "n/a".
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds by group, e.g. `runtime main thread`, `Tier1Function… workers`, `load generator`. */
export type CpuByGroup = Record<string, number>;

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on

/** One process of the tree under the root, from a single read of its /proc/<pid>/stat. */
export interface TreeProcess {
  readonly pid: number;
  readonly group: string;
  /** utime + stime. */
  readonly ticks: number;
  readonly rssBytes: number;
  /** The excluded process (the load generator) or one of its descendants. */
  readonly excluded: boolean;
}

interface ProcStat {
  readonly ppid: number;
  readonly ticks: number;
  readonly rssBytes: number;
  /** Clock ticks after boot (field 22). */
  readonly startTime: number;
}

/** Fields after the command name, which may itself hold spaces and parentheses. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function readStat(pid: string): ProcStat | undefined {
  try {
    const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return {
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]),
      rssBytes: Number(fields[21]) * 4096,
      startTime: Number(fields[19]),
    };
  } catch {
    return undefined; // exited meanwhile
  }
}

/** Every process on the machine, each /proc/<pid>/stat read once; undefined without /proc. */
function scanProc(): Map<number, ProcStat> | undefined {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const procs = new Map<number, ProcStat>();
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(name);
    if (stat) procs.set(Number(name), stat);
  }
  return procs;
}

/** `root` and its descendants, each flagged when it is `exclude` or under it. */
function descendants(procs: Map<number, ProcStat>, root: number, exclude?: number) {
  const children = new Map<number, number[]>();
  // The root is nobody's child, so the walk ends even if pid reuse during the scan made a cycle.
  for (const [pid, { ppid }] of procs) {
    if (pid === root) continue;
    const siblings = children.get(ppid);
    if (siblings) siblings.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: { pid: number; excluded: boolean }[] = [];
  const queue = [{ pid: root, excluded: false }];
  for (let item = queue.pop(); item; item = queue.pop()) {
    out.push(item);
    for (const child of children.get(item.pid) ?? []) {
      queue.push({ pid: child, excluded: item.excluded || child === exclude });
    }
  }
  return out;
}

/**
 * The tree under `root` (the runtime, included) from one scan of /proc: each process's CPU ticks,
 * RSS and group. `loadGenerator` is the load generator's pid, grouped on its own; empty without /proc.
 */
export function scanTree(root = process.pid, loadGenerator?: number): TreeProcess[] {
  const procs = scanProc();
  if (!procs) return [];
  const out: TreeProcess[] = [];
  for (const { pid, excluded } of descendants(procs, root, loadGenerator)) {
    const stat = procs.get(pid);
    if (!stat) continue; // the root, when its own stat could not be read
    let group: string;
    if (pid === root) group = 'runtime process';
    else if (pid === loadGenerator) group = 'load generator';
    else group = `${functionOf(pid, stat.startTime) ?? 'other'} workers`;
    out.push({ pid, group, ticks: stat.ticks, rssBytes: stat.rssBytes, excluded });
  }
  return out;
}

/** RSS bytes of the root's descendants, the excluded process and its own descendants left out. */
export function descendantsRssOf(tree: readonly TreeProcess[], root = process.pid): number {
  let total = 0;
  for (const p of tree) if (p.pid !== root && !p.excluded) total += p.rssBytes;
  return total;
}

/**
 * RSS bytes and process count per worker group (`<function> workers`), the root and the load
 * generator's subtree left out, as in {@link descendantsRssOf}.
 */
export function workersRssByGroup(
  tree: readonly TreeProcess[],
  root = process.pid,
): Record<string, { processes: number; rssBytes: number }> {
  const out: Record<string, { processes: number; rssBytes: number }> = {};
  for (const { pid, group, rssBytes, excluded } of tree) {
    if (pid === root || excluded) continue;
    const entry = out[group] ?? { processes: 0, rssBytes: 0 };
    out[group] = { processes: entry.processes + 1, rssBytes: entry.rssBytes + rssBytes };
  }
  return out;
}

/** utime + stime ticks of /proc/<pid>/task/<tid>/stat. */
function threadTicks(pid: number, tid: number): number | undefined {
  try {
    const fields = statFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/**
 * Function name per pid and start time: a pid's environment does not change, and the start time
 * tells a pid reused by a later process apart. null: not a Lambda worker.
 */
const functionNames = new Map<string, string | null>();

/** The Lambda function a worker process serves (from its environment), if it is one. */
function functionOf(pid: number, startTime: number): string | undefined {
  const key = `${pid}:${startTime}`;
  const cached = functionNames.get(key);
  if (cached !== undefined) return cached ?? undefined;
  const name = readFunctionName(pid);
  if (name !== undefined) functionNames.set(key, name);
  // A child caught between fork and exec still shows its parent's environment: only a miss for a
  // process more than a second old is final.
  else if (uptimeTicks() - startTime > TICKS_PER_SECOND) functionNames.set(key, null);
  return name;
}

function readFunctionName(pid: number): string | undefined {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    const match = /(?:^|\0)AWS_LAMBDA_FUNCTION_NAME=([^\0]*)/.exec(environ);
    return match?.[1];
  } catch {
    return undefined;
  }
}

/** Clock ticks since boot, the unit of a process's start time. */
function uptimeTicks(): number {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * Cumulative CPU ticks per process of the tree under `root` (the runtime), keyed by pid, with the
 * group each belongs to. `loadGenerator` is the load generator's pid, grouped on its own.
 */
export interface CpuSnapshot {
  readonly byPid: ReadonlyMap<number, { readonly group: string; readonly ticks: number }>;
  readonly mainThreadTicks: number;
}

export function snapshotCpu(root = process.pid, loadGenerator?: number): CpuSnapshot {
  const tree = scanTree(root, loadGenerator);
  const byPid = new Map(tree.map(({ pid, group, ticks }) => [pid, { group, ticks }]));
  return { byPid, mainThreadTicks: threadTicks(root, root) ?? 0 };
}

/** CPU seconds per group between two snapshots; processes started in between count from zero. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuByGroup {
  const out: CpuByGroup = {};
  for (const [pid, { group, ticks: t }] of after.byPid) {
    const delta = t - (before.byPid.get(pid)?.ticks ?? 0);
    out[group] = (out[group] ?? 0) + delta / TICKS_PER_SECOND;
  }
  const main = (after.mainThreadTicks - before.mainThreadTicks) / TICKS_PER_SECOND;
  if (out['runtime process'] !== undefined) {
    out['runtime main thread'] = main;
    out['runtime other threads'] = Math.max(0, out['runtime process'] - main);
    delete out['runtime process'];
  }
  return out;
}
