/**
 * Memory of a process read from /proc, in MiB: resident set (VmRSS), its high-water mark
 * (VmHWM), and the private dirty part (from smaps_rollup: what the process alone costs;
 * RSS also counts the pages of the node binary and shared libraries that every node
 * process shares).
 */
import { readFileSync } from 'node:fs';

export interface ProcMemory {
  rss: number;
  hwm: number;
  privateDirty: number;
}

function kbField(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The process's memory now (NaN fields when /proc cannot be read). */
export function procMemory(pid: number): ProcMemory {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    let privateDirty = NaN;
    try {
      privateDirty = kbField(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Private_Dirty');
    } catch {
      // smaps_rollup needs Linux 4.14; RSS alone then
    }
    return { rss: kbField(status, 'VmRSS'), hwm: kbField(status, 'VmHWM'), privateDirty };
  } catch {
    return { rss: NaN, hwm: NaN, privateDirty: NaN };
  }
}
