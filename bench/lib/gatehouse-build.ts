/**
 * Gatehouse compiled for one benchmark: tsc with bench/tsconfig.build.json, its output
 * directory moved to the benchmark's own (bench/out/build-mqtt, build-stomp, ...) so a
 * concurrent benchmark's build is left alone. Type errors elsewhere in the tree (work in
 * progress) do not stop the emit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** how a benchmark runs Gatehouse: the tsc build, or the sources through tsx */
export type GatehouseRuntime = 'tsc' | 'tsx';

const ROOT = join(__dirname, '..', '..');

/** Builds into `outDir`; returns its index.js. */
export function buildGatehouse(outDir: string): string {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'bench', 'tsconfig.build.json'), '--outDir', outDir], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const entry = join(outDir, 'index.js');
  if (!existsSync(entry)) throw new Error(`tsc build of Gatehouse failed:\n${r.stdout}${r.stderr}`);
  if (r.status !== 0)
    process.stderr.write(`note: tsc reported type errors (emitted anyway):\n${r.stdout.split('\n').slice(0, 5).join('\n')}\n`);
  return entry;
}
