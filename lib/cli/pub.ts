import type { Command } from 'commander';
import { ApiClient, jsonOrText, print, run, withClientOptions, type ClientFlags } from './http-client';

/** `gatehouse pub TOPIC [JSON] [--retain]`: one publication; prints its id. */
export function addPubCommand(parent: Command): void {
  withClientOptions(
    parent
      .command('pub <topic> [value]')
      .description('publish to a topic (value: JSON, else taken as a string); prints the publication id')
      .option('--retain', 'keep the value in the store'),
  ).action((topic: string, value: string | undefined, flags: ClientFlags & { retain?: boolean }) =>
    run(async () => {
      const client = new ApiClient(flags);
      const body: Record<string, unknown> = { topic };
      if (value !== undefined) body['args'] = [jsonOrText(value)];
      if (flags.retain === true) body['options'] = { retain: true };
      const reply = await client.request('POST', '/publish', body);
      print(client.json ? reply : String(reply['publication']));
    }),
  );
}
