'use strict';
/**
 * Lets the benchmark driver profile a router child over the measured window only
 * (not start-up or warm-up): the driver writes `profile-start` / `profile-stop <file>`
 * lines to the child's stdin; the child answers `PROFILE-STARTED` / `PROFILE-WRITTEN`
 * on stdout. Plain JavaScript so both router servers (TS and JS) can use it.
 */
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');

function installProfilerControl() {
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      handle(line).catch((err) => process.stderr.write(`profiler: ${err.message}\n`));
    }
  });
  // the driver closing stdin is not a reason to stop serving
  process.stdin.on('end', () => undefined);

  async function handle(line) {
    if (line === 'profile-start') {
      await post('Profiler.enable');
      // 100 µs sampling: V8's default is 1 ms, too coarse for short runs
      await post('Profiler.setSamplingInterval', { interval: 100 });
      await post('Profiler.start');
      process.stdout.write('PROFILE-STARTED\n');
    } else if (line.startsWith('profile-stop ')) {
      const { profile } = await post('Profiler.stop');
      writeFileSync(line.slice('profile-stop '.length), JSON.stringify(profile));
      process.stdout.write('PROFILE-WRITTEN\n');
    }
  }
}

module.exports = { installProfilerControl };
