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

/** RSS bytes and process count per worker group (`<function> workers`), from /proc. */
export function workersRssByGroup(
  root = process.pid,
  exclude?: number,
): Record<string, { processes: number; rssBytes: number }> {
  const out: Record<string, { processes: number; rssBytes: number }> = {};
  for (const [pid, { group }] of snapshotCpu(root, exclude).byPid) {
    if (pid === root || pid === exclude) continue;
    let rssBytes = 0;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      rssBytes = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[21]) * 4096;
    } catch {
      continue;
    }
    const entry = out[group] ?? { processes: 0, rssBytes: 0 };
    out[group] = { processes: entry.processes + 1, rssBytes: entry.rssBytes + rssBytes };
  }
  return out;
}

/** utime + stime ticks of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat. */
function ticks(statPath: string): number | undefined {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined; // exited meanwhile
  }
}

function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The Lambda function a worker process serves (from its environment), if it is one. */
function functionOf(pid: string): string | undefined {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    const match = /(?:^|\0)AWS_LAMBDA_FUNCTION_NAME=([^\0]*)/.exec(environ);
    return match?.[1];
  } catch {
    return undefined;
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
  const byPid = new Map<number, { group: string; ticks: number }>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return { byPid, mainThreadTicks: 0 };
  }
  const parent = new Map<number, number>();
  for (const pid of pids) {
    const p = parentOf(pid);
    if (p !== undefined) parent.set(Number(pid), p);
  }
  for (const pid of pids) {
    const n = Number(pid);
    let p: number | undefined = n;
    while (p !== undefined && p > 1 && p !== root) p = parent.get(p);
    if (p !== root) continue;
    const t = ticks(`/proc/${pid}/stat`);
    if (t === undefined) continue;
    let group: string;
    if (n === root) group = 'runtime process';
    else if (n === loadGenerator) group = 'load generator';
    else group = `${functionOf(pid) ?? 'other'} workers`;
    byPid.set(n, { group, ticks: t });
  }
  return { byPid, mainThreadTicks: ticks(`/proc/${root}/task/${root}/stat`) ?? 0 };
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
