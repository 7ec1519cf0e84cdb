/**
 * Links (README "Links"): how fast a link forwards, and how long a backlog takes to drain.
 *
 *   npx tsx bench/link-bench.ts [--messages 20000] [--drain 100000] [--window 100]
 *        [--inflight 500] [--payload 64] [--peers gatehouse-wamp] [--runs 1] [--no-mosquitto]
 *   LINK_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/out/prof" npx tsx bench/link-bench.ts ...
 *        (node options for the router processes)
 *
 * Two measurements per peer setup, in one run:
 * - forward: a site router with a link to a designated router; a publisher at the site
 *   publishes `--messages` acknowledged messages (`--inflight` unacknowledged at most)
 *   and a subscriber at the designated router counts them: messages/s from the first
 *   publish to the last arrival. Every message went into the link's durable queue in
 *   its publisher's ack and left it only on the peer's acknowledgement.
 * - drain: the link is cut (a TCP proxy in this process refuses it), `--drain`
 *   messages are published and acknowledged at the site (queued durably), then the
 *   link is restored: the time from the restore until the subscriber has them all.
 *
 * Each router is a child process (this file with `--serve <config file>`) with its own
 * SQLite store in a temporary directory, run through tsx. Peer setups are entries of
 * PEERS: "gatehouse-wamp" is two Gatehouse routers over a ws:// link. In the same run
 * (unless --no-mosquitto), the peer figure: two Mosquitto brokers bridged at QoS 1
 * (bench/mosquitto-bridge.ts), the same number of messages and publishes in flight,
 * forwarding only (a Mosquitto bridge's queue is not durable to measure a drain of).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../index';
import { WampClient } from './lib/wamp-client';
import { runMosquittoBridge } from './mosquitto-bridge';

// ---------------------------------------------------------------------------------
// the child: one router

async function serve(file: string): Promise<void> {
  const { node, ...config } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> & { node?: string };
  const router = new Router({ log: { level: 'warn' }, ...config }, { node });
  const ws = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`PORT ${ws.port}\n`);
  process.once('SIGTERM', () => void router.close().then(() => process.exit(0)));
}

// ---------------------------------------------------------------------------------
// the driver

interface Options {
  messages: number;
  drain: number;
  window: number;
  inflight: number;
  payload: number;
  peers: string[];
  runs: number;
  /** the peer figure: two Mosquitto brokers bridged at QoS 1, forwarding only */
  mosquitto: boolean;
}

/** What a measurement needs of a peer setup: where to publish and subscribe, and the cut. */
interface LinkPair {
  /** WAMP url of the site (publisher side) */
  siteUrl: string;
  /** WAMP url of the designated router (subscriber side) */
  peerUrl: string;
  /** the site's link is up again after restore() (or at start) */
  linkUp(): Promise<void>;
  cut(): void;
  restore(): void;
  stop(): Promise<void>;
}

type PairFactory = (o: Options, dir: string) => Promise<LinkPair>;

const PEERS: Record<string, PairFactory> = {
  'gatehouse-wamp': gatehousePair,
};

function startChild(dir: string, node: string, config: Record<string, unknown>): Promise<{ child: ChildProcess; port: number }> {
  const file = join(dir, `${node}.json`);
  writeFileSync(file, JSON.stringify({ node, store: { path: join(dir, `${node}.db`) }, ...config }));
  const child = spawn(
    process.execPath,
    [...(process.env['LINK_BENCH_NODE_ARGS']?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', __filename, '--serve', file],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`router ${node} exited (${String(code)}) before listening`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A TCP proxy: cut() destroys every connection and refuses new ones, restore() lets them in again. */
async function proxyTo(port: number): Promise<{ port: number; cut(): void; restore(): void; close(): void }> {
  const sockets = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((c) => {
    if (!up) return c.destroy();
    const u = net.connect({ host: '127.0.0.1', port });
    c.setNoDelay(true);
    u.setNoDelay(true);
    sockets.add(c).add(u);
    const drop = (): void => {
      c.destroy();
      u.destroy();
      sockets.delete(c);
      sockets.delete(u);
    };
    c.on('error', drop).on('close', drop);
    u.on('error', drop).on('close', drop);
    c.pipe(u);
    u.pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as net.AddressInfo;
  const cut = (): void => {
    up = false;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port: a.port,
    cut,
    restore() {
      up = true;
    },
    close() {
      cut();
      server.close();
    },
  };
}

async function gatehousePair(o: Options, dir: string): Promise<LinkPair> {
  const cloud = await startChild(dir, 'cloud', {});
  const proxy = await proxyTo(cloud.port);
  const site = await startChild(dir, 'site', {
    links: [
      {
        name: 'up',
        url: `ws://127.0.0.1:${proxy.port}/ws`,
        out: ['bench.#'],
        window: o.window,
        retryMaxMs: 200,
        queue: { maxMessages: Math.max(100_000, o.drain * 2), maxBytes: 1024 ** 3 },
      },
    ],
  });
  const siteUrl = `ws://127.0.0.1:${site.port}/ws`;
  const admin = await WampClient.connect({ url: siteUrl, realm: 'realm1' });
  const state = async (): Promise<string> => {
    const list = await new Promise<unknown[] | undefined>((res) => admin.call('gatehouse.link.list', [], res));
    return (list?.[0] as { state: string }[] | undefined)?.[0]?.state ?? 'none';
  };
  return {
    siteUrl,
    peerUrl: `ws://127.0.0.1:${cloud.port}/ws`,
    async linkUp() {
      const until = Date.now() + 30_000;
      while ((await state()) !== 'up') {
        if (Date.now() > until) throw new Error('the link did not come up');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    cut: () => proxy.cut(),
    restore: () => proxy.restore(),
    async stop() {
      await admin.close();
      proxy.close();
      await Promise.all([stopChild(site.child), stopChild(cloud.child)]);
    },
  };
}

/** Publishes `n` acknowledged messages with at most `inflight` outstanding. */
async function publishMany(c: WampClient, n: number, inflight: number, payload: string): Promise<void> {
  let next = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const more = (): void => {
      while (next < n && next - done < inflight) {
        const i = next++;
        c.publishAcknowledged('bench.t', [i, payload]).then(() => {
          done++;
          if (done === n) resolve();
          else more();
        }, reject);
      }
    };
    more();
  });
}

/** A subscriber at the peer; `until(n)` resolves once n messages arrived, in order. */
async function counter(url: string): Promise<{ client: WampClient; reset(): void; until(n: number): Promise<void> }> {
  const client = await WampClient.connect({ url, realm: 'realm1' });
  let got = 0;
  let outOfOrder = 0;
  let waiter: { n: number; resolve(): void } | undefined;
  await client.subscribe('bench.t', (args) => {
    if (args?.[0] !== got) outOfOrder++;
    got++;
    if (waiter && got >= waiter.n) waiter.resolve();
  });
  return {
    client,
    reset() {
      got = 0;
      outOfOrder = 0;
    },
    until(n) {
      if (got >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (outOfOrder > 0) reject(new Error(`${outOfOrder} messages out of order`));
        }, 200);
        waiter = {
          n,
          resolve: () => {
            clearInterval(t);
            if (outOfOrder > 0 || got !== n) reject(new Error(`got ${got} of ${n}, ${outOfOrder} out of order`));
            else resolve();
          },
        };
      });
    },
  };
}

async function measure(
  name: string,
  factory: PairFactory,
  o: Options,
): Promise<{ peer: string; forwardPerSec: number; queuePerSec: number; drainSeconds: number; drainPerSec: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'link-bench-'));
  const pair = await factory(o, dir);
  try {
    await pair.linkUp();
    const sub = await counter(pair.peerUrl);
    const pub = await WampClient.connect({ url: pair.siteUrl, realm: 'realm1' });
    const payload = 'x'.repeat(o.payload);
    // forward: up, acknowledged publishes, counted at the peer
    let t0 = process.hrtime.bigint();
    await Promise.all([publishMany(pub, o.messages, o.inflight, payload), sub.until(o.messages)]);
    const forwardPerSec = o.messages / (Number(process.hrtime.bigint() - t0) / 1e9);
    // drain: queue during an outage, then restore and time the catch-up
    sub.reset();
    pair.cut();
    t0 = process.hrtime.bigint();
    await publishMany(pub, o.drain, o.inflight, payload);
    const queuePerSec = o.drain / (Number(process.hrtime.bigint() - t0) / 1e9);
    t0 = process.hrtime.bigint();
    pair.restore();
    await sub.until(o.drain);
    const drainSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await pub.close();
    await sub.client.close();
    return { peer: name, forwardPerSec, queuePerSec, drainSeconds, drainPerSec: o.drain / drainSeconds };
  } finally {
    await pair.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    messages: 20_000,
    drain: 100_000,
    window: 100,
    inflight: 500,
    payload: 64,
    peers: Object.keys(PEERS),
    runs: 1,
    mosquitto: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--no-mosquitto') {
      o.mosquitto = false;
      continue;
    }
    const v = argv[++i] ?? '';
    switch (flag) {
      case '--messages':
        o.messages = Number(v);
        break;
      case '--drain':
        o.drain = Number(v);
        break;
      case '--window':
        o.window = Number(v);
        break;
      case '--inflight':
        o.inflight = Number(v);
        break;
      case '--payload':
        o.payload = Number(v);
        break;
      case '--runs':
        o.runs = Number(v);
        break;
      case '--peers':
        o.peers = v.split(',');
        break;
      default:
        throw new Error(`unknown option ${String(flag)}`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--serve') return serve(argv[1] ?? '');
  const o = parseArgs(argv);
  process.stdout.write(
    `link bench: ${o.messages} forwarded, ${o.drain} drained, window ${o.window}, ${o.inflight} publishes in flight, ${o.payload} B payload\n`,
  );
  process.stdout.write(
    '| Peer | forwarded, msgs/s | queued during the outage, msgs/s | drain time, s | drain, msgs/s |\n| --- | ---: | ---: | ---: | ---: |\n',
  );
  for (let run = 0; run < o.runs; run++) {
    for (const name of o.peers) {
      const factory = PEERS[name];
      if (!factory) throw new Error(`unknown peer setup ${name} (known: ${Object.keys(PEERS).join(', ')})`);
      const r = await measure(name, factory, o);
      const f = (n: number): string => Math.round(n).toLocaleString('en-US');
      process.stdout.write(
        `| ${r.peer} | ${f(r.forwardPerSec)} | ${f(r.queuePerSec)} | ${r.drainSeconds.toFixed(2)} | ${f(r.drainPerSec)} |\n`,
      );
    }
    if (o.mosquitto) {
      // the same forwarding shape through two bridged Mosquittos (QoS 1): the peer figure
      const m = await runMosquittoBridge({ messages: o.messages, window: o.inflight, payloadBytes: o.payload });
      if (m.received !== m.messages || m.outOfOrder > 0)
        throw new Error(`mosquitto bridge lost ${m.messages - m.received}, ${m.outOfOrder} out of order`);
      process.stdout.write(
        `| mosquitto-bridge (${m.mosquitto}, QoS 1) | ${Math.round(m.messagesPerSecond).toLocaleString('en-US')} | - | - | - |\n`,
      );
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
