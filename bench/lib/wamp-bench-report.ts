// bench/wamp-bench.ts's results: one record per run, the medians over runs, and the
// Markdown report (also re-rendered from a saved record with --report).
import type { RouterName } from './router-process';
import { fmtInt, fmtPct, fmtRatio, median } from './stats';
import { fmtMs, title, unit, type Options, type ScenarioName } from './wamp-bench-options';
import type { ScenarioResult } from './wamp-scenarios';

export interface Run {
  scenario: ScenarioName;
  router: RouterName;
  run: number;
  result: ScenarioResult;
  rssMiB: number;
  /** runs of this slot thrown away because others loaded the machine */
  discarded: number;
}

export interface Summary {
  rate: number;
  p50: number;
  p99: number;
  lost: number;
  outOfOrder: number;
  errors: number;
  routerCpu: number;
  generatorCpu: number;
  otherCpu: number;
  rss: number;
  runs: number;
  /** runs whose measured window the rest of the machine left alone */
  clean: number;
}

/**
 * Medians over the clean runs (others used at most maxOther % of a core meanwhile)
 * when there is any, else over all; loss is summed over every run, clean or not.
 */
export function summarize(runs: Run[], maxOther: number): Summary {
  const clean = runs.filter((x) => x.result.otherCpu <= maxOther);
  const used = clean.length > 0 ? clean : runs;
  const r = used.map((x) => x.result);
  const all = runs.map((x) => x.result);
  return {
    rate: median(r.map((x) => x.rate)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    lost: all.reduce((a, x) => a + x.lost, 0),
    outOfOrder: all.reduce((a, x) => a + x.outOfOrder, 0),
    errors: all.reduce((a, x) => a + x.errors, 0),
    routerCpu: median(r.map((x) => x.routerCpu)),
    generatorCpu: median(r.map((x) => x.generatorCpu)),
    otherCpu: median(r.map((x) => x.otherCpu)),
    rss: median(used.map((x) => x.rssMiB)),
    runs: runs.length,
    clean: clean.length,
  };
}

function foxVersion(): string {
  return (require('fox-wamp/package.json') as { version: string }).version;
}

export interface RunRecord {
  options: Options;
  runs: Run[];
  machine: string;
  command: string;
  /** sourceFingerprint() when the build was made, and after the last run */
  sources: { atBuild: string; atEnd: string };
  date: string;
}

export function report(rec: RunRecord): string {
  const { options: o, runs, machine, command } = rec;
  const lines: string[] = [];
  lines.push(`## WAMP benchmark, ${rec.date}`, '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(`Machine: ${machine}`, '');
  lines.push(
    `Gatehouse sources: sha256 ${rec.sources.atBuild} over index.ts, lib/, gates/, schemas/ when built` +
      (rec.sources.atEnd === rec.sources.atBuild
        ? ' (unchanged at the end).'
        : `; changed to ${rec.sources.atEnd} by the end (others' edits; the build measured is the first).`),
    '',
  );
  if (o.profile)
    lines.push(
      '**Profiled runs: the V8 sampling profiler was running in the routers, so rates are lower than in unprofiled runs.**',
      '',
    );
  lines.push(
    `Load: serializer ${o.serializer}; pub/sub ${o.publishers} publishers x window ${o.window} messages; ` +
      `RPC ${o.callers} callers x window ${o.rpcWindow} calls -> 1 callee; payload ${o.payload} B of padding; ` +
      `${o.warmup} s warm-up + ${o.duration} s measured per run; ${o.runs} runs, fresh router per run; ` +
      (o.pin ? 'router pinned to CPU 1, generator to CPU 0; ' : 'no CPU pinning; ') +
      `Gatehouse ${o.gatehouseRuntime === 'tsc' ? 'compiled by tsc' : 'run through tsx'}; fox-wamp ${foxVersion()}.`,
    '',
  );
  lines.push('### Medians', '');
  lines.push(
    '| Scenario | Router | Rate | p50 ms | p99 ms | Loss (all runs) | Router CPU | Generator CPU | Other CPU | Router RSS MiB | Clean runs |',
  );
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const sums = new Map<string, Summary>();
  for (const s of o.scenarios) {
    for (const r of o.routers) {
      const sum = summarize(
        runs.filter((x) => x.scenario === s && x.router === r),
        o.maxOther,
      );
      sums.set(`${s}/${r}`, sum);
      const loss =
        sum.lost === 0 && sum.outOfOrder === 0 && sum.errors === 0
          ? '0'
          : `**${fmtInt(sum.lost)}**${sum.outOfOrder ? ` (${sum.outOfOrder} out of order)` : ''}${sum.errors ? ` (${sum.errors} errors)` : ''}`;
      lines.push(
        `| ${title(s)} | ${r} | ${fmtInt(sum.rate)} ${unit(s)} | ${fmtMs(sum.p50)} | ${fmtMs(sum.p99)} | ${loss} | ` +
          `${fmtPct(sum.routerCpu)} | ${fmtPct(sum.generatorCpu)} | ${fmtPct(sum.otherCpu)} | ${sum.rss.toFixed(0)} | ${sum.clean}/${sum.runs} |`,
      );
    }
  }
  if (o.routers.includes('gatehouse') && o.routers.includes('fox-wamp')) {
    lines.push('', '### Gatehouse / fox-wamp', '');
    lines.push('| Scenario | Rate ratio (higher is better) | p50 ratio (lower is better) | p99 ratio (lower is better) |');
    lines.push('| --- | ---: | ---: | ---: |');
    for (const s of o.scenarios) {
      const g = sums.get(`${s}/gatehouse`)!;
      const f = sums.get(`${s}/fox-wamp`)!;
      lines.push(`| ${title(s)} | ${fmtRatio(g.rate / f.rate)} | ${fmtRatio(g.p50 / f.p50)} | ${fmtRatio(g.p99 / f.p99)} |`);
    }
  }
  lines.push('', '### Every run', '');
  lines.push(
    '| Scenario | Router | Run | Rate | p50 ms | p99 ms | max ms | Sent | Expected | Received | Lost | Router CPU | Gen CPU | Other CPU | RSS MiB | Redone |',
  );
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of runs) {
    const r = x.result;
    lines.push(
      `| ${title(x.scenario)} | ${x.router} | ${x.run} | ${fmtInt(r.rate)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.max)} | ` +
        `${fmtInt(r.sent)} | ${fmtInt(r.expected)} | ${fmtInt(r.received)} | ${fmtInt(r.lost)} | ${fmtPct(r.routerCpu)} | ${fmtPct(r.generatorCpu)} | ${fmtPct(r.otherCpu)} | ${x.rssMiB.toFixed(0)} | ${x.discarded} |`,
    );
  }
  lines.push('');
  lines.push(
    'Rate: deliveries per second in the measured window (pub/sub: events received by all subscribers together; RPC: results received). Latency: publish (call) to receipt, in the generator process. Loss: messages sent over the whole run times subscribers, minus those received after a drain. CPU: % of one core over the measured window; Other CPU is what processes outside the benchmark used meanwhile (a shared machine); a run where it exceeded ${o.maxOther}% of a core was thrown away and redone, up to ${o.retries} times (Redone); medians are over the clean runs (Clean runs) when there is any, loss over all runs.',
  );
  lines.push('');
  return lines.join('\n');
}
