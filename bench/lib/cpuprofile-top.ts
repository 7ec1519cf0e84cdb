/**
 * Top functions of V8 .cpuprofile files (from `node --cpu-prof`), by self time and by
 * inclusive time, as a markdown table. Several profiles are added together.
 *
 *   npx tsx bench/lib/cpuprofile-top.ts file.cpuprofile [more...] [--top 30]
 *
 * Self time of a function is the sampled time spent in its own code; inclusive time
 * adds everything it called. Percentages are of the busy (non-idle) time. Line
 * numbers are those of the code V8 ran (tsx's transpiled output for .ts files), so
 * they are approximate for TypeScript sources; function and file are exact.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(program)', '(root)']);

function label(cf: CallFrame, root: string): string {
  let file = cf.url;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  if (file.startsWith('/')) file = relative(root, file);
  if (file === '') file = '(native)';
  return `${file}:${cf.functionName || '(anonymous)'}:${cf.lineNumber + 1}`;
}

export function summarizeProfile(files: string[], top: number, root: string): string {
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let busy = 0;
  let total = 0;
  let gc = 0;
  for (const f of files) {
    const prof = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    const byId = new Map<number, ProfileNode>();
    const parent = new Map<number, number>();
    for (const n of prof.nodes) {
      byId.set(n.id, n);
      for (const c of n.children ?? []) parent.set(c, n.id);
    }
    // timeDeltas[i] is the time before sample i; attribute it to sample i
    for (let i = 0; i < prof.samples.length; i++) {
      const dt = prof.timeDeltas[i] ?? 0;
      const node = byId.get(prof.samples[i]!);
      if (!node) continue;
      total += dt;
      const name = node.callFrame.functionName;
      if (IDLE.has(name)) continue;
      busy += dt;
      if (name === '(garbage collector)') gc += dt;
      const key = label(node.callFrame, root);
      self.set(key, (self.get(key) ?? 0) + dt);
      // inclusive: each distinct function on the stack once
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const n = byId.get(id)!;
        if (IDLE.has(n.callFrame.functionName)) continue;
        const k = label(n.callFrame, root);
        if (seen.has(k)) continue;
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + dt);
      }
    }
  }
  const pct = (v: number): string => `${((100 * v) / busy).toFixed(1)}%`;
  const lines: string[] = [];
  lines.push(
    `Busy ${(busy / 1e6).toFixed(1)} s of ${(total / 1e6).toFixed(1)} s sampled; garbage collector ${pct(gc)} of busy.`,
    '',
  );
  lines.push('| Self % | Function (file:function:line) |', '| ---: | --- |');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`| ${pct(v)} | \`${k}\` |`);
  lines.push('', '| Inclusive % | Function (file:function:line) |', '| ---: | --- |');
  for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`| ${pct(v)} | \`${k}\` |`);
  lines.push('');
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  let top = 30;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else files.push(args[i]!);
  }
  if (files.length === 0) {
    process.stderr.write('usage: npx tsx bench/lib/cpuprofile-top.ts file.cpuprofile [...] [--top 30]\n');
    process.exit(1);
  }
  process.stdout.write(summarizeProfile(files, top, process.cwd()));
}
