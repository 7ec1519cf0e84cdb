/**
 * Messages per second through a Mosquitto bridge (QoS 1), the peer-broker figure that
 * bench/link-bench.ts sets beside a Gatehouse WAMP link (issue 13).
 *
 *   npx tsx bench/mosquitto-bridge.ts [--messages 20000] [--window 500] [--payload 64] [--runs 3]
 *
 * Two Mosquitto brokers (Debian's, test/helpers/mosquitto.ts: loopback, anonymous, no
 * persistence, queue and in-flight limits at their defaults: max_inflight_messages 20,
 * max_queued_messages 1000). The near broker A has a bridge to the far broker B
 * (`topic bench/# out 1`, MQTT 3.1.1, QoS 1). A publisher on A sends QoS 1; a subscriber
 * on B (QoS 1, PUBACKs each delivery) counts what arrives. The publisher keeps at most
 * --window messages sent but not yet received at B, end to end: the bridge's queue at A
 * then never reaches max_queued_messages, past which Mosquitto drops (that is its bridge's
 * behaviour under a longer outage, not what is measured here). The rate is messages
 * received at B over the time from the first PUBLISH to the last delivery; every message
 * must arrive, in order. Load generator: the lean MQTT client of the MQTT benchmark
 * (bench/lib/mqtt-lean-client.ts), in this process.
 *
 * runMosquittoBridge() is the function the link benchmark calls; this file's CLI prints
 * the same figure on its own.
 */
import { LeanMqttClient, publishTemplate } from './lib/mqtt-lean-client';
import { startMosquitto, type Cleanup } from '../test/helpers/mosquitto';
import { mosquittoVersion, findMosquitto } from './lib/mqtt-broker-process';

export interface MosquittoBridgeOptions {
  messages: number;
  /** messages sent at A and not yet received at B, at most */
  window: number;
  payloadBytes: number;
}

export interface MosquittoBridgeResult {
  messages: number;
  received: number;
  /** deliveries at B that were not the next expected sequence number */
  outOfOrder: number;
  ms: number;
  messagesPerSecond: number;
  mosquitto: string;
}

const TOPIC = 'bench/link';
const PROBE_TOPIC = 'bench/probe';
const BRIDGE_UP_MS = 15_000;

/** One run: two fresh brokers, the bridge between them, `messages` through it. */
export async function runMosquittoBridge(o: MosquittoBridgeOptions): Promise<MosquittoBridgeResult> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup: Cleanup = { after: (fn) => void cleanups.push(fn) };
  const clients: LeanMqttClient[] = [];
  try {
    const far = await startMosquitto(cleanup);
    const near = await startMosquitto(cleanup, { bridge: { port: far.port, topics: ['bench/# out 1'] } });
    const sub = await LeanMqttClient.connect(far.port, `bench-sub-${process.pid}`);
    clients.push(sub);
    await sub.subscribe('bench/#', 1);
    const pub = await LeanMqttClient.connect(near.port, `bench-pub-${process.pid}`);
    clients.push(pub);

    let received = 0;
    let outOfOrder = 0;
    let probes = 0;
    let wake: (() => void) | undefined;
    let flushQueued = false;
    const flushSoon = (): void => {
      if (flushQueued) return;
      flushQueued = true;
      setImmediate(() => {
        flushQueued = false;
        sub.flush();
      });
    };
    sub.onPublish = (data, start, end, qos, packetId) => {
      if (qos > 0) {
        sub.puback(packetId);
        flushSoon();
      }
      if (end - start < 8) {
        probes++; // a probe (empty payload) from the bridge-up check
      } else {
        const seq = data.readUInt32BE(start);
        if (seq !== received) outOfOrder++;
        received++;
      }
      const w = wake;
      wake = undefined;
      w?.();
    };

    // the bridge connects on its own schedule: publish probes until one comes through
    const probe = publishTemplate(PROBE_TOPIC, 1, 0);
    const deadline = Date.now() + BRIDGE_UP_MS;
    let probeId = 0;
    while (probes === 0) {
      if (Date.now() > deadline)
        throw new Error(`the Mosquitto bridge did not forward anything within ${BRIDGE_UP_MS} ms:\n${near.log()}`);
      pub.appendPublish(probe, (probeId++ % 65535) + 1);
      pub.flush();
      await new Promise((r) => setTimeout(r, 50));
    }

    const template = publishTemplate(TOPIC, 1, Math.max(8, o.payloadBytes));
    let sent = 0;
    const started = process.hrtime.bigint();
    while (received < o.messages) {
      while (sent < o.messages && sent - received < o.window) {
        const at = pub.appendPublish(template, (sent % 65535) + 1);
        pub.out().writeUInt32BE(sent, at);
        sent++;
      }
      pub.flush();
      await new Promise<void>((resolve) => (wake = resolve));
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    return {
      messages: o.messages,
      received,
      outOfOrder,
      ms,
      messagesPerSecond: (received / ms) * 1000,
      mosquitto: mosquittoVersion(findMosquitto() ?? 'mosquitto'),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(cleanups.map((fn) => fn()));
  }
}

function parseArgs(argv: string[]): MosquittoBridgeOptions & { runs: number } {
  const o = { messages: 20_000, window: 500, payloadBytes: 64, runs: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${argv[i] ?? ''} needs a positive integer`);
    switch (argv[i]) {
      case '--messages':
        o.messages = value;
        break;
      case '--window':
        o.window = value;
        break;
      case '--payload':
        o.payloadBytes = value;
        break;
      case '--runs':
        o.runs = value;
        break;
      default:
        throw new Error(`unknown option ${argv[i] ?? ''}`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const rates: number[] = [];
  for (let run = 1; run <= o.runs; run++) {
    const r = await runMosquittoBridge(o);
    rates.push(r.messagesPerSecond);
    process.stdout.write(
      `run ${run}: mosquitto ${r.mosquitto} bridge QoS 1, ${r.received}/${r.messages} received (${r.outOfOrder} out of order) ` +
        `in ${r.ms.toFixed(0)} ms: ${r.messagesPerSecond.toFixed(0)} msg/s\n`,
    );
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  process.stdout.write(
    `median over ${o.runs} runs: ${median.toFixed(0)} msg/s (window ${o.window}, payload ${Math.max(8, o.payloadBytes)} B)\n`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
