/**
 * Routers in child processes: test/fixtures/store-router.ts on a given SQLite file, for
 * tests that SIGKILL it and start another on the same file, and any other fixture that
 * prints one JSON line (its ports, with no `level`: not a log line) once it accepts
 * sessions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { withTimeout } from './wamp-clients';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'store-router.ts');
/** tsx compiles the router on start; a cold start on a loaded machine takes seconds */
const START_MS = 20_000;

export interface ChildProcessRouter<Ready> {
  child: ChildProcess;
  /** the fixture's first stdout line that is not a log line, parsed */
  ready: Ready;
  /** everything the child wrote to stderr so far */
  stderr(): string;
  /** stdout lines but the ready line (the router's pino logs) */
  stdoutLines(): string[];
  /** resolves with the exit code or signal once the process has exited */
  exited: Promise<string>;
  /** SIGKILL: no shutdown, no flush, like a crash or `kill -9` */
  kill(): Promise<string>;
  /** SIGTERM and wait (the router closes cleanly); SIGKILL if it lingers */
  stop(): Promise<void>;
}

export interface ChildRouter extends ChildProcessRouter<{ port: number }> {
  port: number;
  wsUrl: string;
}

const running = new Set<ChildProcessRouter<unknown>>();

/**
 * Spawns `node --require tsx/cjs <fixture> ...args` (with `nodeArgs` before the fixture,
 * and an IPC channel when `ipc`) and resolves once it printed its first line. tsx's
 * CommonJS hook alone: `--import tsx` also starts an ES module loader thread, ~0.3 s of
 * CPU more per child.
 */
export async function spawnChildRouter<Ready>(
  fixture: string,
  args: string[],
  opts: { nodeArgs?: string[]; ipc?: boolean } = {},
): Promise<ChildProcessRouter<Ready>> {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT']; // the child is not a test file
  const stdio = opts.ipc ? (['ignore', 'pipe', 'pipe', 'ipc'] as const) : (['ignore', 'pipe', 'pipe'] as const);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--require', 'tsx/cjs', fixture, ...args], {
    env,
    stdio: [...stdio],
  });
  let stderr = '';
  let out = '';
  let readyLine = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  const ready = await withTimeout(
    new Promise<Ready>((resolve, reject) => {
      // the first line that is not a log line (pino lines have a level)
      const onData = (): void => {
        for (const line of out.split('\n').slice(0, -1)) {
          let v: unknown;
          try {
            v = JSON.parse(line);
          } catch {
            reject(new Error(`child router printed ${line}`));
            return;
          }
          if (typeof v === 'object' && v !== null && !('level' in v)) {
            child.stdout?.off('data', onData);
            readyLine = line;
            resolve(v as Ready);
            return;
          }
        }
      };
      child.stdout?.on('data', onData);
      void exited.then((how) => reject(new Error(`child router exited (${how}) before listening: ${stderr}`)));
    }),
    START_MS,
    'the child router to listen',
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const r: ChildProcessRouter<Ready> = {
    child,
    ready,
    stderr: () => stderr,
    stdoutLines: () => out.split('\n').filter((l) => l !== '' && l !== readyLine),
    exited,
    kill: async () => {
      child.kill('SIGKILL');
      const how = await withTimeout(exited, 5000, 'the child router to die');
      running.delete(r);
      return how;
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        running.delete(r);
        return;
      }
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'the child router to stop').catch(() => r.kill());
      running.delete(r);
    },
  };
  running.add(r);
  return r;
}

export async function startChildRouter(storePath: string): Promise<ChildRouter> {
  const r = await spawnChildRouter<{ port: number }>(FIXTURE, [storePath]);
  return Object.assign(r, { port: r.ready.port, wsUrl: `ws://127.0.0.1:${r.ready.port}/ws` });
}

/** For after() hooks: kills every child router still running. */
export async function killChildRouters(): Promise<void> {
  await Promise.all([...running].map((r) => r.kill().catch(() => undefined)));
}
