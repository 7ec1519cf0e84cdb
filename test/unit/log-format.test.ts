// Log formats (config log.format; lib/log.ts, lib/log-pretty.ts): json writes one JSON
// object per line; pretty one readable line per entry (time, level, gate, message,
// fields, an error's stack below); auto is pretty on a terminal and json otherwise,
// checked on a real pseudo-terminal (util-linux `script`) against a pipe.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, resolveConfig } from '../../lib/config';
import { createLogger } from '../../lib/log';
import { formatLine } from '../../lib/log-pretty';

const ROOT = join(__dirname, '../..');

function capture(format: 'json' | 'pretty' | 'auto'): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format, destination: { write: (line: string) => void lines.push(line) } });
  return { lines, log };
}

describe('log format', () => {
  it('log format - json: one parseable object per line', () => {
    const { lines, log } = capture('json');
    log.child({ gate: 'mqtt' }).info({ port: 1883, tls: false }, 'MQTT listener ready');
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(entry['msg'], 'MQTT listener ready');
    assert.equal(entry['gate'], 'mqtt');
    assert.equal(entry['port'], 1883);
    assert.equal(entry['level'], 30);
  });

  it('log format - pretty: time, level, gate, message and fields on one line; no JSON, no color off a terminal', () => {
    const { lines, log } = capture('pretty');
    log
      .child({ gate: 'mqtt' })
      .warn({ peer: '203.0.113.7:4711', reason: 'not a trusted proxy', n: 3, nested: { a: 1 } }, 'connection refused');
    assert.equal(lines.length, 1);
    const line = lines[0] ?? '';
    assert.match(
      line,
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}\[mqtt\] connection refused peer=203\.0\.113\.7:4711 reason="not a trusted proxy" n=3 nested=\{"a":1\}\n$/,
    );
    assert.ok(!line.includes('\u001b['), 'no escape codes');
    assert.throws(() => JSON.parse(line));
  });

  it('log format - pretty: an error prints its stack below the line', () => {
    const { lines, log } = capture('pretty');
    log.error({ err: new Error('boom') }, 'shutdown failed');
    const [first = '', ...stack] = (lines[0] ?? '').trimEnd().split('\n');
    assert.match(first, / ERROR shutdown failed$/);
    assert.match(stack[0] ?? '', /^ {4}Error: boom$/);
    assert.ok(stack.length > 1 && stack.every((l) => l.startsWith('    ')), 'stack frames indented');
  });

  it('log format - pretty: every level, and a line that is not JSON passes through', () => {
    const levels: [number, string][] = [
      [10, 'TRACE'],
      [20, 'DEBUG'],
      [30, 'INFO '],
      [40, 'WARN '],
      [50, 'ERROR'],
      [60, 'FATAL'],
    ];
    for (const [level, name] of levels)
      assert.ok(formatLine(JSON.stringify({ level, time: 0, msg: 'm' })).includes(` ${name} m`), name);
    assert.equal(formatLine('not json'), 'not json\n');
    const painted = formatLine(JSON.stringify({ level: 50, time: 0, msg: 'm' }), (code, text) => `<${code}>${text}</>`);
    assert.ok(painted.includes('<31>ERROR</>'), painted);
  });

  it('log format - auto: pretty on a terminal, json on a pipe', (t) => {
    const probe = `require('${join(ROOT, 'lib/log.ts').replace(/'/g, "\\'")}').createLogger({ level: 'info', format: 'auto' }).info({ k: 'v' }, 'hello')`;
    const piped = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal((JSON.parse(piped.stdout.trim()) as Record<string, unknown>)['msg'], 'hello');
    // util-linux script(1) runs the command on a pseudo-terminal
    const command = [process.execPath, '--import', 'tsx', '-e', JSON.stringify(probe)].join(' ');
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, NO_COLOR: '' },
    });
    if (tty.error) return t.skip(`script(1) not available: ${tty.error.message}`);
    assert.equal(tty.status, 0, tty.stderr);
    const ESC = '\u001b';
    assert.ok(tty.stdout.includes(`${ESC}[32mINFO ${ESC}[0m hello ${ESC}[2mk=${ESC}[0mv`), JSON.stringify(tty.stdout));
    assert.match(tty.stdout, /^\d\d:\d\d:\d\d\.\d{3} /);
  });

  it('log format - config: auto by default, GATEHOUSE_LOG_FORMAT and unknown formats refused', () => {
    assert.equal(resolveConfig({}).log.format, 'auto');
    assert.equal(resolveConfig({ log: { format: 'pretty' } }).log.format, 'pretty');
    assert.equal(loadConfig({ env: { GATEHOUSE_LOG_FORMAT: 'json' } }).log.format, 'json');
    assert.throws(() => resolveConfig({ log: { format: 'xml' } }), /\/log\/format must be one of "auto", "json", "pretty"/);
  });
});
