/**
 * What the MQTT benchmark's load generator costs per message: the lean client
 * (bench/lib/mqtt-lean-client.ts) against mqtt.js, same broker, same open-loop load.
 * The answer decides whether a generator can saturate a broker on the other core.
 *
 *   npx tsx bench/mqtt-generator-cost.ts [--broker mosquitto] [--rate 20000] [--duration 5] [--qos 0|1]
 *
 * 4 publishers -> 4 subscribers, one topic per pair, 64-byte payloads. The broker runs
 * in its own process on CPU 1, the generator here on CPU 0. Reported: deliveries/s and
 * the generator's CPU per delivery (user + system, so it includes the syscalls).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { BrokerProcess, buildGatehouseForMqtt, findMosquitto, type BrokerName } from './lib/mqtt-broker-process';
import { runLoad } from './lib/mqtt-scenarios';
import { hasTaskset, machineBusySeconds, pinSelf } from './lib/router-process';

interface Measured {
  rate: number;
  cpuPct: number;
  usPerMsg: number;
  lost: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** The same open loop as mqtt-scenarios.ts, through mqtt.js clients. */
async function runMqttJs(port: number, rate: number, qos: 0 | 1, warmupMs: number, durationMs: number): Promise<Measured> {
  const P = 4;
  const url = `mqtt://127.0.0.1:${port}`;
  const opts = { protocolVersion: 4 as const, clean: true, reconnectPeriod: 0, keepalive: 60 };
  const subs = await Promise.all(
    Array.from({ length: P }, (_x, i) => mqtt.connectAsync(url, { ...opts, clientId: `gc-s${i}-${Date.now()}` })),
  );
  const pubs = await Promise.all(
    Array.from({ length: P }, (_x, i) => mqtt.connectAsync(url, { ...opts, clientId: `gc-p${i}-${Date.now()}` })),
  );
  let received = 0;
  for (let i = 0; i < P; i++) {
    subs[i]!.on('message', () => {
      received++;
    });
    await subs[i]!.subscribeAsync(`bench/p${i}`, { qos });
  }
  await sleep(50);
  const payload = Buffer.alloc(64, 0x78);
  let sent = 0;
  const t0 = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      const i = sent % P;
      pubs[i]!.publish(`bench/p${i}`, payload, { qos });
      sent++;
    }
  }, 1);
  await sleep(warmupMs);
  const a = performance.now();
  const r0 = received;
  const c0 = cpuNow();
  await sleep(durationMs);
  const secs = (performance.now() - a) / 1000;
  const delivered = received - r0;
  const cpu = cpuNow() - c0;
  clearInterval(timer);
  const deadline = Date.now() + 5000;
  while (received < sent && Date.now() < deadline) await sleep(10);
  await Promise.all([...subs, ...pubs].map((c) => c.endAsync()));
  return { rate: delivered / secs, cpuPct: (100 * cpu) / secs, usPerMsg: (cpu * 1e6) / delivered, lost: sent - received };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, def: string): string => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
  };
  const broker = opt('--broker', 'mosquitto') as BrokerName;
  const rate = Number(opt('--rate', '20000'));
  const duration = Number(opt('--duration', '5')) * 1000;
  const qos = Number(opt('--qos', '0')) === 1 ? 1 : 0;
  const mosquittoPath = findMosquitto() ?? '';
  if (broker === 'mosquitto' && !mosquittoPath) throw new Error('mosquitto not found: run bash bench/setup.sh');
  const entry = broker === 'gatehouse' ? buildGatehouseForMqtt() : undefined;
  const pin = hasTaskset() && pinSelf(0);
  const spawnOpts = {
    cpu: pin ? 1 : undefined,
    gatehouseRuntime: 'tsc' as const,
    mosquittoPath,
    workDir: join(__dirname, 'out', 'mqtt-work'),
    mosquittoNoDelay: false,
    aedesNoDelay: false,
  };
  const lines: string[] = [`Generator cost, ${broker}, QoS ${qos}, open loop ${rate} msg/s, 4 -> 4 pairs, 64 B:`];
  for (const kind of ['lean', 'mqtt.js'] as const) {
    const proc = await BrokerProcess.start(broker, spawnOpts, entry);
    try {
      let m: Measured;
      if (kind === 'lean') {
        const r = await runLoad(
          {
            port: proc.port,
            publishers: 4,
            subscribers: 4,
            topology: 'pair',
            payloadBytes: 64,
            qos,
            mode: { kind: 'open', rate },
            stallMs: 500,
            tag: `gc-${Date.now()}`,
          },
          { warmupMs: 1000, durationMs: duration, drainIdleMs: 2000 },
          { brokerCpuSeconds: () => proc.cpuSeconds(), machineCpuSeconds: machineBusySeconds, brokerRssMiB: () => proc.rssMiB() },
        );
        m = { rate: r.rate, cpuPct: r.generatorCpu, usPerMsg: (r.generatorCpu * 1e4) / r.rate, lost: r.lost };
      } else {
        m = await runMqttJs(proc.port, rate, qos, 1000, duration);
      }
      lines.push(
        `  ${kind.padEnd(8)} ${Math.round(m.rate)} deliveries/s, generator CPU ${m.cpuPct.toFixed(0)}% of a core = ${m.usPerMsg.toFixed(2)} µs per delivery (publish + receive${qos ? ' + acks' : ''}), lost ${m.lost}`,
      );
    } finally {
      await proc.stop();
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
