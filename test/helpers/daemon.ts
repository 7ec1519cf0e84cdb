/**
 * The `gatehouse` daemon (lib/cli.ts) in a child process with a config file, observed
 * through its JSON log lines: for tests of what only the daemon does (signals, pid
 * file, config reload, the CLI's own commands).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { giveUpAfter } from './wait';

const ROOT = resolve(__dirname, '..', '..');
const CLI = join('lib', 'cli.ts');
/** tsx compiles the router on start; a cold start on a loaded machine takes seconds */
export const START_TIMEOUT_MS = 30_000;

export type LogEntry = Record<string, unknown> & { msg?: string; level?: number };

export interface Daemon {
  child: ChildProcess;
  /** the complete stdout lines so far, as written (what a non-daemon command prints) */
  readonly stdout: string[];
  /** the JSON log lines so far, parsed */
  readonly logs: LogEntry[];
  stderr(): string;
  exited: Promise<number | null>;
  /** the first log entry from index `from` on that `pred` accepts */
  waitForLog(pred: (e: LogEntry) => boolean, what: string, from?: number, ms?: number): Promise<LogEntry>;
  /** SIGKILL if still running; waits for the exit */
  kill(): Promise<void>;
}

/** A temporary directory, removed by the returned function. */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-daemon-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, JSON.stringify(value, null, 2));
}

/** The environment without GATEHOUSE_* variables, so the host's settings do not leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GATEHOUSE_')));
  delete env['NODE_TEST_CONTEXT']; // the child is not a test file
  return env;
}

/** Runs `gatehouse <args>` (tsx's CommonJS hook, from the source tree; see child-router.ts). */
export function spawnGatehouse(args: string[]): Daemon {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], {
    cwd: ROOT,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const logs: LogEntry[] = [];
  const lines = new EventEmitter();
  let err = '';
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    stdout.push(...parts);
    for (const line of parts) {
      if (!line.startsWith('{')) continue;
      try {
        logs.push(JSON.parse(line) as LogEntry);
      } catch {
        // not a log line
      }
    }
    lines.emit('line');
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const dump = (): string => `\nlog:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${err}`;

  const waitForLog = (pred: (e: LogEntry) => boolean, what: string, from = 0, ms = START_TIMEOUT_MS): Promise<LogEntry> =>
    new Promise((resolvePromise, reject) => {
      const check = (): boolean => {
        for (let i = from; i < logs.length; i++) {
          const e = logs[i];
          if (e && pred(e)) {
            finish();
            resolvePromise(e);
            return true;
          }
        }
        return false;
      };
      const onExit = (code: number | null): void => {
        finish();
        reject(new Error(`daemon exited (${String(code)}) before ${what}${dump()}`));
      };
      const cancel = giveUpAfter(ms, () => {
        finish();
        reject(new Error(`no log line for ${what} within ${ms} ms${dump()}`));
      });
      const onLine = (): void => void check();
      const finish = (): void => {
        cancel();
        lines.off('line', onLine);
        child.off('exit', onExit);
      };
      lines.on('line', onLine);
      child.on('exit', onExit);
      check();
    });

  return {
    child,
    stdout,
    logs,
    stderr: () => err,
    exited,
    waitForLog,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** The ports of the daemon's "listening" log line. */
export interface DaemonPorts {
  http: number;
  mqtt: number;
  stomp: number;
}

export function portsOf(listening: LogEntry): DaemonPorts {
  const port = (v: unknown): number => {
    if (typeof v !== 'string') throw new Error(`no url in ${JSON.stringify(listening)}`);
    return Number(new URL(v).port);
  };
  return {
    http: Number((listening['http'] as { port?: unknown }).port),
    mqtt: port((listening['mqtt'] as { url?: unknown } | undefined)?.url),
    stomp: port((listening['stomp'] as { url?: unknown } | undefined)?.url),
  };
}
