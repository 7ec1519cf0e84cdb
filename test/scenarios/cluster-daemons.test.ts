import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, wsOptions } from '../helpers/autobahn';
import { filterFor, waitInterest } from '../helpers/cluster';
import { portsOf, spawnGatehouse, tempDir, writeJson, type Daemon } from '../helpers/daemon';
import { connectMqtt, MessageLog } from '../helpers/mqtt-clients';
import { startNatsCluster } from '../helpers/nats';
import { Inbox, StompjsClients, subscribeConfirmed } from '../helpers/stomp-clients';
import { expectQuiet, waitFor } from '../helpers/wait';

/**
 * Issue 12: three `gatehouse` daemons joined with --cluster / --node (child processes, as
 * users start them) on a 3-node NATS cluster: pub/sub across them, a call across them,
 * and their one JetStream store (a lock taken through one node is held on another).
 */

test(
  'cluster - three gatehouse daemons started with --cluster and --node route MQTT to WAMP and STOMP across them',
  { timeout: 180_000 },
  async (t) => {
    const nats = await startNatsCluster(t);
    const tmp = tempDir();
    t.after(() => tmp.remove());
    const daemons: Daemon[] = [];
    t.after(async () => {
      await Promise.all(daemons.map((d) => d.kill()));
    });
    const ports = await Promise.all(
      [1, 2, 3].map(async (i) => {
        const file = join(tmp.dir, `g${i}.json`);
        writeJson(file, { log: { level: 'info', format: 'json' }, store: { path: join(tmp.dir, `g${i}.db`) } });
        const server = nats.servers[i - 1] ?? '';
        const d = spawnGatehouse([
          '-c',
          file,
          '--port',
          '0',
          '--mqtt-port',
          '0',
          '--stomp-port',
          '0',
          '--cluster',
          server,
          '--node',
          `d${i}`,
        ]);
        daemons.push(d);
        const listening = await d.waitForLog((e) => e.msg === 'listening', 'listening');
        await d.waitForLog((e) => e.msg === 'joined the cluster', 'joined the cluster');
        assert.deepEqual(
          listening['cluster'],
          { node: `d${i}`, nats: [server] },
          'the listening line names the node and its servers',
        );
        return portsOf(listening);
      }),
    );
    const [p1, p2, p3] = ports;
    assert.ok(p1 && p2 && p3);

    for (const p of ports) {
      const health = (await (await fetch(`http://127.0.0.1:${p.http}/health`)).json()) as {
        cluster?: { state?: string; node?: string };
      };
      assert.equal(health.cluster?.state, 'connected');
    }
    const w = await connect(wsOptions(`ws://127.0.0.1:${p1.http}/ws`, 'json'));
    t.after(() => w.close());
    const events: unknown[] = [];
    await w.session.subscribe('cl.daemons', (args, _kw, details) => events.push([args[0], details['publisher']]));
    const stomp = new StompjsClients();
    t.after(() => stomp.closeAll());
    const inbox = new Inbox();
    const { client: sc } = await stomp.tcp(p2.stomp);
    await subscribeConfirmed(sc, '/topic/cl.daemons', inbox);
    await waitInterest(nats, filterFor('cl.daemons'));

    const log = new MessageLog();
    const { client: m } = await connectMqtt(`mqtt://127.0.0.1:${p3.mqtt}`, {}, log);
    t.after(() => m.endAsync());
    for (let i = 0; i < 20; i++) await m.publishAsync('cl/daemons', String(i), { qos: 1 });
    await waitFor(() => events.length === 20, 'the WAMP subscriber on d1 has all 20', 10_000);
    await inbox.count(20, 'the STOMP subscriber on d2 has all 20', 10_000);
    assert.deepEqual(
      events.map((e) => (e as unknown[])[0]),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.deepEqual(
      inbox.bodies(),
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    await expectQuiet(200);
    assert.equal(events.length, 20, 'no duplicate');
    assert.equal(log.messages.length, 0, 'the publisher is not subscribed: nothing came back to it');

    // RPC across the daemons: a callee on d2, a caller on d1 (wired by the cluster join)
    const callee = await connect(wsOptions(`ws://127.0.0.1:${p2.http}/ws`, 'json'));
    t.after(() => callee.close());
    await callee.session.register('cl.daemons.echo', (args) => ['from d2', ...args]);
    await waitFor(
      async () => {
        try {
          await w.session.call('cl.daemons.echo', ['probe']);
          return true;
        } catch {
          return false;
        }
      },
      'd1 knows the callee on d2',
      10_000,
    );
    assert.deepEqual(await w.session.call('cl.daemons.echo', [1, 2]), ['from d2', 1, 2]);

    // one store for the three (store.engine defaults to jetstream with a cluster): a lock
    // taken through d1 is seen held through d3
    const taken = await w.session.publish(
      'cl.daemons.lock',
      [{ holder: 'd1' }],
      {},
      { acknowledge: true, retain: true, when: null },
    );
    assert.ok(taken);
    const other = await connect(wsOptions(`ws://127.0.0.1:${p3.http}/ws`, 'json'));
    t.after(() => other.close());
    await assert.rejects(
      Promise.resolve(
        other.session.publish('cl.daemons.lock', [{ holder: 'd3' }], {}, { acknowledge: true, retain: true, when: null }),
      ),
      (e: unknown) => (e as { error?: string }).error === 'gatehouse.error.condition_failed',
    );
  },
);
