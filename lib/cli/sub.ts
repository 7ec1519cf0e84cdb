import type { Command } from 'commander';
import {
  ApiClient,
  CliExit,
  EXIT_ROUTER,
  EXIT_USAGE,
  failure,
  plainResult,
  print,
  run,
  withClientOptions,
  type ClientFlags,
} from './http-client';

interface SubFlags extends ClientFlags {
  count?: string;
  match?: string;
}

/**
 * `gatehouse sub PATTERN [--count N] [--match prefix|wildcard]`: the API's Server-Sent
 * Events stream, one line per event (plain: the value, after the topic for a pattern;
 * --json: {id, args, kwargs, details?}).
 */
export function addSubCommand(parent: Command): void {
  withClientOptions(
    parent
      .command('sub <pattern>')
      .description('print events published to a topic or pattern until interrupted (or --count events)')
      .option('--count <n>', 'exit after this many events')
      .option('--match <policy>', 'exact (default), prefix or wildcard'),
  ).action((pattern: string, flags: SubFlags) => run(() => subscribe(pattern, flags)));
}

async function subscribe(pattern: string, flags: SubFlags): Promise<void> {
  const count = flags.count === undefined ? Infinity : Number(flags.count);
  if (!(count === Infinity || (Number.isInteger(count) && count > 0)))
    throw new CliExit(EXIT_USAGE, '--count must be a positive integer');
  const client = new ApiClient(flags);
  const q = new URLSearchParams({ topic: pattern, match: flags.match ?? 'exact' });
  const abort = new AbortController();
  const res = await client.fetch(`/subscribe?${q.toString()}`, {
    headers: { accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (res.status !== 200 || !res.body) {
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not the API's error shape: the status says it
    }
    throw failure(res.status, body);
  }
  let seen = 0;
  let buf = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (!show(block, client.json)) continue;
        if (++seen >= count) {
          abort.abort();
          return;
        }
      }
    }
  } catch (err) {
    if (abort.signal.aborted) return;
    throw new CliExit(EXIT_ROUTER, `event stream failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  throw new CliExit(EXIT_ROUTER, 'the router ended the event stream');
}

/** Prints one SSE block; false for comments (keep-alives). */
function show(block: string, json: boolean): boolean {
  let id = '';
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line.startsWith('id: ')) id = line.slice(4);
    else if (line.startsWith('data: ')) data = line.slice(6);
  }
  if (data === undefined) return false;
  const event = JSON.parse(data) as { args?: unknown; kwargs?: unknown; details?: { topic?: string } };
  if (json) print({ id, ...event });
  else {
    const value = JSON.stringify(plainResult(event.args, event.kwargs));
    print(event.details?.topic === undefined ? value : `${event.details.topic} ${value}`);
  }
  return true;
}
