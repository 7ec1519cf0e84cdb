/**
 * The deployment files in contrib/: the systemd unit is checked by `systemd-analyze
 * verify` where the machine has it (and parsed for the settings the README promises in
 * any case); the Dockerfile, which cannot be built here (no Docker daemon), is parsed as
 * Dockerfile syntax: known instructions only, stages that exist, COPY sources that exist
 * in the repository, and a command, environment and port that match the daemon's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import vm from 'node:vm';

const ROOT = resolve(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const CLI = pkg.bin['gatehouse'] ?? '';
/** the environment variables lib/config.ts reads (its header lists them) */
const CONFIG_ENV = new Set(readFileSync(join(ROOT, 'lib/config.ts'), 'utf8').match(/GATEHOUSE_[A-Z_]+/g) ?? []);

/** A unit file as [section, key, value] triples (systemd.syntax(7)), comments and blanks skipped. */
function parseUnit(text: string): [string, string, string][] {
  const out: [string, string, string][] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0 && section !== '', `not a key=value line in a section: ${line}`);
    out.push([section, line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

/** Dockerfile instructions, continuation lines joined, comments and the parser directive skipped. */
function parseDockerfile(text: string): { instruction: string; args: string }[] {
  const out: { instruction: string; args: string }[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = pending + line;
    pending = '';
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(whole);
    assert.ok(m, `not an instruction: ${whole}`);
    out.push({ instruction: (m[1] ?? '').toUpperCase(), args: m[2] ?? '' });
  }
  assert.equal(pending, '', 'the file ends inside a continued line');
  return out;
}

describe('contrib', () => {
  const unitText = readFileSync(join(ROOT, 'contrib/gatehouse.service'), 'utf8');

  it('contrib - the systemd unit passes systemd-analyze verify', (t) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error) return t.skip('systemd-analyze not installed (the unit is still parsed below)');
    // verify checks that ExecStart's program exists: where node lives elsewhere, verify a copy naming it
    const text = existsSync('/usr/bin/node') ? unitText : unitText.replace('/usr/bin/node', process.execPath);
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-unit-'));
    try {
      const file = join(dir, 'gatehouse.service');
      writeFileSync(file, text);
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 60000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', 'no warnings');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('contrib - the systemd unit runs the daemon as its own user, restarts it, and confines it', () => {
    const entries = parseUnit(unitText);
    const get = (section: string, key: string): string[] =>
      entries.filter(([s, k]) => s === section && k === key).map(([, , v]) => v);
    const one = (section: string, key: string): string => {
      const values = get(section, key);
      assert.equal(values.length, 1, `${section}.${key} once`);
      return values[0] ?? '';
    };
    assert.deepEqual([...new Set(entries.map(([s]) => s))], ['Unit', 'Service', 'Install']);
    const execStart = one('Service', 'ExecStart').split(' ');
    assert.equal(execStart[0], '/usr/bin/node');
    assert.ok(execStart[1]?.endsWith(CLI.replace(/^\.\//, '')), `${execStart[1] ?? ''} runs the package's bin ${CLI}`);
    assert.deepEqual(execStart.slice(2), ['start', '--config', '/etc/gatehouse/config.json']);
    assert.notEqual(one('Service', 'User'), 'root');
    assert.equal(one('Service', 'Restart'), 'on-failure');
    assert.ok(Number(one('Service', 'LimitNOFILE')) >= 65536, 'LimitNOFILE high');
    assert.equal(one('Service', 'NoNewPrivileges'), 'yes');
    assert.equal(one('Service', 'ProtectSystem'), 'strict');
    assert.equal(one('Service', 'StateDirectory'), 'gatehouse');
    for (const env of get('Service', 'Environment')) {
      const name = env.slice(0, env.indexOf('='));
      assert.ok(name === 'NODE_ENV' || CONFIG_ENV.has(name), `${name} is read by lib/config.ts`);
    }
    assert.equal(one('Install', 'WantedBy'), 'multi-user.target');
    // the store path it sets lies in the state directory, the one place it may write
    assert.ok(get('Service', 'Environment').includes('GATEHOUSE_STORE_PATH=/var/lib/gatehouse/gatehouse.db'));
    const sysusers = readFileSync(join(ROOT, 'contrib/gatehouse.sysusers'), 'utf8');
    assert.match(sysusers, new RegExp(`^u ${one('Service', 'User')} - `, 'm'), 'the sysusers file creates the unit user');
  });

  it('contrib - the Dockerfile is well-formed and matches the daemon', () => {
    const text = readFileSync(join(ROOT, 'contrib/Dockerfile'), 'utf8');
    assert.match(text.split('\n')[0] ?? '', /^# syntax=docker\/dockerfile:1$/);
    const steps = parseDockerfile(text);
    const known = new Set([
      'FROM',
      'RUN',
      'CMD',
      'LABEL',
      'EXPOSE',
      'ENV',
      'ADD',
      'COPY',
      'ENTRYPOINT',
      'VOLUME',
      'USER',
      'WORKDIR',
      'ARG',
      'ONBUILD',
      'STOPSIGNAL',
      'HEALTHCHECK',
      'SHELL',
    ]);
    for (const s of steps) assert.ok(known.has(s.instruction), `unknown instruction ${s.instruction}`);
    assert.equal(steps[0]?.instruction, 'FROM');
    const froms = steps.filter((s) => s.instruction === 'FROM').map((s) => s.args.split(/\s+/));
    for (const f of froms) assert.match(f[0] ?? '', /^node:20(-|$)/, 'a node:20 base image');
    const stages = new Set(froms.filter((f) => f[1]?.toUpperCase() === 'AS').map((f) => f[2]));
    // the last stage is the image: it runs as an unprivileged user and never as root
    const last = steps.slice(steps.map((s) => s.instruction).lastIndexOf('FROM'));
    const user = last.filter((s) => s.instruction === 'USER').map((s) => s.args);
    assert.ok(user.length > 0 && !user.includes('root') && !user.includes('0'), 'runs as a non-root user');
    for (const s of steps.filter((x) => x.instruction === 'COPY')) {
      const words = s.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      if (from !== undefined) {
        assert.ok(stages.has(from), `COPY --from=${from} names a stage`);
        continue;
      }
      // sources are relative to the build context, the repository root
      for (const src of paths.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
    }
    const entrypoint = JSON.parse(last.find((s) => s.instruction === 'ENTRYPOINT')?.args ?? 'null') as string[];
    assert.deepEqual(entrypoint, ['node', `/app/${CLI.replace(/^\.\//, '')}`]);
    assert.deepEqual(JSON.parse(last.find((s) => s.instruction === 'CMD')?.args ?? 'null'), ['start']);
    // ENV: only variables the config loader reads (plus NODE_ENV), and the port it exposes
    const env = new Map<string, string>();
    for (const s of last.filter((x) => x.instruction === 'ENV')) {
      for (const m of s.args.matchAll(/([A-Z_]+)=(\S+)/g)) env.set(m[1] ?? '', m[2] ?? '');
    }
    for (const name of env.keys()) assert.ok(name === 'NODE_ENV' || CONFIG_ENV.has(name), `${name} is read by lib/config.ts`);
    assert.equal(env.get('GATEHOUSE_HTTP_HOST'), '0.0.0.0', 'reachable from outside the container');
    assert.deepEqual(
      last.filter((s) => s.instruction === 'EXPOSE').map((s) => s.args),
      [env.get('GATEHOUSE_HTTP_PORT')],
    );
    const healthcheck = last.find((s) => s.instruction === 'HEALTHCHECK')?.args ?? '';
    const cmd = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[];
    assert.equal(cmd[0], 'node');
    assert.match(cmd[2] ?? '', /\/health/);
    // the health check's script is valid JavaScript
    assert.doesNotThrow(() => new vm.Script(cmd[2] ?? ''));
  });
});
