import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { mqttFilterFor, nodeAt, queueFor, startNodes, waitInterest, waitQueueMembers } from '../helpers/cluster';
import { connectMqtt, endAll, MessageLog, metricValue, publish, subscribe } from '../helpers/mqtt-clients';
import { startNatsCluster, type NatsCluster } from '../helpers/nats';
import type { TestRouter } from '../helpers/router';
import { waitFor } from '../helpers/wait';

/**
 * Issue 12, MQTT shared subscriptions in a cluster: a `$share/<group>/<filter>` group
 * with members on several nodes is ONE group (MQTT 5 §4.8.2: each message goes to one
 * session of the group), shared through NATS queue groups (lib/cluster/shares.ts).
 * Three Gatehouse nodes, each on its own server of a 3-node NATS cluster, real mqtt.js
 * v5 clients.
 */

const N = 60;
/** a loaded 2-core machine: 60 QoS 1 messages through NATS to three nodes */
const ALL_MS = 20_000;

interface Client {
  client: MqttClient;
  log: MessageLog;
}

/** Sends `count` QoS 1 messages `from`..: each acked before the next (one publisher's order). */
async function sendJobs(pub: MqttClient, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) await publish(pub, `jobs/n${i}`, String(i), { qos: 1 });
}

/** every payload received by the logs, as numbers, sorted */
function received(logs: readonly MessageLog[]): number[] {
  return logs.flatMap((l) => l.texts().map(Number)).sort((x, y) => x - y);
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

describe('cluster - MQTT shared subscriptions across three nodes', { timeout: 180_000 }, () => {
  const cleanup = suiteCleanup(after);
  let nats: NatsCluster;
  let g: TestRouter[];
  const clients: MqttClient[] = [];
  const v5 = async (r: TestRouter): Promise<Client> => {
    const log = new MessageLog();
    const { client } = await connectMqtt(r.mqttUrl, { protocolVersion: 5 }, log);
    clients.push(client);
    return { client, log };
  };
  const node = (i: number): TestRouter => nodeAt(g, i);

  before(async () => {
    nats = await startNatsCluster(cleanup);
    g = await startNodes(cleanup, nats, 3);
    cleanup.after(() => endAll(clients));
  });

  it('cluster - a group with members on three nodes gets every message once, plain subscribers every message, a member node gone the rest get all', async () => {
    const nodes = [node(0), node(1), node(2)];
    // one member of group g and one plain subscriber on every node; group solo has its
    // only member on the publisher's node (the origin's own queue subscription)
    const members = await Promise.all(nodes.map(v5));
    const plain = await Promise.all(nodes.map(v5));
    const solo = await v5(nodes[0] ?? node(0));
    for (const m of members) await subscribe(m.client, '$share/g/jobs/#', { qos: 1 });
    for (const p of plain) await subscribe(p.client, 'jobs/#', { qos: 1 });
    await subscribe(solo.client, '$share/solo/jobs/#', { qos: 1 });
    await waitInterest(nats, mqttFilterFor('jobs/#'));
    await waitQueueMembers(nats, queueFor('g', 'jobs/#'), 3);
    await waitQueueMembers(nats, queueFor('solo', 'jobs/#'), 1);

    const pub = await v5(node(0));
    await sendJobs(pub.client, 0, N);
    const memberLogs = members.map((m) => m.log);
    await waitFor(() => received(memberLogs).length >= N, `the group got ${N}`, ALL_MS);
    for (const [i, p] of plain.entries()) await p.log.count(N, `plain subscriber on node ${i} got all`, ALL_MS);
    await solo.log.count(N, 'the one member of solo got all', ALL_MS);
    // exactly once across the group: nothing more comes
    for (const [i, m] of members.entries()) await m.log.quiet(m.log.messages.length, 300, `member on node ${i}`);
    for (const [i, p] of plain.entries()) await p.log.quiet(N, 100, `plain subscriber on node ${i}`);
    await solo.log.quiet(N, 100, 'solo');
    assert.deepEqual(received(memberLogs), range(0, N), 'every message once across the group');
    // NATS picks a queue member at random: with 60 messages each gets some
    for (const [i, m] of members.entries()) assert.ok(m.log.messages.length > 0, `the member on node ${i} got some`);
    for (const p of plain) assert.deepEqual(received([p.log]), range(0, N));
    assert.deepEqual(received([solo.log]), range(0, N));

    // a member node goes: NATS stops choosing it, the others get everything after
    await node(2).close();
    await waitQueueMembers(nats, queueFor('g', 'jobs/#'), 2);
    for (const m of members) m.log.clear();
    await sendJobs(pub.client, N, N);
    const left = memberLogs.slice(0, 2);
    await waitFor(() => received(left).length >= N, `the two members left got ${N}`, ALL_MS);
    for (const [i, m] of members.slice(0, 2).entries()) await m.log.quiet(m.log.messages.length, 300, `member on node ${i}`);
    assert.deepEqual(received(left), range(N, N), 'every message published after once across the two members left');
  });

  it('cluster - a publication the cluster cannot carry (over NATS max_payload) still reaches one member, on its node', async () => {
    const [a, b] = [node(0), node(1)];
    const near = await v5(a);
    const far = await v5(b);
    const held = b.router.cluster?.health();
    for (const m of [near, far]) await subscribe(m.client, '$share/big/big/#', { qos: 1 });
    await waitQueueMembers(nats, queueFor('big', 'big/#'), 2);
    // only members on big/# at b: a queue subscription, no plain one taking every message
    assert.equal(b.router.cluster?.health().interest, held?.interest);
    assert.equal(b.router.cluster?.health().shares, (held?.shares ?? 0) + 1);
    const before = await metricValue(a, 'gatehouse_cluster_dropped_total', { reason: 'too_large' });
    const realm = a.router.findRealm('realm1');
    assert.ok(realm);
    // past the server's 1 MB max_payload (the router's own frame limits keep clients under it)
    await realm.publish(undefined, 'big.one', { args: ['x'.repeat(1_100_000)] }, {});
    await realm.publish(undefined, 'big.two', { args: ['small'] }, {});
    await waitFor(() => near.log.messages.length + far.log.messages.length >= 2, 'the group got both', ALL_MS);
    await near.log.quiet(near.log.messages.length, 300, 'near member');
    await far.log.quiet(far.log.messages.length, 100, 'far member');
    const topics = (l: MessageLog): string[] => l.messages.map((m) => m.topic);
    assert.ok(topics(near.log).includes('big/one'), 'the big one on its own node');
    assert.deepEqual([...topics(near.log), ...topics(far.log)].sort(), ['big/one', 'big/two'], 'each once');
    assert.equal((await metricValue(a, 'gatehouse_cluster_dropped_total', { reason: 'too_large' })) - before, 1);
  });
});
