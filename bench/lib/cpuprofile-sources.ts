/**
 * Self time of V8 .cpuprofile files by function, with each function placed in its
 * TypeScript source through the build's source maps (bench/tsconfig.build.json emits
 * them), so a hot spot reads `lib/payload-bytes.ts:10 payloadFromBytes` rather than a
 * line of compiled JavaScript. Complements cpuprofile-top.ts, which reports compiled
 * locations and inclusive time.
 *
 *   npx tsx bench/lib/cpuprofile-sources.ts <build dir> file.cpuprofile [more...] [--top 30]
 *
 * Self time is the sampled time in a function's own code (what V8 inlined into it
 * counts as its own); native frames (`(native)`, SQLite's `run`, `writev`, the garbage
 * collector) are shown as V8 names them. Percentages are of the busy (non-idle) time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(program)', '(root)']);

export interface SelfTime {
  /** `path/to/file.ts:line name`, relative to the repository */
  where: string;
  /** share of busy time, 0..1 */
  share: number;
}

/** Self time by function over `files`, sorted, with locations mapped into `buildDir`'s sources. */
export function selfTimeBySource(files: string[], buildDir: string, repoRoot: string): { busySeconds: number; rows: SelfTime[] } {
  const maps = new Map<string, SourceMap | null>();
  const mapFor = (file: string): SourceMap | null => {
    let m = maps.get(file);
    if (m === undefined) {
      const mapFile = `${file}.map`;
      m = existsSync(mapFile)
        ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')) as ConstructorParameters<typeof SourceMap>[0])
        : null;
      maps.set(file, m);
    }
    return m;
  };
  const place = (cf: CallFrame): string => {
    const name = cf.functionName || '(anonymous)';
    let file = cf.url;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (file === '') return `(native) ${name}`;
    if (!file.startsWith('/')) return `${file} ${name}`;
    if (file.startsWith(buildDir)) {
      const entry = mapFor(file)?.findEntry(cf.lineNumber, cf.columnNumber);
      if (entry && 'originalSource' in entry && entry.originalSource) {
        let src = entry.originalSource;
        if (src.startsWith('file://')) src = fileURLToPath(src);
        const abs = resolve(dirname(file), src);
        return `${relative(repoRoot, abs)}:${entry.originalLine + 1} ${name}`;
      }
      return `${relative(buildDir, file)}:${cf.lineNumber + 1} ${name} (compiled)`;
    }
    return `${relative(repoRoot, file)}:${cf.lineNumber + 1} ${name}`;
  };
  const self = new Map<string, number>();
  let busy = 0;
  for (const f of files) {
    const prof = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    const byId = new Map<number, ProfileNode>();
    for (const n of prof.nodes) byId.set(n.id, n);
    for (let i = 0; i < prof.samples.length; i++) {
      const node = byId.get(prof.samples[i]!);
      if (!node || IDLE.has(node.callFrame.functionName)) continue;
      const dt = prof.timeDeltas[i] ?? 0;
      busy += dt;
      const key = place(node.callFrame);
      self.set(key, (self.get(key) ?? 0) + dt);
    }
  }
  const rows = [...self].sort((a, b) => b[1] - a[1]).map(([where, t]) => ({ where, share: busy > 0 ? t / busy : 0 }));
  return { busySeconds: busy / 1e6, rows };
}

/** The top `top` rows as a markdown table. */
export function selfTimeTable(files: string[], top: number, buildDir: string, repoRoot: string): string {
  const { busySeconds, rows } = selfTimeBySource(files, buildDir, repoRoot);
  const lines = [
    `Busy ${busySeconds.toFixed(1)} s sampled.`,
    '',
    '| Self % | Function (TypeScript source:line of the function) |',
    '| ---: | --- |',
  ];
  for (const r of rows.slice(0, top)) lines.push(`| ${(100 * r.share).toFixed(1)}% | \`${r.where}\` |`);
  return lines.join('\n') + '\n';
}

if (require.main === module) {
  const args = process.argv.slice(2);
  let top = 30;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else files.push(args[i]!);
  }
  const buildDir = files.shift();
  if (!buildDir || files.length === 0) {
    process.stderr.write('usage: npx tsx bench/lib/cpuprofile-sources.ts <build dir> file.cpuprofile [...] [--top 30]\n');
    process.exit(1);
  }
  process.stdout.write(selfTimeTable(files, top, resolve(buildDir), process.cwd()));
}
