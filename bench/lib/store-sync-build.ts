/**
 * Gatehouse for bench/store-sync-bench.ts, compiled once per benchmark invocation.
 *
 * Why compile: (1) production runs tsc output (dist/), and under tsx esbuild's
 * keepNames wraps closures created at run time, a cost no deployment pays (the same
 * reasoning as bench/wamp-bench.ts's --gatehouse-runtime tsc); (2) the tree is edited
 * while benchmarks run, and tsx would compile whatever the sources are at each router
 * start: one build makes every run of one invocation measure the same code.
 *
 * The build goes to a temporary directory (the repository's build dirs belong to other
 * benchmarks); its children find the repository's node_modules through NODE_PATH.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export interface GatehouseBuild {
  /** compiled bench/servers/gatehouse-store-server.js */
  serverJs: string;
  /** compiled bench/servers/gatehouse-store-verify.js */
  verifyJs: string;
  /** environment for a child that runs the build */
  env: NodeJS.ProcessEnv;
  /** which sources were built: commit, and whether router sources differed from it */
  sources: string;
  cleanup(): void;
}

/** The commit and the router source files that differ from it (read-only git). */
export function sourceFingerprint(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() || '?';
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'index.ts', 'lib', 'gates', 'schemas'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .stdout.split('\n')
    .filter((l) => l.trim() !== '').length;
  return dirty === 0 ? `commit ${head}` : `commit ${head} + ${dirty} uncommitted router source file(s)`;
}

export function buildGatehouse(): GatehouseBuild {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-sync-build-'));
  const sources = sourceFingerprint();
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsconfig.json's options (tsc takes no -p with explicit files)
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--outDir',
      dir,
      '--rootDir',
      ROOT,
      '--target',
      'ES2022',
      '--module',
      'Node16',
      '--moduleResolution',
      'Node16',
      '--strict',
      '--noUncheckedIndexedAccess',
      '--noImplicitOverride',
      '--esModuleInterop',
      '--resolveJsonModule',
      '--skipLibCheck',
      '--types',
      'node',
      '--noEmitOnError',
      'false',
      join(ROOT, 'bench', 'servers', 'gatehouse-store-server.ts'),
      join(ROOT, 'bench', 'servers', 'gatehouse-store-verify.ts'),
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const serverJs = join(dir, 'bench', 'servers', 'gatehouse-store-server.js');
  const verifyJs = join(dir, 'bench', 'servers', 'gatehouse-store-verify.js');
  if (!existsSync(serverJs) || !existsSync(verifyJs)) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`tsc build of Gatehouse failed:\n${r.stdout}${r.stderr}`);
  }
  if (r.status !== 0)
    process.stderr.write(`note: tsc reported type errors (emitted anyway):\n${r.stdout.split('\n').slice(0, 5).join('\n')}\n`);
  const nodePath = [join(ROOT, 'node_modules'), process.env['NODE_PATH']].filter(Boolean).join(':');
  return {
    serverJs,
    verifyJs,
    env: { ...process.env, NODE_PATH: nodePath },
    sources,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
