import type { Command } from 'commander';
import {
  ApiClient,
  CliExit,
  EXIT_USAGE,
  jsonOrText,
  plainResult,
  print,
  run,
  withClientOptions,
  type ClientFlags,
} from './http-client';

interface SubmitFlags extends ClientFlags {
  to?: string;
  expiresIn?: string;
  retries?: string;
  wait?: string;
}

/**
 * `gatehouse request submit|get`: durable requests (README "Durable requests"). Plain
 * output: submit prints the id (with --wait, the outcomes instead); get prints one line
 * per outcome, `destination: result` or `destination: ! error-uri message`, and a last
 * line `pending` while destinations have not answered.
 */
export function addRequestCommand(parent: Command): void {
  const request = parent.command('request').description('durable requests: one outcome from each destination callee');

  withClientOptions(
    request
      .command('submit <procedure> [args...]')
      .description('store a request for the destinations (each argument: JSON, else a string); prints its id')
      .requiredOption('--to <authids>', 'comma-separated callee authids, or "all" (the callees registered now)')
      .option('--expires-in <seconds>', 'destinations that have not answered by then get gatehouse.error.expired')
      .option('--retries <n>', 'how often a destination is tried again when its callee goes away mid-call')
      .option('--wait <seconds>', 'then wait up to this long for the outcomes and print them'),
  ).action((procedure: string, args: string[], flags: SubmitFlags) =>
    run(async () => {
      const client = new ApiClient(flags);
      const to = flags.to ?? '';
      const body: Record<string, unknown> = {
        procedure,
        args: args.map(jsonOrText),
        destinations: to === 'all' ? 'all' : to.split(',').filter((s) => s !== ''),
      };
      if (flags.expiresIn !== undefined) body['expires_in'] = seconds(flags.expiresIn, '--expires-in');
      if (flags.retries !== undefined) body['retries'] = seconds(flags.retries, '--retries');
      const { id } = await client.request('POST', '/requests', body);
      if (flags.wait === undefined) {
        print(client.json ? { id } : String(id));
        return;
      }
      await showRequest(client, String(id), seconds(flags.wait, '--wait'));
    }),
  );

  withClientOptions(
    request
      .command('get <id>')
      .description('print the outcomes so far (exit 3 when there is no such request)')
      .option('--wait <seconds>', 'wait up to this long for every destination to answer'),
  ).action((id: string, flags: ClientFlags & { wait?: string }) =>
    run(async () => {
      const client = new ApiClient(flags);
      await showRequest(client, id, flags.wait === undefined ? 0 : seconds(flags.wait, '--wait'));
    }),
  );
}

async function showRequest(client: ApiClient, id: string, wait: number): Promise<void> {
  const status = await client.request('GET', `/requests/${encodeURIComponent(id)}${wait > 0 ? `?wait=${wait}` : ''}`);
  if (client.json) {
    print(status);
    return;
  }
  const replies = Array.isArray(status['replies']) ? (status['replies'] as Record<string, unknown>[]) : [];
  for (const r of replies) {
    const dest = String(r['destination']);
    if (typeof r['error'] === 'string') {
      const args = Array.isArray(r['args']) ? r['args'] : [];
      print(
        `${dest}: ! ${r['error']}${args.length > 0 ? ` ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}` : ''}`,
      );
    } else {
      const v = plainResult(r['args'], r['kwargs']);
      print(`${dest}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    }
  }
  if (status['status'] !== 'done') print('pending');
}

function seconds(text: string, flag: string): number {
  const n = Number(text);
  if (text === '' || !Number.isFinite(n) || n < 0) throw new CliExit(EXIT_USAGE, `${flag} takes a number`);
  return n;
}
