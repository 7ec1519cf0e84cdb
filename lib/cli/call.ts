import type { Command } from 'commander';
import { ApiClient, jsonOrText, plainResult, print, run, withClientOptions, type ClientFlags } from './http-client';

/** `gatehouse call PROCEDURE [ARG...]`: prints the result. */
export function addCallCommand(parent: Command): void {
  withClientOptions(
    parent
      .command('call <procedure> [args...]')
      .description('call a procedure (each argument: JSON, else taken as a string); prints the result')
      .option('--timeout <ms>', 'call timeout in milliseconds'),
  ).action((procedure: string, args: string[], flags: ClientFlags & { timeout?: string }) =>
    run(async () => {
      const client = new ApiClient(flags);
      const body: Record<string, unknown> = { procedure, args: args.map(jsonOrText) };
      if (flags.timeout !== undefined) body['options'] = { timeout: Number(flags.timeout) };
      const reply = await client.request('POST', '/call', body);
      print(client.json ? reply : plainResult(reply['args'], reply['kwargs']));
    }),
  );
}
