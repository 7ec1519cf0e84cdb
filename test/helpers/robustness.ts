/**
 * Shared pieces of the WAMP robustness suites: well-behaved bystander sessions that
 * must keep working while raw peers misbehave, and a guard that turns any uncaught
 * exception or unhandled rejection in this (router-hosting) process into a failure.
 */
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { autobahnTransports, connect, type AutobahnSession } from './autobahn';
import { within } from './raw-wamp';

type Connected = Awaited<ReturnType<typeof connect>>;

/** Process-wide crash guard: the test process hosts the router. */
export class CrashGuard {
  readonly errors: unknown[] = [];
  private readonly onError = (err: unknown): void => {
    this.errors.push(err);
  };

  install(): void {
    process.on('uncaughtException', this.onError);
    process.on('unhandledRejection', this.onError);
  }

  uninstall(): void {
    process.off('uncaughtException', this.onError);
    process.off('unhandledRejection', this.onError);
  }

  assertNone(): void {
    if (this.errors.length > 0) {
      const first = this.errors[0];
      assert.fail(`uncaught in the router process: ${first instanceof Error ? (first.stack ?? first.message) : String(first)}`);
    }
  }
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Memory in use after a full GC: V8 heap plus Buffers (external memory). */
export function memoryAfterGc(): { heap: number; external: number } {
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.arrayBuffers };
}

/** For hooks: is `t` a top-level test, not a subtest? (fullName: "parent > child") */
export function isTopLevel(t: { name: string; fullName?: string }): boolean {
  return t.fullName === undefined || t.fullName === t.name;
}

interface Bystander {
  name: string;
  conn: Connected;
  events: unknown[];
  procedure: string;
}

/**
 * One well-behaved autobahn session per transport autobahn speaks (subscriber +
 * callee), plus a prober that publishes and calls. check() proves each still gets a
 * publication and still answers a call.
 */
export class Bystanders {
  readonly members: Bystander[] = [];
  prober!: Connected;
  private token = 0;
  private waiters = new Set<() => void>();

  static async start(wsUrl: string, rawSocketUrl: string, topic = 'robust.bystander'): Promise<Bystanders> {
    const b = new Bystanders();
    b.prober = await connect({ url: wsUrl, protocols: ['wamp.2.json'] });
    let i = 0;
    for (const t of autobahnTransports(wsUrl, rawSocketUrl)) {
      const conn = await connect(t.options);
      const member: Bystander = { name: t.name, conn, events: [], procedure: `robust.bystander.echo.${i++}` };
      await conn.session.subscribe(topic, (args) => {
        member.events.push(args[0]);
        for (const w of b.waiters) w();
      });
      await conn.session.register(member.procedure, (args) => args[0]);
      b.members.push(member);
    }
    b.topic = topic;
    return b;
  }

  topic = 'robust.bystander';

  get session(): AutobahnSession {
    return this.prober.session;
  }

  /** Every bystander receives a fresh publication and answers a fresh call. */
  async check(after: string): Promise<void> {
    const token = `t${++this.token}`;
    const all = (): boolean => this.members.every((m) => m.events.includes(token));
    const got = new Promise<void>((resolve) => {
      const w = (): void => {
        if (all()) {
          this.waiters.delete(w);
          resolve();
        }
      };
      this.waiters.add(w);
    });
    await within(
      Promise.resolve(this.session.publish(this.topic, [token], {}, { acknowledge: true })),
      2000,
      `publish acknowledged (after ${after})`,
    );
    try {
      await within(got, 2000, `every bystander receiving the publication (after ${after})`);
    } catch (err) {
      const missing = this.members.filter((m) => !m.events.includes(token)).map((m) => m.name);
      throw new Error(`${(err as Error).message}; missing: ${missing.join(', ')}`);
    }
    for (const m of this.members) {
      const r = await within(this.session.call(m.procedure, [token]), 2000, `call to ${m.name} bystander (after ${after})`);
      assert.equal(r, token, `${m.name} bystander answers its call (after ${after})`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.members.map((m) => m.conn.close()), this.prober.close()].map((p) =>
        within(p, 3000, 'bystander close').catch(() => undefined),
      ),
    );
  }
}

/** Reads one sample of a Prometheus counter from router.metrics.render() text. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && line.split(' ')[0] !== name) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (!ok) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) return v;
  }
  return 0;
}
