// bench/mqtt-bench.ts's report: runs summed up per scenario and broker, the targets
// met or missed, and the markdown tables.
import type { BrokerName } from './mqtt-broker-process';
import type { LoadResult } from './mqtt-scenarios';
import { fmtInt, fmtPct, fmtRatio, fmtUs, median } from './stats';
import { sourceFingerprint } from './source-fingerprint';
import { title, type Options, type ScenarioName } from './mqtt-bench-options';

export interface Run {
  scenario: ScenarioName;
  broker: BrokerName;
  run: number;
  result: LoadResult;
  /** broker RSS after the clients disconnected, and its peak (VmHWM), MiB */
  rssEndMiB: number;
  rssPeakMiB: number;
  /** runs of this slot thrown away because others loaded the machine */
  discarded: number;
}

export const fmtMs = (n: number): string => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(3) : n.toFixed(1));

export interface Summary {
  rate: number;
  p50: number;
  p99: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  stalls: number;
  unacked: number;
  errors: number;
  lossPct: number;
  brokerCpu: number;
  /** broker CPU microseconds per delivery: its efficiency, less sensitive to a shared machine than rates */
  brokerUs: number;
  generatorCpu: number;
  otherCpu: number;
  rssEnd: number;
  rssPeak: number;
  runs: number;
  /** runs with Other CPU within --max-other: the medians are over these when any */
  cleanRuns: number;
}

/**
 * Medians over the runs whose measured window others left alone (Other CPU at most
 * maxOther), when there is any: a run that stayed contended after its retries says
 * more about the neighbours than about the broker. Loss counts use every run.
 */
export function summarize(all: Run[], maxOther: number): Summary {
  const clean = all.filter((x) => x.result.otherCpu <= maxOther);
  const runs = clean.length > 0 ? clean : all;
  const r = runs.map((x) => x.result);
  const every = all.map((x) => x.result);
  const sum = (f: (x: LoadResult) => number): number => every.reduce((a, x) => a + f(x), 0);
  const expected = sum((x) => x.expected);
  return {
    rate: median(r.map((x) => x.rate)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    lost: sum((x) => x.lost),
    duplicates: sum((x) => x.duplicates),
    outOfOrder: sum((x) => x.outOfOrder),
    stalls: sum((x) => x.stalls),
    unacked: sum((x) => x.unacked),
    errors: sum((x) => x.errors),
    lossPct: expected > 0 ? (100 * sum((x) => x.lost)) / expected : NaN,
    brokerCpu: median(r.map((x) => x.brokerCpu)),
    brokerUs: median(r.map((x) => usPerDelivery(x))),
    generatorCpu: median(r.map((x) => x.generatorCpu)),
    otherCpu: median(r.map((x) => x.otherCpu)),
    rssEnd: median(runs.map((x) => x.rssEndMiB)),
    rssPeak: median(runs.map((x) => Math.max(x.rssPeakMiB, x.result.sampledPeakRssMiB))),
    runs: all.length,
    cleanRuns: clean.length,
  };
}

/** Broker CPU time per delivery in the measured window, µs. */
export function usPerDelivery(r: LoadResult): number {
  return r.rate > 0 ? (r.brokerCpu * 1e4) / r.rate : NaN;
}

export function lossCell(s: Summary): string {
  const parts: string[] = [];
  parts.push(
    s.lost === 0 ? '0' : `**${fmtInt(s.lost)}** (${s.lossPct < 0.01 ? s.lossPct.toExponential(1) : s.lossPct.toFixed(2)}%)`,
  );
  if (s.duplicates) parts.push(`${fmtInt(s.duplicates)} dup`);
  if (s.outOfOrder) parts.push(`${fmtInt(s.outOfOrder)} reordered`);
  if (s.stalls) parts.push(`${s.stalls} stalls`);
  if (s.unacked) parts.push(`${fmtInt(s.unacked)} unacked`);
  if (s.errors) parts.push(`${s.errors} errors`);
  return parts.join(', ');
}

export function report(
  o: Options,
  runs: Run[],
  machine: string,
  command: string,
  versions: string,
): { md: string; targets: string[] } {
  const L: string[] = [];
  L.push(`## MQTT benchmark, ${new Date().toISOString()}`, '');
  L.push(`Command: \`${command}\``, '');
  L.push(`Machine: ${machine}`, '');
  L.push(`Brokers: ${versions}`, '');
  L.push(`Gatehouse sources: sha256 ${sourceFingerprint()} over index.ts, lib/, gates/, schemas/`, '');
  if (o.profile)
    L.push(
      '**Profiled runs: the V8 sampling profiler was running in the node brokers, so their numbers are lower than unprofiled.**',
      '',
    );
  L.push(
    `Load: MQTT 3.1.1, ${o.publishers} publishers -> ${o.subscribers} subscribers, ` +
      (o.topology === 'pair' ? 'one topic per publisher/subscriber pair' : `one shared topic (fan-out ${o.subscribers})`) +
      `, ${o.payload}-byte payloads; closed loop: QoS 0 window ${o.window}/publisher, QoS 1 ${o.qos1Window} unacked/publisher ` +
      `(and at most ${o.deliveryCap} routed-but-undelivered per subscriber); open loop ${fmtInt(o.rate)} msg/s in total; ` +
      `${o.warmup} s warm-up + ${o.duration} s measured; ${o.runs} runs, fresh broker per run; ` +
      `TCP_NODELAY: Gatehouse on (its own), Aedes ${o.aedesNoDelay ? 'on' : 'off (as served by its README)'}, Mosquitto ${o.mosquittoNoDelay ? 'on' : 'off (its default)'}; ` +
      (o.pin ? 'broker pinned to CPU 1, generator to CPU 0.' : 'no CPU pinning.'),
    '',
  );
  L.push('### Medians', '');
  L.push(
    `Medians over the runs whose Other CPU stayed within ${o.maxOther}% of a core ("Clean runs"; all runs when none did). Loss: all runs.`,
    '',
  );
  L.push(
    '| Scenario | Broker | Clean runs | Deliveries/s | p50 ms | p99 ms | Loss (all runs) | Broker CPU | Broker µs/delivery | Generator CPU | Other CPU | RSS end MiB | RSS peak MiB |',
  );
  L.push('| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const sums = new Map<string, Summary>();
  for (const s of o.scenarios) {
    for (const b of o.brokers) {
      const mine = runs.filter((x) => x.scenario === s && x.broker === b);
      if (mine.length === 0) continue;
      const sum = summarize(mine, o.maxOther);
      sums.set(`${s}/${b}`, sum);
      L.push(
        `| ${title(o, s)} | ${b} | ${sum.cleanRuns}/${sum.runs} | ${fmtInt(sum.rate)} | ${fmtMs(sum.p50)} | ${fmtMs(sum.p99)} | ${lossCell(sum)} | ` +
          `${fmtPct(sum.brokerCpu)} | ${fmtUs(sum.brokerUs)} | ${fmtPct(sum.generatorCpu)} | ${fmtPct(sum.otherCpu)} | ${sum.rssEnd.toFixed(0)} | ${sum.rssPeak.toFixed(0)} |`,
      );
    }
  }
  const targets: string[] = [];
  if (o.brokers.includes('gatehouse') && o.brokers.length > 1) {
    const others = o.brokers.filter((b) => b !== 'gatehouse');
    L.push('', '### Gatehouse relative to the others', '');
    L.push(
      `| Scenario | ${others.map((b) => `Rate vs ${b}`).join(' | ')} | ${others.map((b) => `CPU/delivery vs ${b}`).join(' | ')} | ${others.map((b) => `p99 vs ${b}`).join(' | ')} | ${others.map((b) => `Peak RSS vs ${b}`).join(' | ')} |`,
    );
    L.push(`| --- |${' ---: |'.repeat(others.length * 4)}`);
    for (const s of o.scenarios) {
      const g = sums.get(`${s}/gatehouse`);
      if (!g) continue;
      const cells = (f: (x: Summary) => number): string[] =>
        others.map((b) => {
          const x = sums.get(`${s}/${b}`);
          return x ? fmtRatio(f(g) / f(x)) : '-';
        });
      L.push(
        `| ${title(o, s)} | ${cells((x) => x.rate).join(' | ')} | ${cells((x) => x.brokerUs).join(' | ')} | ${cells((x) => x.p99).join(' | ')} | ${cells((x) => x.rssPeak).join(' | ')} |`,
      );
    }
    L.push('', 'Rate: higher is better. CPU per delivery, p99 and RSS: lower is better.', '');
    // the product owner's targets
    const check = (ok: boolean, text: string): void => {
      targets.push(`${ok ? 'MET' : 'MISSED'}: ${text}`);
    };
    for (const s of ['qos0', 'qos1'] as const) {
      const g = sums.get(`${s}/gatehouse`);
      const a = sums.get(`${s}/aedes`);
      const m = sums.get(`${s}/mosquitto`);
      if (g && a) check(g.rate >= 1.5 * a.rate, `${title(o, s)} throughput >= 1.5x Aedes (${fmtRatio(g.rate / a.rate)})`);
      if (g && m) check(g.rate >= m.rate, `${title(o, s)} throughput >= Mosquitto (${fmtRatio(g.rate / m.rate)})`);
    }
    for (const s of ['lat0', 'lat1'] as const) {
      const g = sums.get(`${s}/gatehouse`);
      const m = sums.get(`${s}/mosquitto`);
      if (g && m) check(g.p99 <= m.p99, `${title(o, s)} p99 no worse than Mosquitto (${fmtMs(g.p99)} vs ${fmtMs(m.p99)} ms)`);
    }
    for (const s of ['qos1', 'lat1'] as const) {
      const g = sums.get(`${s}/gatehouse`);
      if (g)
        check(
          g.lost === 0 && g.unacked === 0,
          `${title(o, s)} zero loss (lost ${fmtInt(g.lost)}, unacked ${fmtInt(g.unacked)} over ${g.runs} runs)`,
        );
    }
    if (targets.length > 0) L.push('### Targets', '', ...targets.map((t) => `- ${t}`), '');
  }
  L.push('### Every run', '');
  L.push(
    '| Scenario | Broker | Run | Deliveries/s | Publishes/s | p50 ms | p99 ms | p99.9 ms | max ms | Sent | Expected | Received | Lost | Dup | Stalls | Broker CPU | µs/delivery | Gen CPU | Other CPU | RSS end | RSS peak | Redone |',
  );
  L.push(`|${' --- |'.repeat(2)}${' ---: |'.repeat(20)}`);
  for (const x of runs) {
    const r = x.result;
    L.push(
      `| ${title(o, x.scenario)} | ${x.broker} | ${x.run} | ${fmtInt(r.rate)} | ${fmtInt(r.publishRate)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.p999)} | ${fmtMs(r.max)} | ` +
        `${fmtInt(r.sent)} | ${fmtInt(r.expected)} | ${fmtInt(r.received)} | ${fmtInt(r.lost)} | ${fmtInt(r.duplicates)} | ${r.stalls} | ` +
        `${fmtPct(r.brokerCpu)} | ${fmtUs(usPerDelivery(r))} | ${fmtPct(r.generatorCpu)} | ${fmtPct(r.otherCpu)} | ${x.rssEndMiB.toFixed(0)} | ${Math.max(x.rssPeakMiB, r.sampledPeakRssMiB).toFixed(0)} | ${x.discarded} |`,
    );
  }
  L.push('');
  L.push(
    'Deliveries/s: unique messages received by all subscribers together per second of the measured window. ' +
      'Latency: publish (stamp written into the payload when the generator queues the PUBLISH) to receipt by the subscriber, in the generator process; ' +
      'closed-loop latencies are queueing under saturation, open-loop ones are the latency figures. ' +
      'Loss: messages published over the whole run (times subscribers of each) minus unique ones received after a drain (2 s without progress). ' +
      'Stalls: QoS 0 windows written off after 500 ms without progress. Unacked: QoS 1 publications the broker never PUBACKed. ' +
      `CPU: % of one core in the measured window; broker µs/delivery is broker CPU time over deliveries, the cost of one message in the broker; Other CPU is what processes outside the benchmark used meanwhile (redone above ${o.maxOther}%). ` +
      "RSS end: after the clients disconnected; RSS peak: the kernel's high-water mark (VmHWM) for the broker process, which was fresh for this run.",
  );
  L.push('');
  return { md: L.join('\n'), targets };
}
