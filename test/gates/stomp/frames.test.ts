// STOMP frames on the wire, with a raw TCP client (test/helpers/stomp-clients.ts RawStomp)
// for exact checks: CONNECT/STOMP and version negotiation, every client frame, MESSAGE,
// RECEIPT and ERROR, header escaping per version, repeated headers, CRLF in 1.2,
// content-length bodies holding NULs; and a 1 MiB binary body through @stomp/stompjs
// over WebSocket and TCP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  Inbox,
  rawHeader,
  RawClients,
  StompjsClients,
  subscribeConfirmed,
  withReceipt,
  WAIT_MS,
  Versions,
  type RawFrame,
  type RawStomp,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

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

function connect(version?: string, extra: Record<string, string> = {}): Promise<{ raw: RawStomp; connected: RawFrame }> {
  const headers: Record<string, string> = { host: 'localhost', ...extra };
  if (version !== undefined) headers['accept-version'] = version;
  return raws.connect(router.stompPort, headers);
}

/** Messages in a work queue's store (lib/work-queues.ts store names). */
function queueSize(name: string): number {
  return router.router.queues.size(`queue:6:realm1:${name}`).messages;
}

/** An ERROR, then the server closes the connection. */
async function expectErrorAndClose(raw: RawStomp, what: string): Promise<RawFrame> {
  const err = await raw.expect('ERROR', `ERROR for ${what}`);
  await raw.waitClosed(`the connection to close after the ERROR for ${what}`);
  return err;
}

describe('stomp frames', () => {
  it('stomp - CONNECT negotiates the highest common version; CONNECTED carries version, heart-beat, session and server', async () => {
    const cases: [string | undefined, string | undefined][] = [
      ['1.0,1.1,1.2', '1.2'],
      ['1.2', '1.2'],
      ['1.1,1.0', '1.1'],
      ['1.0, 1.1, 3.0', '1.1'],
      ['1.0', undefined], // STOMP 1.0 CONNECTED has no version header
      [undefined, undefined], // no accept-version: STOMP 1.0
    ];
    for (const [offered, negotiated] of cases) {
      const { raw, connected } = await connect(offered);
      assert.equal(rawHeader(connected, 'version'), negotiated, `accept-version ${String(offered)}`);
      assert.match(rawHeader(connected, 'session') ?? '', /^\d+$/);
      assert.equal(rawHeader(connected, 'server'), 'Gatehouse');
      if (negotiated !== undefined)
        assert.equal(rawHeader(connected, 'heart-beat'), '1000,1000', 'the configured heart-beat (default floors)');
      assert.equal(connected.body.length, 0);
      raw.destroy();
    }
  });

  it('stomp - a STOMP frame connects like CONNECT', async () => {
    const { raw, connected } = await raws.connect(router.stompPort, { 'accept-version': '1.1,1.2', host: 'localhost' }, 'STOMP');
    assert.equal(connected.command, 'CONNECTED');
    assert.equal(rawHeader(connected, 'version'), '1.2');
    await raw.request('SUBSCRIBE', { id: '0', destination: '/topic/frames.stomp' });
    raw.destroy();
  });

  it('stomp - no common version: ERROR with a version header listing the supported versions, then close', async () => {
    const raw = await raws.open(router.stompPort);
    raw.send('CONNECT', { 'accept-version': '2.0,3.1', host: 'localhost' });
    const err = await expectErrorAndClose(raw, 'an unsupported version');
    assert.equal(rawHeader(err, 'version'), '1.0,1.1,1.2');
    assert.equal(rawHeader(err, 'message'), 'protocol violation');
    assert.match(err.body.toString(), /version/);
  });

  it('stomp - a frame other than CONNECT before CONNECTED is an ERROR and closes', async () => {
    const raw = await raws.open(router.stompPort);
    raw.send('SEND', { destination: '/queue/frames.early' }, 'early');
    const err = await expectErrorAndClose(raw, 'SEND before CONNECT');
    assert.match(err.body.toString(), /expected CONNECT/);
    assert.equal(queueSize('frames.early'), 0);
  });

  it('stomp - over WebSocket stompjs speaks 1.1 and 1.0 too (subprotocols v11.stomp, v10.stomp; the version from accept-version)', async () => {
    for (const [version, protocol] of [
      ['1.1', 'v11.stomp'],
      ['1.0', 'v10.stomp'],
    ] as const) {
      const { client, connected } = await stompjs.ws(router.stompWsUrl, { stompVersions: new Versions([version]) }, [protocol]);
      assert.equal(connected.headers['version'], version === '1.0' ? undefined : version, protocol);
      const inbox = new Inbox();
      await subscribeConfirmed(client, `/topic/frames.ws${protocol}`, inbox, { id: 'v' });
      await withReceipt(client, `SEND over ${protocol}`, (receipt) =>
        client.publish({
          destination: `/topic/frames.ws${protocol}`,
          body: `over ${protocol}`,
          headers: { receipt, 'x-k': 'v' },
        }),
      );
      const [m] = await inbox.count(1, `MESSAGE over ${protocol}`);
      assert.equal(m?.body, `over ${protocol}`);
      assert.equal(m?.headers['x-k'], 'v');
    }
  });

  it('stomp - a SUBSCRIBE reusing an id in use, and a SEND to a wildcard topic, are ERRORs', async () => {
    const { raw } = await connect('1.2');
    await raw.request('SUBSCRIBE', { id: 'dup', destination: '/topic/frames.dup' });
    raw.send('SUBSCRIBE', { id: 'dup', destination: '/topic/frames.dup2', receipt: 'd2' });
    const err = await expectErrorAndClose(raw, 'a duplicate subscription id');
    assert.equal(rawHeader(err, 'message'), 'invalid argument');
    assert.equal(rawHeader(err, 'receipt-id'), 'd2');

    const { raw: other } = await connect('1.2');
    other.send('SEND', { destination: '/topic/frames.*' }, 'x');
    const err2 = await expectErrorAndClose(other, 'a SEND to a wildcard');
    assert.equal(rawHeader(err2, 'message'), 'invalid destination');
    const { raw: third } = await connect('1.2');
    third.send('SEND', { destination: '/exchange/amq.topic' }, 'x');
    const err3 = await expectErrorAndClose(third, 'a destination of no known kind');
    assert.equal(rawHeader(err3, 'message'), 'invalid destination');
  });

  it('stomp - SEND, SUBSCRIBE, MESSAGE and UNSUBSCRIBE with receipts', async () => {
    const { raw: sub } = await connect('1.2');
    const { raw: pub } = await connect('1.2');
    const r = await sub.request('SUBSCRIBE', { id: 'sub-1', destination: '/topic/frames.basic', ack: 'auto' });
    assert.deepEqual(r.body.length, 0);
    await pub.request('SEND', { destination: '/topic/frames.basic', 'content-type': 'text/plain', 'x-app': 'v' }, 'hello');
    const m = await sub.expect('MESSAGE', 'MESSAGE');
    assert.equal(rawHeader(m, 'destination'), '/topic/frames.basic');
    assert.equal(rawHeader(m, 'subscription'), 'sub-1');
    assert.ok(rawHeader(m, 'message-id'), 'a message-id');
    assert.equal(rawHeader(m, 'content-type'), 'text/plain');
    assert.equal(rawHeader(m, 'content-length'), '5');
    assert.equal(rawHeader(m, 'x-app'), 'v');
    assert.equal(rawHeader(m, 'ack'), undefined, 'no ack header for an auto subscription');
    assert.equal(m.body.toString(), 'hello');

    await sub.request('UNSUBSCRIBE', { id: 'sub-1' });
    await pub.request('SEND', { destination: '/topic/frames.basic' }, 'after');
    await sub.quiet('MESSAGE', 150, 'after UNSUBSCRIBE');

    // UNSUBSCRIBE of an id that does not exist
    sub.send('UNSUBSCRIBE', { id: 'nope', receipt: 'u2' });
    const err = await expectErrorAndClose(sub, 'UNSUBSCRIBE of an unknown id');
    assert.equal(rawHeader(err, 'message'), 'no such subscription');
    assert.equal(rawHeader(err, 'receipt-id'), 'u2');
    pub.destroy();
  });

  it('stomp - two SUBSCRIBEs of one connection to one topic each get their own MESSAGE; UNSUBSCRIBE of one leaves the other', async () => {
    const { raw } = await connect('1.2');
    await raw.request('SUBSCRIBE', { id: 'one', destination: '/topic/frames.twice' });
    await raw.request('SUBSCRIBE', { id: 'two', destination: '/topic/frames.twice' });
    await raw.request('SUBSCRIBE', { id: 'star', destination: '/topic/frames.*' });
    await raw.request('SEND', { destination: '/topic/frames.twice' }, 'both');
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(rawHeader(await raw.expect('MESSAGE', `MESSAGE ${i + 1} of 3`), 'subscription') ?? '');
    assert.deepEqual(got.sort(), ['one', 'star', 'two']);
    await raw.quiet('MESSAGE', 100, 'one MESSAGE per subscription');
    await raw.request('UNSUBSCRIBE', { id: 'one' });
    await raw.request('SEND', { destination: '/topic/frames.twice' }, 'after');
    const rest: string[] = [];
    for (let i = 0; i < 2; i++) rest.push(rawHeader(await raw.expect('MESSAGE', `MESSAGE ${i + 1} of 2`), 'subscription') ?? '');
    assert.deepEqual(rest.sort(), ['star', 'two']);
    await raw.quiet('MESSAGE', 100, 'nothing for the removed subscription');
    raw.destroy();
  });

  it('stomp - STOMP 1.0: a SUBSCRIBE without id, MESSAGE without subscription, UNSUBSCRIBE by destination', async () => {
    const { raw } = await connect(undefined);
    await raw.request('SUBSCRIBE', { destination: '/topic/frames.v10' });
    await raw.request('SEND', { destination: '/topic/frames.v10' }, 'ten');
    const m = await raw.expect('MESSAGE', 'MESSAGE in 1.0');
    assert.equal(rawHeader(m, 'subscription'), undefined);
    assert.equal(m.body.toString(), 'ten');
    await raw.request('UNSUBSCRIBE', { destination: '/topic/frames.v10' });
    await raw.request('SEND', { destination: '/topic/frames.v10' }, 'gone');
    await raw.quiet('MESSAGE', 150, 'after UNSUBSCRIBE by destination');
    raw.destroy();
  });

  it('stomp - ACK and NACK in 1.2 name the message by its ack header; NACK redelivers with redelivered: true', async () => {
    const q = 'frames.ack12';
    const { raw } = await connect('1.2');
    await raw.request('SEND', { destination: `/queue/${q}` }, 'one');
    await raw.request('SUBSCRIBE', { id: 's', destination: `/queue/${q}`, ack: 'client-individual' });
    const m1 = await raw.expect('MESSAGE', 'first delivery');
    const ackId = rawHeader(m1, 'ack');
    assert.ok(ackId, 'a 1.2 MESSAGE of a client-individual subscription has an ack header');
    assert.equal(rawHeader(m1, 'redelivered'), undefined);
    await raw.request('NACK', { id: ackId });
    const m2 = await raw.expect('MESSAGE', 'redelivery after NACK');
    assert.equal(rawHeader(m2, 'redelivered'), 'true');
    assert.equal(rawHeader(m2, 'message-id'), rawHeader(m1, 'message-id'));
    assert.equal(m2.body.toString(), 'one');
    assert.equal(queueSize(q), 1, 'still queued until ACKed');
    await raw.request('ACK', { id: rawHeader(m2, 'ack') ?? '' });
    assert.equal(queueSize(q), 0, 'the ACK removed it (its RECEIPT waited for the commit)');
    raw.destroy();
  });

  it('stomp - ACK and NACK in 1.1 name the message by message-id and subscription; a 1.1 MESSAGE has no ack header', async () => {
    const q = 'frames.ack11';
    const { raw } = await connect('1.1');
    await raw.request('SEND', { destination: `/queue/${q}` }, 'eleven');
    await raw.request('SUBSCRIBE', { id: 's', destination: `/queue/${q}`, ack: 'client' });
    const m = await raw.expect('MESSAGE', 'delivery');
    assert.equal(rawHeader(m, 'ack'), undefined);
    const id = rawHeader(m, 'message-id') ?? '';
    await raw.request('NACK', { 'message-id': id, subscription: 's' });
    const again = await raw.expect('MESSAGE', 'redelivery');
    assert.equal(rawHeader(again, 'redelivered'), 'true');
    await raw.request('ACK', { 'message-id': id, subscription: 's' });
    assert.equal(queueSize(q), 0);
    raw.destroy();
  });

  it('stomp - ACK in 1.0 names the message by message-id; NACK is not part of 1.0', async () => {
    const q = 'frames.ack10';
    const { raw } = await connect(undefined);
    await raw.request('SEND', { destination: `/queue/${q}` }, 'ten');
    await raw.request('SUBSCRIBE', { destination: `/queue/${q}`, ack: 'client' });
    const m = await raw.expect('MESSAGE', 'delivery');
    await raw.request('ACK', { 'message-id': rawHeader(m, 'message-id') ?? '' });
    assert.equal(queueSize(q), 0);
    raw.send('NACK', { 'message-id': rawHeader(m, 'message-id') ?? '' });
    const err = await expectErrorAndClose(raw, 'NACK in 1.0');
    assert.match(err.body.toString(), /NACK/);
  });

  it('stomp - an ACK naming a message id this server never issued is an ERROR', async () => {
    const { raw } = await connect('1.2');
    raw.send('ACK', { id: 'no-such-message', receipt: 'a1' });
    const err = await expectErrorAndClose(raw, 'ACK of an unknown id');
    assert.equal(rawHeader(err, 'receipt-id'), 'a1');
    assert.equal(rawHeader(err, 'message'), 'invalid argument');
  });

  it('stomp - BEGIN, COMMIT and ABORT answer with receipts; COMMIT of a transaction never begun is an ERROR', async () => {
    const q = 'frames.tx';
    const { raw } = await connect('1.2');
    await raw.request('BEGIN', { transaction: 't1' });
    await raw.request('SEND', { destination: `/queue/${q}`, transaction: 't1' }, 'in t1');
    assert.equal(queueSize(q), 0, 'a transactional SEND waits for COMMIT');
    await raw.request('COMMIT', { transaction: 't1' });
    assert.equal(queueSize(q), 1);
    await raw.request('BEGIN', { transaction: 't2' });
    await raw.request('SEND', { destination: `/queue/${q}`, transaction: 't2' }, 'in t2');
    await raw.request('ABORT', { transaction: 't2' });
    assert.equal(queueSize(q), 1, 'the aborted SEND vanished');
    raw.send('COMMIT', { transaction: 't2', receipt: 'c2' });
    const err = await expectErrorAndClose(raw, 'COMMIT of an ended transaction');
    assert.equal(rawHeader(err, 'receipt-id'), 'c2');
    assert.match(err.body.toString(), /t2/);
  });

  it('stomp - DISCONNECT with a receipt: the RECEIPT comes after earlier frames are done, then the server closes', async () => {
    const q = 'frames.disconnect';
    const { raw } = await connect('1.2');
    raw.send('SEND', { destination: `/queue/${q}` }, 'before disconnect');
    raw.send('DISCONNECT', { receipt: 'bye' });
    const r = await raw.expect('RECEIPT', 'DISCONNECT receipt');
    assert.equal(rawHeader(r, 'receipt-id'), 'bye');
    assert.equal(queueSize(q), 1, 'the SEND before DISCONNECT is stored when its RECEIPT arrives');
    await raw.waitClosed('the server to close after DISCONNECT');
    assert.equal(raw.pending('ERROR').length, 0);
  });

  it('stomp - an ERROR has message, content-type and a body explaining, the receipt-id of the failed frame, then close', async () => {
    const { raw } = await connect('1.2');
    raw.send('SEND', { receipt: 'no-dest' }, 'x');
    const err = await expectErrorAndClose(raw, 'SEND without destination');
    assert.equal(rawHeader(err, 'message'), 'protocol violation');
    assert.equal(rawHeader(err, 'receipt-id'), 'no-dest');
    assert.equal(rawHeader(err, 'content-type'), 'text/plain;charset=utf-8');
    assert.equal(Number(rawHeader(err, 'content-length')), err.body.length);
    assert.match(err.body.toString(), /destination/);

    const { raw: other } = await connect('1.2');
    other.send('SUBSCRIBE', { id: 'x', destination: '/topic/frames.body' }, 'a body');
    const err2 = await expectErrorAndClose(other, 'SUBSCRIBE with a body');
    assert.match(err2.body.toString(), /must not have a body/);
  });

  it('stomp - header escaping in 1.2: \\c \\n \\\\ \\r are decoded on SEND and written on MESSAGE', async () => {
    const { raw: sub } = await connect('1.2');
    const { raw: pub } = await connect('1.2');
    await sub.request('SUBSCRIBE', { id: 's', destination: '/topic/frames.esc12' });
    // name a:b, value c:d<LF>e\f<CR>g, both escaped on the wire
    await pub.request(
      'SEND',
      [
        ['destination', '/topic/frames.esc12'],
        ['x\\cname', 'c\\cd\\ne\\\\f\\rg'],
      ],
      'e',
    );
    const m = await sub.expect('MESSAGE', 'escaped MESSAGE');
    assert.equal(rawHeader(m, 'x\\cname'), 'c\\cd\\ne\\\\f\\rg', 'the same escapes on the way out');

    // and a stompjs client reads it unescaped
    const { client } = await stompjs.ws(router.stompWsUrl);
    const inbox = new Inbox();
    await subscribeConfirmed(client, '/topic/frames.esc12', inbox, { id: 'js' });
    await pub.request(
      'SEND',
      [
        ['destination', '/topic/frames.esc12'],
        ['x-v', 'c\\cd\\ne\\\\f\\rg'],
      ],
      'e',
    );
    const [js] = await inbox.count(1, 'stompjs MESSAGE');
    assert.equal(js?.headers['x-v'], 'c:d\ne\\f\rg');
    sub.destroy();
    pub.destroy();
  });

  it('stomp - header escaping in 1.1 (no \\r: a CR goes raw) and none in 1.0 (what cannot be written raw is left out)', async () => {
    const { raw: v12 } = await connect('1.2');
    const { raw: v11 } = await connect('1.1');
    const { raw: v10 } = await connect('1.0');
    for (const r of [v12, v11, v10]) await r.request('SUBSCRIBE', { id: 's', destination: '/topic/frames.escv' });
    await v12.request(
      'SEND',
      [
        ['destination', '/topic/frames.escv'],
        ['x-lf', 'a\\nb'],
        ['x-colon', 'c\\cd'],
        ['x-cr', 'e\\rf'],
      ],
      '1',
    );
    const m12 = await v12.expect('MESSAGE', '1.2 MESSAGE');
    const m11 = await v11.expect('MESSAGE', '1.1 MESSAGE');
    const m10 = await v10.expect('MESSAGE', '1.0 MESSAGE');
    assert.deepEqual([rawHeader(m12, 'x-lf'), rawHeader(m12, 'x-colon'), rawHeader(m12, 'x-cr')], ['a\\nb', 'c\\cd', 'e\\rf']);
    assert.deepEqual([rawHeader(m11, 'x-lf'), rawHeader(m11, 'x-colon'), rawHeader(m11, 'x-cr')], ['a\\nb', 'c\\cd', 'e\rf']);
    assert.equal(rawHeader(m10, 'x-lf'), undefined, 'a value holding LF cannot be written in 1.0');
    assert.equal(rawHeader(m10, 'x-colon'), 'c:d', '1.0 is not escaped');
    assert.equal(rawHeader(m10, 'x-cr'), 'e\rf');

    // a 1.0 SEND's backslashes are literal; 1.2 subscribers see them escaped
    await v10.request('SEND', { destination: '/topic/frames.escv', 'x-lit': 'a\\cb' }, '2');
    const lit = await v12.expect('MESSAGE', '1.2 MESSAGE of a 1.0 SEND');
    assert.equal(rawHeader(lit, 'x-lit'), 'a\\\\cb');
    for (const r of [v12, v11, v10]) r.destroy();
  });

  it('stomp - an undefined escape is an ERROR: \\t in 1.2, \\r in 1.1', async () => {
    for (const [version, bad] of [
      ['1.2', 'a\\tb'],
      ['1.1', 'a\\rb'],
    ] as const) {
      const { raw } = await connect(version);
      raw.send('SEND', { destination: '/topic/frames.badesc', 'x-bad': bad }, 'x');
      const err = await expectErrorAndClose(raw, `a bad escape in ${version}`);
      assert.match(err.body.toString(), /bad_escape/, version);
    }
  });

  it('stomp - CONNECT headers are not unescaped: a backslash in a 1.2 CONNECT is no bad escape', async () => {
    const { connected, raw } = await connect('1.2', { login: 'us\\ter', host: 'lo\\calhost' });
    assert.equal(rawHeader(connected, 'version'), '1.2');
    raw.destroy();
  });

  it('stomp - repeated headers: the first value counts, on the frame and in the message', async () => {
    const { raw } = await connect('1.2');
    await raw.request(
      'SEND',
      [
        ['destination', '/queue/frames.rep.first'],
        ['destination', '/queue/frames.rep.second'],
        ['x-r', 'one'],
        ['x-r', 'two'],
        ['content-type', 'text/first'],
        ['content-type', 'text/second'],
      ],
      'rep',
    );
    assert.equal(queueSize('frames.rep.first'), 1);
    assert.equal(queueSize('frames.rep.second'), 0);
    await raw.request('SUBSCRIBE', { id: 's', destination: '/queue/frames.rep.first' });
    const m = await raw.expect('MESSAGE', 'MESSAGE');
    assert.deepEqual(
      m.headers.filter(([n]) => n === 'x-r'),
      [['x-r', 'one']],
    );
    assert.equal(rawHeader(m, 'content-type'), 'text/first');
    raw.destroy();
  });

  it('stomp - 1.2 frames may end their lines with CRLF; values keep no CR', async () => {
    const { raw } = await connect('1.2');
    raw.send('SUBSCRIBE', { id: 'crlf', destination: '/topic/frames.crlf', receipt: 'crlf-1' }, '', '\r\n');
    await raw.receipt('crlf-1');
    raw.send('SEND', { destination: '/topic/frames.crlf', 'x-v': 'v', receipt: 'crlf-2' }, 'crlf body', '\r\n');
    await raw.receipt('crlf-2');
    const m = await raw.expect('MESSAGE', 'MESSAGE of a CRLF SEND');
    assert.equal(rawHeader(m, 'x-v'), 'v');
    assert.equal(rawHeader(m, 'subscription'), 'crlf');
    assert.equal(m.body.toString(), 'crlf body');
    // a CRLF heart-beat between frames is fine too
    raw.write('\r\n\r\n');
    await raw.request('SEND', { destination: '/topic/frames.crlf' }, 'after');
    raw.destroy();
  });

  it('stomp - a content-length body may hold NUL bytes; MESSAGE carries them with content-length', async () => {
    const { raw } = await connect('1.2');
    await raw.request('SUBSCRIBE', { id: 's', destination: '/topic/frames.nul' });
    const body = Buffer.from([0x61, 0x00, 0x62, 0x00, 0x00, 0x63, 0xff]);
    await raw.request('SEND', { destination: '/topic/frames.nul', 'content-length': String(body.length) }, body);
    const m = await raw.expect('MESSAGE', 'MESSAGE with NULs');
    assert.equal(rawHeader(m, 'content-length'), String(body.length));
    assert.deepEqual(m.body, body);
    // without content-length the body ends at the first NUL (1.0 style)
    raw.write(Buffer.from('SEND\ndestination:/topic/frames.nul\n\nab\0'));
    const m2 = await raw.expect('MESSAGE', 'MESSAGE of a NUL-terminated body');
    assert.equal(m2.body.toString(), 'ab');
    raw.destroy();
  });

  for (const [name, sender, receiver] of [
    ['WebSocket to TCP', 'ws', 'tcp'],
    ['TCP to WebSocket', 'tcp', 'ws'],
  ] as const) {
    it(`stomp - a 1 MiB binary body with NULs round-trips byte-exact, topic and queue (stompjs binaryBody, ${name})`, async () => {
      const open = (t: 'ws' | 'tcp') => (t === 'ws' ? stompjs.ws(router.stompWsUrl) : stompjs.tcp(router.stompPort));
      const { client: pub } = await open(sender);
      const { client: sub } = await open(receiver);
      const body = randomBytes(1024 * 1024);
      body[0] = 0;
      body[body.length - 1] = 0;
      body.fill(0, 1000, 2000);
      const topic = new Inbox();
      await subscribeConfirmed(sub, `/topic/frames.big.${sender}`, topic, { id: 'big-topic' });
      await withReceipt(pub, 'a 1 MiB SEND to a topic', (receipt) =>
        pub.publish({
          destination: `/topic/frames.big.${sender}`,
          binaryBody: body,
          headers: { receipt, 'content-type': 'application/octet-stream' },
        }),
      );
      await withReceipt(pub, 'a 1 MiB SEND to a queue', (receipt) =>
        pub.publish({ destination: `/queue/frames.big.${sender}`, binaryBody: body, headers: { receipt } }),
      );
      const queue = new Inbox();
      sub.subscribe(`/queue/frames.big.${sender}`, queue.push, { id: 'big-queue' });
      const [t] = await topic.count(1, '1 MiB topic message', WAIT_MS * 2);
      const [q] = await queue.count(1, '1 MiB queue message', WAIT_MS * 2);
      for (const [what, m] of [
        ['topic', t],
        ['queue', q],
      ] as const) {
        assert.ok(m, what);
        assert.equal(m.headers['content-length'], String(body.length), what);
        assert.equal(m.binaryBody.length, body.length, what);
        assert.ok(Buffer.from(m.binaryBody).equals(body), `${what}: the bytes are the same`);
      }
      assert.equal(t?.headers['content-type'], 'application/octet-stream');
    });
  }
});
