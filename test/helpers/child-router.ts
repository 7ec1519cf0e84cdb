/**
 * A router in a child process (test/fixtures/store-router.ts) on a given SQLite file,
 * for tests that SIGKILL it and start another on the same file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { withTimeout } from './wamp-clients';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'store-router.ts');
/** tsx compiles the router on start; a cold start on a loaded machine takes seconds */
const START_MS = 20_000;

export interface ChildRouter {
  child: ChildProcess;
  port: number;
  wsUrl: string;
  /** resolves with the exit code or signal once the process has exited */
  exited: Promise<string>;
  /** SIGKILL: no shutdown, no flush, like a crash or `kill -9` */
  kill(): Promise<string>;
  /** SIGTERM and wait (the router closes cleanly); SIGKILL if it lingers */
  stop(): Promise<void>;
}

const running = new Set<ChildRouter>();

export async function startChildRouter(storePath: string): Promise<ChildRouter> {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT']; // the child is not a test file
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, storePath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString('utf8');
        const line = out.split('\n')[0];
        if (out.includes('\n') && line) {
          try {
            resolve((JSON.parse(line) as { port: number }).port);
          } catch {
            reject(new Error(`child router printed ${line}`));
          }
        }
      });
      void exited.then((how) => reject(new Error(`child router exited (${how}) before listening: ${stderr}`)));
    }),
    START_MS,
    'the child router to listen',
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const r: ChildRouter = {
    child,
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
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

/** For after() hooks: kills every child router still running. */
export async function killChildRouters(): Promise<void> {
  await Promise.all([...running].map((r) => r.kill().catch(() => undefined)));
}
