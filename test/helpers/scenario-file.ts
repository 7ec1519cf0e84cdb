/**
 * The set-up of a cross-protocol scenario file (payload-text, payload-exact): one router
 * started before its tests, and mqtt.js, autobahn, stompjs and raw/wampy clients opened
 * through here, all closed after the file's tests with the router.
 */
import { after, before } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { AutobahnSession } from './autobahn';
import { connectMqtt, endAll, joinWamp, MessageLog, uniqueId } from './mqtt-clients';
import { startRouter, type TestRouter } from './router';
import { ClientPool } from './rpc-clients';
import { StompjsClients } from './stomp-clients';

export interface ScenarioFile {
  /** the file's router; started in before() */
  readonly router: () => TestRouter;
  /** raw WAMP and wampy clients */
  readonly pool: ClientPool;
  readonly stompjs: StompjsClients;
  /** an mqtt.js client (MQTT 5 unless told) with a log of what it receives */
  readonly mqtt: (tag: string, protocolVersion?: 4 | 5) => Promise<{ client: MqttClient; log: MessageLog }>;
  /** an autobahn session in realm1 with this serializer */
  readonly wamp: (serializer: 'json' | 'msgpack' | 'cbor') => Promise<AutobahnSession>;
}

/** Call at the top level of a test file. */
export function scenarioFile(config: Record<string, unknown> = { mqtt: { sysIntervalSeconds: 0 } }): ScenarioFile {
  let t: TestRouter | undefined;
  const router = (): TestRouter => {
    if (!t) throw new Error('the router starts in before()');
    return t;
  };
  const pool = new ClientPool(router);
  const stompjs = new StompjsClients();
  const mqttClients: MqttClient[] = [];
  const wampClients: { close(): Promise<void> }[] = [];
  before(async () => {
    t = await startRouter(config);
  });
  after(async () => {
    await stompjs.closeAll();
    await endAll(mqttClients);
    await Promise.all(wampClients.map((c) => c.close().catch(() => undefined)));
    await pool.closeAll();
    await t?.close();
  });
  return {
    router,
    pool,
    stompjs,
    mqtt: async (tag, protocolVersion = 5) => {
      const log = new MessageLog();
      const { client } = await connectMqtt(router().mqttUrl, { clientId: uniqueId(tag), protocolVersion }, log);
      mqttClients.push(client);
      return { client, log };
    },
    wamp: async (serializer) => {
      const c = await joinWamp(router(), 'realm1', serializer);
      wampClients.push(c);
      return c.session;
    },
  };
}
