// The gate registry (lib/gate-registry.ts): one interface for every protocol gate, so the
// public API and the daemon wire them alike. Pure logic with fake gates; the real gates
// over real sockets are covered by the daemon, embedding and universal-port tests.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, describe, it } from 'node:test';
import { resolveConfig } from '../../lib/config';
import { createGateContext, type GateContext } from '../../lib/gate-context';
import { GateRegistry, type Gate } from '../../lib/gate-registry';
import { RouterCore } from '../../lib/router';

const router = new RouterCore({ store: { path: ':memory:' }, log: { level: 'silent' } });
after(() => router.close());

interface Made {
  contexts: string[];
  accepted: { gate: string; ctx: GateContext; type: string }[];
}

function fakeGate(name: string, made: Made, extra: Partial<Gate> = {}): Gate {
  return {
    name,
    createContext: (r) => {
      made.contexts.push(name);
      return createGateContext(r, name);
    },
    accept: (ctx, _socket, type) => made.accepted.push({ gate: name, ctx, type }),
    endpoints: (config) => [
      {
        transport: 'websocket',
        key: `${name}Ws`,
        path: `/${name}${config.wamp.path}`,
        describe: (base) => ({ url: `${base}/${name}` }),
      },
    ],
    ...extra,
  };
}

function registry(): GateRegistry {
  return new GateRegistry((gate) =>
    gate.createContext(router, { work: () => assert.fail('no work queues here'), onClose: () => undefined }),
  );
}

describe('gate registry', () => {
  it('gate registry - gates keep their registration order; a second gate of a name or of a sniffed protocol is refused', () => {
    const made: Made = { contexts: [], accepted: [] };
    const r = registry()
      .register(fakeGate('wamp', made, { sniffed: 'rawsocket' }))
      .register(fakeGate('mqtt', made, { sniffed: 'mqtt' }));
    assert.deepEqual(r.names, ['wamp', 'mqtt']);
    assert.throws(() => r.register(fakeGate('wamp', made)), /registered already/);
    assert.throws(() => r.register(fakeGate('other', made, { sniffed: 'mqtt' })), /cannot take mqtt/);
    const noAccept = fakeGate('stomp', made, { sniffed: 'stomp' });
    delete noAccept.accept;
    assert.throws(() => r.register(noAccept), /cannot take stomp/, 'a sniffed protocol needs accept()');
    assert.throws(() => r.get('nope'), /no gate named nope/);
  });

  it('gate registry - a context is made on first use, once', () => {
    const made: Made = { contexts: [], accepted: [] };
    const r = registry().register(fakeGate('mqtt', made, { sniffed: 'mqtt' }));
    assert.equal(r.started('mqtt'), false);
    assert.deepEqual(made.contexts, [], 'registering makes no context (no sessions restored, no timers)');
    const ctx = r.context('mqtt');
    assert.equal(r.context('mqtt'), ctx);
    assert.equal(ctx.gate, 'mqtt');
    assert.deepEqual(made.contexts, ['mqtt']);
    assert.equal(r.started('mqtt'), true);
  });

  it('gate registry - the shared port gets the gates of the enabled protocols; their context is made at the first connection', () => {
    const made: Made = { contexts: [], accepted: [] };
    const r = registry()
      .register(fakeGate('wamp', made, { sniffed: 'rawsocket' }))
      .register(fakeGate('mqtt', made, { sniffed: 'mqtt' }))
      .register(fakeGate('http', made));
    const handOffs = r.handOffs({ rawsocket: false, mqtt: true, stomp: true });
    assert.deepEqual(Object.keys(handOffs), ['mqtt']);
    assert.deepEqual(made.contexts, []);
    const mqtt = handOffs.mqtt?.();
    assert.ok(mqtt);
    mqtt.accept({} as net.Socket, 'tls');
    assert.deepEqual(made.contexts, ['mqtt']);
    assert.deepEqual(
      made.accepted.map((a) => [a.gate, a.type, a.ctx === r.context('mqtt')]),
      [['mqtt', 'tls', true]],
    );
  });

  it("gate registry - the daemon's endpoints come gate by gate from the config; a listener a gate lacks is an error", async () => {
    const made: Made = { contexts: [], accepted: [] };
    const r = registry().register(fakeGate('a', made)).register(fakeGate('b', made));
    const config = resolveConfig({ wamp: { path: '/x' } });
    assert.deepEqual(
      r.endpoints(config).map((e) => [e.gate, e.endpoint.key, e.endpoint.transport === 'websocket' ? e.endpoint.path : '']),
      [
        ['a', 'aWs', '/a/x'],
        ['b', 'bWs', '/b/x'],
      ],
    );
    assert.throws(() => r.listenTcp('a', {}), /gate a has no TCP listener/);
    assert.throws(() => r.listenWebSocket('b', { path: '/b' }), /gate b has no WebSocket endpoint/);
    assert.deepEqual(made.contexts, [], 'nothing made for a listener that does not exist');
  });
});
