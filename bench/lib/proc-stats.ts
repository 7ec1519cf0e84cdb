/**
 * A benchmarked broker's processes as Linux's /proc shows them: its process tree, the
 * CPU time and memory of a process, whether it is a zombie; and the small waits the
 * broker-process drivers (bench/lib/*-process.ts) share.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export { exited } from '../../test/helpers/server-process';

export const CLK_TCK = (() => {
  const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `pid` and every live descendant. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(d));
    else children.set(ppid, [Number(d)]);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** User + system CPU seconds `pid` has used so far; `gone` when it cannot be read
 *  (omit it to throw instead). */
export function cpuSecondsOf(pid: number, gone?: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the ")" that closes the command name; utime and stime are 14 and 15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch (err) {
    if (gone === undefined) throw err;
    return gone;
  }
}

/** A memory line of /proc/<pid>/status in MiB (NaN when absent); `gone` when the file
 *  cannot be read (omit it to throw instead). */
export function statusMiB(pid: number, key: 'VmRSS' | 'VmHWM', gone?: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    if (gone === undefined) throw err;
    return gone;
  }
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) / 1024 : (gone ?? NaN);
}

export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
