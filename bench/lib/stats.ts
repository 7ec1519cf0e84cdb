/**
 * What every benchmark driver shares: waiting for a quiet machine, medians, and the
 * number formats of the reports.
 */
import { machineBusySeconds } from './router-process';

/**
 * Waits until the rest of the machine uses under a quarter of a core for `samples`
 * half-second samples in a row (or gives up after `maxSeconds`); returns the % of a core
 * the others used in the last sample.
 */
export async function waitForQuiet(maxSeconds: number, samples = 1): Promise<number> {
  const start = Date.now();
  let quiet = 0;
  for (;;) {
    const m0 = machineBusySeconds();
    const g0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const g = process.cpuUsage(g0);
    const other = (100 * (machineBusySeconds() - m0 - (g.user + g.system) / 1e6)) / 0.5;
    quiet = other < 25 ? quiet + 1 : 0;
    if (quiet >= samples || Date.now() - start > maxSeconds * 1000) return other;
  }
}

/** The median of the numbers that are not NaN (NaN when none are). */
export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const fmtInt = (n: number): string => (Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
export const fmtPct = (n: number): string => (Number.isNaN(n) ? '-' : `${Math.round(n)}%`);
export const fmtRatio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');
export const fmtUs = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');
