// bench/stomp-bench.ts's report: runs summed up per scenario and broker, the markdown
// tables, what the numbers say, and the STOMP section of bench/RESULTS.md.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fmtInt, fmtPct, fmtRatio, fmtUs, median } from './stats';
import type { GatehouseStats, StompBrokerName } from './stomp-broker-process';
import type { LoadResult } from './stomp-scenarios';
import { sourceFingerprint } from './source-fingerprint';
import { fmtMs, isQueue, title, type Options, type ScenarioName } from './stomp-bench-options';

export interface Run {
  scenario: ScenarioName;
  broker: StompBrokerName;
  run: number;
  result: LoadResult;
  rssEndMiB: number;
  rssPeakMiB: number;
  startupMs: number;
  diskMiB: number;
  /** Gatehouse only: store commits and event-loop delay in the measured window */
  stats: GatehouseStats | undefined;
  /** runs of this slot thrown away because others loaded the machine */
  discarded: number;
}

export interface Summary {
  rate: number;
  p50: number;
  p99: number;
  sent: number;
  lost: number;
  duplicates: number;
  redelivered: number;
  outOfOrder: number;
  stalls: number;
  unreceipted: number;
  errors: number;
  firstError: string | undefined;
  brokerCpu: number;
  brokerUs: number;
  generatorCpu: number;
  otherCpu: number;
  rssEnd: number;
  rssPeak: number;
  startupS: number;
  runs: number;
}

/** Broker CPU time per message received in the measured window, µs. */
export function usPerMessage(r: LoadResult): number {
  return r.rate > 0 ? (r.brokerCpu * 1e4) / r.rate : NaN;
}

export function summarize(runs: Run[]): Summary {
  const r = runs.map((x) => x.result);
  const sum = (f: (x: LoadResult) => number): number => r.reduce((a, x) => a + f(x), 0);
  return {
    rate: median(r.map((x) => x.rate)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    sent: sum((x) => x.sent),
    lost: sum((x) => x.lost),
    duplicates: sum((x) => x.duplicates),
    redelivered: sum((x) => x.redelivered),
    outOfOrder: sum((x) => x.outOfOrder),
    stalls: sum((x) => x.stalls),
    unreceipted: sum((x) => x.unreceipted),
    errors: sum((x) => x.errors),
    firstError: r.map((x) => x.firstError).find((e) => e !== undefined),
    brokerCpu: median(r.map((x) => x.brokerCpu)),
    brokerUs: median(r.map((x) => usPerMessage(x))),
    generatorCpu: median(r.map((x) => x.generatorCpu)),
    otherCpu: median(r.map((x) => x.otherCpu)),
    rssEnd: median(runs.map((x) => x.rssEndMiB)),
    rssPeak: median(runs.map((x) => Math.max(x.rssPeakMiB, x.result.sampledPeakRssMiB))),
    startupS: median(runs.map((x) => x.startupMs / 1000)),
    runs: runs.length,
  };
}

export function lossCell(s: Summary): string {
  const parts: string[] = [];
  parts.push(s.lost === 0 ? '0' : `**${fmtInt(s.lost)}** of ${fmtInt(s.sent)}`);
  if (s.duplicates) parts.push(`${fmtInt(s.duplicates)} dup`);
  if (s.outOfOrder) parts.push(`${fmtInt(s.outOfOrder)} reordered`);
  if (s.stalls) parts.push(`${s.stalls} stalls`);
  if (s.unreceipted) parts.push(`${fmtInt(s.unreceipted)} without receipt`);
  if (s.errors) parts.push(`${s.errors} errors`);
  return parts.join(', ');
}

/** What the numbers say, in sentences: ratios, what bounded each side, caveats the data raises. */
export function interpret(o: Options, sums: Map<string, Summary>, rabbitNote: string | undefined): string[] {
  const out: string[] = [];
  const g = (s: ScenarioName): Summary | undefined => sums.get(`${s}/gatehouse`);
  const r = (s: ScenarioName): Summary | undefined => sums.get(`${s}/rabbitmq`);
  if (rabbitNote) out.push(`RabbitMQ is not in this comparison: ${rabbitNote}. The figures below are Gatehouse's alone.`);
  for (const s of o.scenarios) {
    const gs = g(s);
    const rs = r(s);
    const name = title(o, s);
    if (gs && rs) {
      if (s === 'topic' || s === 'queue') {
        out.push(
          `${name}: Gatehouse ${fmtInt(gs.rate)} msg/s vs RabbitMQ ${fmtInt(rs.rate)} msg/s (${fmtRatio(gs.rate / rs.rate)}); ` +
            `broker CPU per message ${fmtUs(gs.brokerUs)} µs vs ${fmtUs(rs.brokerUs)} µs (${fmtRatio(gs.brokerUs / rs.brokerUs)}); ` +
            `broker core use ${fmtPct(gs.brokerCpu)} vs ${fmtPct(rs.brokerCpu)}.`,
        );
      } else {
        out.push(
          `${name}: p50 ${fmtMs(gs.p50)} ms vs ${fmtMs(rs.p50)} ms, p99 ${fmtMs(gs.p99)} ms vs ${fmtMs(rs.p99)} ms (Gatehouse vs RabbitMQ); ` +
            `broker CPU per message ${fmtUs(gs.brokerUs)} µs vs ${fmtUs(rs.brokerUs)} µs.`,
        );
      }
    } else if (gs) {
      out.push(
        s === 'topic' || s === 'queue'
          ? `${name}: Gatehouse ${fmtInt(gs.rate)} msg/s at ${fmtPct(gs.brokerCpu)} of its core, ${fmtUs(gs.brokerUs)} µs broker CPU per message.`
          : `${name}: Gatehouse p50 ${fmtMs(gs.p50)} ms, p99 ${fmtMs(gs.p99)} ms.`,
      );
    }
    for (const [b, x] of [
      ['Gatehouse', gs],
      ['RabbitMQ', rs],
    ] as const) {
      if (!x) continue;
      if ((s === 'topic' || s === 'queue') && x.generatorCpu >= 90)
        out.push(
          `Caveat (${name}, ${b}): the load generator used ${fmtPct(x.generatorCpu)} of its core, so it may have been the limit; the broker's rate is a lower bound.`,
        );
      if ((s === 'topic' || s === 'queue') && x.brokerCpu < 70 && x.generatorCpu < 90)
        out.push(
          `${name}, ${b}: neither the broker (${fmtPct(x.brokerCpu)} of its core) nor the generator (${fmtPct(x.generatorCpu)}) was CPU-bound: ` +
            (isQueue(s)
              ? 'the rate is set by waiting, on the disk (durable commits) or on the windows.'
              : 'the rate is set by the windows and round trips.'),
        );
      if ((s === 'topic-lat' || s === 'queue-lat') && x.brokerCpu >= 80)
        out.push(
          `${name}, ${b}: the broker's core was ${fmtPct(x.brokerCpu)} busy at this rate, close to its capacity, so its latency includes queueing; ` +
            'at a lower rate it would be lower.',
        );
      if (x.lost > 0 || x.unreceipted > 0 || x.errors > 0)
        out.push(`**${name}, ${b}: ${lossCell(x)}${x.firstError ? ` (first ERROR: ${x.firstError})` : ''}.**`);
    }
  }
  for (const s of ['queue', 'queue-lat'] as const) {
    for (const [b, x] of [
      ['Gatehouse', g(s)],
      ['RabbitMQ', r(s)],
    ] as const) {
      if (x && x.lost === 0 && x.unreceipted === 0)
        out.push(
          `${title(o, s)}, ${b}: zero loss (${fmtInt(x.sent)} messages over ${x.runs} runs, every one received and receipted).`,
        );
    }
  }
  return out;
}

export function report(
  o: Options,
  runs: Run[],
  machine: string,
  command: string,
  versions: string,
  rabbitNote: string | undefined,
): { md: string; section: string } {
  const L: string[] = [];
  const S: string[] = [];
  const both = (...lines: string[]): void => {
    L.push(...lines);
    S.push(...lines);
  };
  L.push(`## STOMP benchmark, ${new Date().toISOString()}`, '');
  S.push(
    '## STOMP',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`bench/stomp-bench.ts\` (this section is rewritten by each full run of it).`,
    '',
  );
  both(`Command: \`${command}\``, '');
  both(`Machine: ${machine}`, '');
  both(`Brokers: ${versions}`, '');
  if (rabbitNote) both(`**RabbitMQ absent from this comparison: ${rabbitNote}.**`, '');
  both(`Gatehouse sources: sha256 ${sourceFingerprint()} over index.ts, lib/, gates/, schemas/`, '');
  if (o.profile || o.cpuProf)
    both('**Profiled runs: the V8 sampling profiler was running in Gatehouse, so its numbers are lower than unprofiled.**', '');
  both(
    `Load: STOMP 1.2, ${o.producers} producers and ${o.consumers} consumers on their own connections, ${o.body}-byte bodies; ` +
      `topic: producer i -> /topic/bench.p<i> -> consumer i (ack auto), closed loop ${o.window} in flight per producer, open loop ${fmtInt(o.rate)} msg/s in total; ` +
      `queue: all producers -> /queue/bench (persistent:true, receipt on every SEND, at most ${o.queueWindow} unreceipted and ${fmtInt(o.backlog)} unreceived per producer) -> ` +
      `consumers with ack client-individual, prefetch-count ${o.prefetch}, an ACK per message; open loop ${fmtInt(o.queueRate)} msg/s in total; ` +
      `Gatehouse store: SQLite file in ${tmpdir()} (ext4 on the same disk), synchronous ${o.sync}; RabbitMQ: durable classic queue, data in ${tmpdir()}; ` +
      `${o.warmup} s warm-up + ${o.duration} s measured; ${o.runs} runs, fresh broker per run; ` +
      (o.pin ? 'broker pinned to CPU 1, generator to CPU 0.' : 'no CPU pinning.'),
    '',
  );
  both(`### Medians of ${o.runs} runs`, '');
  both(
    '| Scenario | Broker | Msgs/s | p50 ms | p99 ms | Loss etc. (all runs) | Broker CPU | Broker µs/msg | Generator CPU | Other CPU | RSS end MiB | RSS peak MiB |',
  );
  both('| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const sums = new Map<string, Summary>();
  for (const s of o.scenarios) {
    for (const b of o.brokers) {
      const mine = runs.filter((x) => x.scenario === s && x.broker === b);
      if (mine.length === 0) continue;
      const sum = summarize(mine);
      sums.set(`${s}/${b}`, sum);
      both(
        `| ${title(o, s)} | ${b} | ${fmtInt(sum.rate)} | ${fmtMs(sum.p50)} | ${fmtMs(sum.p99)} | ${lossCell(sum)} | ` +
          `${fmtPct(sum.brokerCpu)} | ${fmtUs(sum.brokerUs)} | ${fmtPct(sum.generatorCpu)} | ${fmtPct(sum.otherCpu)} | ${sum.rssEnd.toFixed(0)} | ${sum.rssPeak.toFixed(0)} |`,
      );
    }
  }
  both(
    '',
    'Msgs/s: unique messages received by all consumers together per second of the measured window. ' +
      'Latency: SEND (stamp written into the body when the generator queues the frame) to MESSAGE read by the consumer, in the generator process; ' +
      'closed-loop latencies are queueing under saturation (they follow from the windows), open-loop ones are the latency figures. ' +
      'Loss: messages sent over the whole run minus unique ones received after a drain (3 s without progress). ' +
      'Stalls: topic windows written off after 500 ms without progress. Without receipt: queue SENDs never confirmed. ' +
      `CPU: % of one core in the measured window (RabbitMQ: all its processes); broker µs/msg is broker CPU time per message received, its cost per message, less sensitive to a shared machine than rates; Other CPU is what processes outside the benchmark used meanwhile (redone above ${o.maxOther}%). ` +
      "RSS end: after the clients disconnected; RSS peak: the kernel's high-water mark (VmHWM) of the broker's processes, fresh for each run.",
    '',
  );
  const gRuns = runs.filter((x) => x.broker === 'gatehouse' && x.stats);
  if (gRuns.length > 0) {
    both('### Gatehouse inside (medians)', '');
    both('| Scenario | Store commits/s | Msgs per commit | Event-loop delay p50 ms | p99 ms | max ms |');
    both('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const s of o.scenarios) {
      const mine = gRuns.filter((x) => x.scenario === s);
      if (mine.length === 0) continue;
      const st = (f: (x: GatehouseStats, r: LoadResult) => number): number => median(mine.map((x) => f(x.stats!, x.result)));
      const cps = st((x) => x.commits / x.seconds);
      both(
        `| ${title(o, s)} | ${fmtInt(cps)} | ${cps > 0 ? st((x, r) => r.rate / (x.commits / x.seconds)).toFixed(1) : '-'} | ` +
          `${fmtMs(st((x) => x.loopDelayP50Ms))} | ${fmtMs(st((x) => x.loopDelayP99Ms))} | ${fmtMs(st((x) => x.loopDelayMaxMs))} |`,
      );
    }
    both(
      '',
      'Store commits: SQLite transactions of the group commit in the measured window (with synchronous full, one fsync each; they run on the event loop). ' +
        'Event-loop delay: how late a 10 ms timer fired (perf_hooks.monitorEventLoopDelay), i.e. how long the loop was held by synchronous work.',
      '',
    );
  }
  const notes = interpret(o, sums, rabbitNote);
  if (notes.length > 0) both('### What the numbers say', '', ...notes.map((n) => `- ${n}`), '');
  both(
    'Semantics compared: a Gatehouse queue RECEIPT follows the SQLite commit of the message (group commit: one transaction, one fsync per event-loop turn); ' +
      'a RabbitMQ RECEIPT is its publisher confirm, sent once a persistent message is written to disk or already delivered and acknowledged ' +
      '(RabbitMQ batches its fsyncs and may skip writing messages consumed before the write). ' +
      'Both brokers may deliver a queue message before its RECEIPT. Topic messages are not persisted by either.',
    '',
  );
  if (o.pin && sums.has(`${o.scenarios[0]!}/rabbitmq`)) {
    both(
      'What one core means: each broker had one core, the fair split of a 2-core machine whose other core drives the load. ' +
        'That is all a Gatehouse process can use anyway (one event loop; its store commits run on it too), ' +
        "whereas RabbitMQ's Erlang VM runs a scheduler per core and spreads connections, channels and queues over them: " +
        'on a bigger machine its throughput grows with cores and Gatehouse per process does not, so the throughput ratios here hold per core, not per machine. ' +
        "Broker µs/msg is the per-core cost either way. RabbitMQ ran with Debian's defaults (classic queues, its 3.10 message store), untuned.",
      '',
    );
  }
  L.push('### Every run', '');
  L.push(
    '| Scenario | Broker | Run | Msgs/s | Sends/s | p50 ms | p99 ms | p99.9 ms | max ms | Sent | Received | Lost | Dup | Redelivered | Unreceipted | Errors | Broker CPU | µs/msg | Gen CPU | Other CPU | RSS end | RSS peak | Disk MiB | Start s | Commits/s | Loop max ms | Redone |',
  );
  L.push(`|${' --- |'.repeat(2)}${' ---: |'.repeat(25)}`);
  for (const x of runs) {
    const r = x.result;
    L.push(
      `| ${title(o, x.scenario)} | ${x.broker} | ${x.run} | ${fmtInt(r.rate)} | ${fmtInt(r.sendRate)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.p999)} | ${fmtMs(r.max)} | ` +
        `${fmtInt(r.sent)} | ${fmtInt(r.received)} | ${fmtInt(r.lost)} | ${fmtInt(r.duplicates)} | ${fmtInt(r.redelivered)} | ${fmtInt(r.unreceipted)} | ${r.errors} | ` +
        `${fmtPct(r.brokerCpu)} | ${fmtUs(usPerMessage(r))} | ${fmtPct(r.generatorCpu)} | ${fmtPct(r.otherCpu)} | ${x.rssEndMiB.toFixed(0)} | ${Math.max(x.rssPeakMiB, r.sampledPeakRssMiB).toFixed(0)} | ${x.diskMiB.toFixed(1)} | ${(x.startupMs / 1000).toFixed(1)} | ` +
        `${x.stats ? fmtInt(x.stats.commits / x.stats.seconds) : '-'} | ${x.stats ? fmtMs(x.stats.loopDelayMaxMs) : '-'} | ${x.discarded} |`,
    );
  }
  L.push('');
  S.push(`Every run's numbers: bench/out/stomp-<time>.md and .json.`, '');
  return { md: L.join('\n'), section: S.join('\n') };
}

/**
 * Writes `section` (starting with "## STOMP") into bench/RESULTS.md: in place of the
 * STOMP section this script wrote before, else appended. The file is read right before
 * writing and everything else in it is kept as it is.
 */
export function writeResultsSection(file: string, section: string): void {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const body = section.trimEnd() + '\n';
  let after: string;
  const lines = before.split('\n');
  const start = lines.findIndex((l) => l.trim() === '## STOMP');
  if (start >= 0) {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end < 0) end = lines.length;
    const head = lines.slice(0, start).join('\n');
    const tail = lines.slice(end).join('\n');
    after = (head ? head.replace(/\n*$/, '\n\n') : '') + body + (tail ? '\n' + tail : '');
  } else if (before.trim() === '') {
    after = '# Benchmark results\n\n' + body;
  } else {
    after = before.replace(/\n*$/, '\n\n') + body;
  }
  const tmp = `${file}.stomp-${process.pid}.tmp`;
  writeFileSync(tmp, after);
  renameSync(tmp, file);
}
