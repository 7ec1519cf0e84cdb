/**
 * Validated events per second through a two-level propagation, over WAMP.
 *
 *   npx tsx bench/aggregate-bench.ts [--duration 10] [--clients 8] [--window 32]
 *                                    [--sync full|normal] [--invoices 2000] [--customers 100]
 *
 * The router runs as the `gatehouse` daemon in a child process, on a fresh SQLite file,
 * with the tables of test/fixtures/aggregate (fox-wamp's invoice/detail example). Each
 * client keeps `window` PUBLISHes with acknowledge in flight to `table.detail`: every
 * one is validated (ajv), upserted, and propagated detail -> invoice -> customer (and
 * detail -> product), then committed; PUBLISHED comes after the commit. Reported: acked
 * events per second after a 1 s warm-up, and the ack latency p50/p99 (send to
 * PUBLISHED). The clients run a closed loop, so the p50 is about clients x window /
 * rate (Little's law; printed next to it): a latency well above that would be queueing
 * inside the router, one close to it is the window. Afterwards `gatehouse rebuild --verify` checks the aggregates against a
 * recomputation from the detail rows.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const ROOT = join(__dirname, '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'aggregate');
const WARMUP_MS = 1000;

interface Options {
  duration: number;
  clients: number;
  window: number;
  sync: 'full' | 'normal';
  invoices: number;
  customers: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { duration: 10, clients: 8, window: 32, sync: 'full', invoices: 2000, customers: 100 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--duration':
        o.duration = Number(v);
        break;
      case '--clients':
        o.clients = Number(v);
        break;
      case '--window':
        o.window = Number(v);
        break;
      case '--sync':
        o.sync = v === 'normal' ? 'normal' : 'full';
        break;
      case '--invoices':
        o.invoices = Number(v);
        break;
      case '--customers':
        o.customers = Number(v);
        break;
      default:
        throw new Error(`unknown option ${String(argv[i])}`);
    }
  }
  return o;
}

/** Starts the daemon; resolves with its HTTP port once it logs `listening`. */
function startDaemon(config: string): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join('lib', 'cli.ts'), 'start', '-c', config], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) {
        out = '';
        const port = (JSON.parse(line) as { http: { port: number } }).http.port;
        resolve({
          port,
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
    void exited.then(() => reject(new Error('the daemon exited before listening')));
  });
}

/** A minimal WAMP JSON publisher: PUBLISH with acknowledge, PUBLISHED / ERROR back. */
class Publisher {
  private next = 1;
  private readonly sent = new Map<number, number>();
  constructor(
    private readonly ws: WebSocket,
    private readonly onAck: (latencyMs: number, ok: boolean) => void,
  ) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as unknown[];
      const type = msg[0];
      const id = (type === 17 ? msg[1] : type === 8 && msg[1] === 16 ? msg[2] : undefined) as number | undefined;
      if (id === undefined) return;
      const t0 = this.sent.get(id);
      if (t0 === undefined) return;
      this.sent.delete(id);
      this.onAck(performance.now() - t0, type === 17);
    });
  }

  static async open(url: string, onAck: (latencyMs: number, ok: boolean) => void): Promise<Publisher> {
    const ws = new WebSocket(url, ['wamp.2.json'], { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => ws.send(JSON.stringify([1, 'realm1', { roles: { publisher: {}, caller: {} } }])));
      ws.once('message', (d: Buffer) =>
        (JSON.parse(d.toString('utf8')) as unknown[])[0] === 2 ? resolve() : reject(new Error(d.toString())),
      );
      ws.once('error', reject);
    });
    return new Publisher(ws, onAck);
  }

  publish(row: Record<string, unknown>): void {
    const id = this.next++;
    this.sent.set(id, performance.now());
    this.ws.send(JSON.stringify([16, id, { acknowledge: true }, 'table.detail', [], row]));
  }

  close(): void {
    this.ws.close();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-aggregate-bench-'));
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      http: { port: 0 },
      store: { path: join(dir, 'bench.db'), synchronous: o.sync },
      aggregate: { dir: FIXTURE },
      log: { level: 'info' },
    }),
  );
  const daemon = await startDaemon(config);
  try {
    let acked = 0;
    let refused = 0;
    let measuring = false;
    let stopping = false;
    const latencies: number[] = [];
    let n = 0;
    const rowOf = (): Record<string, unknown> => {
      n++;
      const invoice = (n * 7919) % o.invoices;
      return {
        invoice: `inv${invoice}`,
        line: 1 + (n % 5),
        customer: `cust${invoice % o.customers}`,
        product: `prod${n % 50}`,
        type: 'sale',
        amount: ((n * 31) % 100_000) / 100,
      };
    };
    const publishers: Publisher[] = [];
    for (let c = 0; c < o.clients; c++) {
      const p: Publisher = await Publisher.open(`ws://127.0.0.1:${daemon.port}/ws`, (ms, ok) => {
        if (measuring) {
          if (ok) acked++;
          else refused++;
          latencies.push(ms);
        }
        if (!stopping) p.publish(rowOf());
      });
      publishers.push(p);
    }
    for (const p of publishers) for (let i = 0; i < o.window; i++) p.publish(rowOf());
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, o.duration * 1000));
    measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    stopping = true;
    await new Promise((r) => setTimeout(r, 500));
    for (const p of publishers) p.close();
    latencies.sort((a, b) => a - b);
    console.log(
      `aggregate bench: ${o.clients} clients x ${o.window} in flight, sync ${o.sync}, ${o.invoices} invoices / ${o.customers} customers, ${o.duration}s, node ${process.version}`,
    );
    console.log(
      `  ${Math.round(acked / seconds).toLocaleString('en')} validated events/s acked (detail -> invoice -> customer, + product); ack latency p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms; ${refused} refused`,
    );
    // a closed loop: the latency is mostly the window waiting its turn (Little's law)
    const queued = ((o.clients * o.window) / (acked / seconds)) * 1000;
    console.log(
      `  ${o.clients * o.window} in flight / rate = ${queued.toFixed(2)} ms: what the window alone adds; use a smaller --window for the latency of one commit`,
    );
  } finally {
    await daemon.stop();
  }
  const verify = spawnSync(process.execPath, ['--import', 'tsx', join('lib', 'cli.ts'), 'rebuild', '-c', config, '--verify'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  console.log(`  rebuild --verify (exit ${String(verify.status)}): ${verify.stdout.trim().split('\n').pop() ?? ''}`);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
