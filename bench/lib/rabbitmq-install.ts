/**
 * Debian's RabbitMQ for the STOMP benchmark (bench/lib/stomp-broker-process.ts): where
 * its real scripts and Erlang's epmd are, and installing the package when asked.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RabbitInstall {
  /** .../rabbitmq_server-<v>/sbin: the real scripts, not Debian's wrapper (which su's to the rabbitmq user) */
  sbin: string;
  epmd: string;
  version: string;
  erlang: string;
}

/** Debian's RabbitMQ, or why it is not usable. */
export function findRabbitmq(): RabbitInstall | string {
  const lib = '/usr/lib/rabbitmq/lib';
  if (!existsSync(lib)) return 'the rabbitmq-server package is not installed (no /usr/lib/rabbitmq/lib)';
  const dir = readdirSync(lib)
    .filter((d) => d.startsWith('rabbitmq_server-'))
    .sort()
    .pop();
  if (!dir) return `no rabbitmq_server-* in ${lib}`;
  const sbin = join(lib, dir, 'sbin');
  if (!existsSync(join(sbin, 'rabbitmq-server'))) return `no ${join(sbin, 'rabbitmq-server')}`;
  if (
    !existsSync(join(lib, dir, 'plugins')) ||
    !readdirSync(join(lib, dir, 'plugins')).some((p) => p.startsWith('rabbitmq_stomp-'))
  ) {
    return `the rabbitmq_stomp plugin is not in ${join(lib, dir, 'plugins')}`;
  }
  const epmd = ['/usr/bin/epmd', ...globErts('epmd')].find((p) => existsSync(p));
  if (!epmd) return 'epmd (Erlang) not found';
  const q = (pkg: string): string => spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' }).stdout.trim();
  const version = q('rabbitmq-server') || dir.slice('rabbitmq_server-'.length);
  return { sbin, epmd, version, erlang: q('erlang-base') || '?' };
}

function globErts(bin: string): string[] {
  const base = '/usr/lib/erlang';
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((d) => d.startsWith('erts-'))
    .map((d) => join(base, d, 'bin', bin));
}

/**
 * apt-get update; apt-get install -y rabbitmq-server, as root, with a policy-rc.d that
 * keeps the package from starting the system service (left alone if one exists). Returns
 * undefined on success, else why not (the caller reports it and goes on without).
 */
export function installRabbitmq(timeoutMs: number): string | undefined {
  if (process.getuid?.() !== 0)
    return 'not root: cannot apt-get install rabbitmq-server (run `apt-get install -y rabbitmq-server` as root)';
  if (spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) return 'no apt-get on this machine';
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const deadline = Date.now() + timeoutMs;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const up = spawnSync('apt-get', ['update'], { env, encoding: 'utf8', timeout: timeoutMs });
    if (up.error) return `apt-get update: ${up.error.message}`;
    const left = Math.max(1000, deadline - Date.now());
    const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'rabbitmq-server'], {
      env,
      encoding: 'utf8',
      timeout: left,
    });
    if (r.error) return `apt-get install rabbitmq-server: ${r.error.message}`;
    if (r.status !== 0)
      return `apt-get install rabbitmq-server failed (exit ${String(r.status)}): ${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-3).join(' / ')}`;
    return undefined;
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}
