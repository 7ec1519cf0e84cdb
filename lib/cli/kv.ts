import type { Command } from 'commander';
import { ApiClient, jsonOrText, print, run, withClientOptions, type ClientFlags } from './http-client';

const key = (k: string): string => `/store/${encodeURIComponent(k)}`;

/** `gatehouse kv get|put|del|list`: the retained store. */
export function addKvCommand(parent: Command): void {
  const kv = parent.command('kv').description('the retained key-value store (keys are topics: a.b.c)');

  withClientOptions(kv.command('get <key>').description('print the value of a key (exit 3 when absent)')).action(
    (k: string, flags: ClientFlags) =>
      run(async () => {
        const client = new ApiClient(flags);
        const entry = await client.request('GET', key(k));
        print(client.json ? entry : entry['value']);
      }),
  );

  withClientOptions(
    kv
      .command('put <key> <value>')
      .description('write a key (value: JSON, else a string); prints the new revision')
      .option('--when <json>', 'only if the stored value matches (null: absent); exit 3 otherwise')
      .option('--ttl <seconds>', 'expire after this many seconds'),
  ).action((k: string, value: string, flags: ClientFlags & { when?: string; ttl?: string }) =>
    run(async () => {
      const client = new ApiClient(flags);
      const body: Record<string, unknown> = { value: jsonOrText(value) };
      if (flags.when !== undefined) body['when'] = jsonOrText(flags.when);
      if (flags.ttl !== undefined) body['ttl'] = Number(flags.ttl);
      const reply = await client.request('PUT', key(k), body);
      print(client.json ? reply : String(reply['revision']));
    }),
  );

  withClientOptions(kv.command('del <key>').description('delete a key (exit 3 when absent)')).action(
    (k: string, flags: ClientFlags) =>
      run(async () => {
        const client = new ApiClient(flags);
        const reply = await client.request('DELETE', key(k));
        print(client.json ? reply : String(reply['revision']));
      }),
  );

  withClientOptions(
    kv
      .command('list [pattern]')
      .description('list keys (prefix match unless --match says otherwise): "key value" lines')
      .option('--match <policy>', 'exact, prefix or wildcard'),
  ).action((pattern: string | undefined, flags: ClientFlags & { match?: string }) =>
    run(async () => {
      const client = new ApiClient(flags);
      let after: string | null = null;
      do {
        const q = new URLSearchParams({ pattern: pattern ?? '', limit: '1000' });
        if (flags.match !== undefined) q.set('match', flags.match);
        if (after !== null) q.set('after', after);
        const page = await client.request('GET', `/store?${q.toString()}`);
        for (const e of page['entries'] as Record<string, unknown>[])
          print(client.json ? e : `${String(e['key'])} ${JSON.stringify(e['value'])}`);
        after = typeof page['next'] === 'string' ? page['next'] : null;
      } while (after !== null);
    }),
  );
}
