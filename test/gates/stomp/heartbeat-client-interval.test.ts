// STOMP heart-beats at the interval the client asks for, as RabbitMQ does them (issue 15),
// with the DEFAULT stomp.heartbeat config: a client asking for 1,000 ms gets the router's
// heart-beats about every second (STOMP 1.2 §Heart-beating: max(cy, sx), the server's sx
// a 1 s floor), and a client that promised 1,000 ms heart-beats and goes silent is
// dropped after about two missed intervals, while a client that beats stays.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawClients, rawHeader, sendWithReceipt, StompjsClients, waitFor } from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

const INTERVAL_MS = 1000;

let router: TestRouter;
const raws = new RawClients();
const stompjs = new StompjsClients();

before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
});
after(async () => {
  raws.closeAll();
  await stompjs.closeAll();
  await router.close();
});

/** stompjs (over TCP) beating both ways every second; records when beats arrive. */
async function beatingClient(): Promise<{
  beats: number[];
  lost: () => number;
  client: Awaited<ReturnType<StompjsClients['tcp']>>['client'];
  heartBeat: string | undefined;
}> {
  const beats: number[] = [];
  let lost = 0;
  const { client, connected } = await stompjs.tcp(router.stompPort, {
    heartbeatIncoming: INTERVAL_MS,
    heartbeatOutgoing: INTERVAL_MS,
    onHeartbeatReceived: () => beats.push(Date.now()),
    onHeartbeatLost: () => lost++,
  });
  return { beats, lost: () => lost, client, heartBeat: connected.headers['heart-beat'] };
}

describe('stomp heart-beats at the client interval', () => {
  it('stomp - stompjs asking for heart-beats every 1,000 ms gets them about every second', async (t) => {
    const { beats, lost, client, heartBeat } = await beatingClient();
    assert.equal(heartBeat, `${INTERVAL_MS},${INTERVAL_MS}`, 'CONNECTED offers the 1 s floors');
    const from = Date.now();
    await waitFor(() => beats.length >= 4, 'four router heart-beats', 8000);
    const span = (beats[3] ?? 0) - (beats[0] ?? 0);
    const gap = span / 3;
    t.diagnostic(`router heart-beats every ${gap.toFixed(0)} ms`);
    assert.ok(gap >= 700 && gap <= 1600, `router heart-beats every ${gap.toFixed(0)} ms, expected ~${INTERVAL_MS}`);
    assert.ok(Date.now() - from >= 2500, `four beats took ${Date.now() - from} ms: not faster than asked`);
    assert.equal(lost(), 0, 'stompjs missed no heart-beat');
    assert.equal(client.connected, true);
  });

  it('stomp - a client that promised 1,000 ms heart-beats and goes silent is dropped within ~2-3 s; a beating client stays', async (t) => {
    const beating = await beatingClient();
    const beatingSince = Date.now();
    const { raw, connected } = await raws.connect(router.stompPort, {
      'accept-version': '1.2',
      host: 'localhost',
      'heart-beat': `${INTERVAL_MS},${INTERVAL_MS}`,
    });
    const at = Date.now();
    assert.equal(rawHeader(connected, 'heart-beat'), `${INTERVAL_MS},${INTERVAL_MS}`);
    // from here on the raw client writes nothing at all
    await raw.waitClosed('the router to drop the silent client', 8000);
    const silentFor = raw.closedAt - at;
    t.diagnostic(`silent client dropped after ${silentFor} ms`);
    assert.ok(
      silentFor >= 1900 && silentFor <= 4500,
      `dropped after ${silentFor} ms of silence, expected 2-3 s (2 x ${INTERVAL_MS})`,
    );
    assert.ok(raw.heartbeats.length >= 1, 'the router kept beating to the silent client until it dropped it');
    assert.equal(raw.pending('ERROR').length, 0, 'a heart-beat timeout ends the connection without a frame');

    // the other client, connected as long, beats and is kept
    assert.ok(Date.now() - beatingSince >= 2000);
    assert.equal(beating.client.connected, true, 'the beating client is still connected');
    assert.equal(beating.lost(), 0, 'and missed no router heart-beat');
    await sendWithReceipt(beating.client, '/topic/hb.still-here', 'yes');
  });
});
