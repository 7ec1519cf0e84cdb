// A STOMP connection holds bounded memory in transactions (issue 16 item 4): frames kept
// for COMMIT count against stomp.limits.maxTransactionBytes (all transactions of one
// connection together) and stomp.limits.maxTransactionBytesTotal (all STOMP connections
// of the router). A frame past either gets ERROR "limit exceeded" with its receipt-id
// and the connection closes, releasing what it held; each refusal is counted in
// gatehouse_limit_hits_total. Other clients go on; released bytes can be held again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Inbox,
  RawClients,
  rawHeader,
  sendWithReceipt,
  StompjsClients,
  subscribeConfirmed,
  type RawFrame,
  type RawStomp,
  type StompClient,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

const PER_CONNECTION = 1024 * 1024;
const TOTAL = 2 * 1024 * 1024;
/** one SEND's body: three fit under PER_CONNECTION, a fourth does not */
const BODY = Buffer.alloc(256 * 1024, 0x61);
const TOPIC = '/topic/txmem.events';

let router: TestRouter;
const raws = new RawClients();
const stompjs = new StompjsClients();
let watcher: StompClient;
const seen = new Inbox();

before(async () => {
  router = await startRouter({
    mqtt: { sysIntervalSeconds: 0 },
    // per transaction (limits.outboundQueueBytes) stays above the per-connection bound
    stomp: { limits: { maxTransactionBytes: PER_CONNECTION, maxTransactionBytesTotal: TOTAL } },
  });
  ({ client: watcher } = await stompjs.tcp(router.stompPort));
  await subscribeConfirmed(watcher, TOPIC, seen);
});
after(async () => {
  raws.closeAll();
  await stompjs.closeAll();
  await router.close();
});

async function limitHits(limit: string): Promise<number> {
  const text = await router.router.metrics.render();
  const line = text.split('\n').find((l) => l.startsWith(`gatehouse_limit_hits_total{gate="stomp",limit="${limit}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

let names = 0;

/**
 * Opens transactions on `raw`, one big SEND (with a receipt) in each, until `max` are
 * kept or an ERROR comes. Returns the transactions kept and the ERROR with the receipt
 * id of the SEND it answers.
 */
async function holdUntilRefused(
  raw: RawStomp,
  max: number,
): Promise<{ kept: string[]; error?: RawFrame; refusedReceipt?: string }> {
  const kept: string[] = [];
  for (let i = 0; i < max; i++) {
    const tx = `tx-${++names}`;
    await raw.request('BEGIN', { transaction: tx });
    const receipt = `send-${tx}`;
    raw.send('SEND', { destination: TOPIC, transaction: tx, receipt, 'content-length': String(BODY.length) }, BODY);
    const f = await raw.expect(
      (x) => (x.command === 'RECEIPT' && rawHeader(x, 'receipt-id') === receipt) || x.command === 'ERROR',
      `RECEIPT or ERROR for ${receipt}`,
    );
    if (f.command === 'ERROR') return { kept, error: f, refusedReceipt: receipt };
    kept.push(tx);
  }
  return { kept };
}

function assertRefused(r: { error?: RawFrame; refusedReceipt?: string }, config: RegExp): RawFrame {
  const err = r.error;
  assert.ok(err, 'an ERROR frame');
  assert.equal(rawHeader(err, 'message'), 'limit exceeded');
  assert.equal(rawHeader(err, 'receipt-id'), r.refusedReceipt, 'the ERROR names the refused SEND by its receipt');
  assert.match(err.body.toString(), config);
  return err;
}

describe('stomp transaction memory bounds', () => {
  it('stomp - a connection opening transaction after transaction of big SENDs gets ERROR past stomp.limits.maxTransactionBytes; others go on', async () => {
    const before = await limitHits('transaction_bytes');
    const { raw } = await raws.connect(router.stompPort);
    const r = await holdUntilRefused(raw, 20);
    assertRefused(r, /stomp\.limits\.maxTransactionBytes\)/);
    assert.equal(r.kept.length, 3, `${r.kept.length} SENDs of ${BODY.length} octets kept under ${PER_CONNECTION}`);
    await raw.waitClosed('the connection closes after the ERROR');
    assert.equal(await limitHits('transaction_bytes'), before + 1, 'the refusal is counted');

    // another client is unaffected; nothing of the refused connection's transactions was delivered
    await sendWithReceipt(watcher, TOPIC, 'after the refusal');
    await seen.count(1, 'the other client publishes and receives');
    assert.deepEqual(seen.bodies(), ['after the refusal']);
    seen.messages.length = 0;
  });

  it('stomp - several connections together trip stomp.limits.maxTransactionBytesTotal; COMMIT, ABORT and close release what they held', async () => {
    const before = await limitHits('transaction_bytes_total');
    const { raw: a } = await raws.connect(router.stompPort);
    const { raw: b } = await raws.connect(router.stompPort);
    const { raw: c } = await raws.connect(router.stompPort);
    // A and B stay under their own bound: 3 x 256 KiB each, ~1.5 MiB of the router's 2 MiB
    const heldA = await holdUntilRefused(a, 3);
    const heldB = await holdUntilRefused(b, 3);
    assert.equal(heldA.kept.length, 3, 'A holds 3');
    assert.equal(heldB.kept.length, 3, 'B holds 3');
    // C has room of its own, but the router has not
    const r = await holdUntilRefused(c, 3);
    assertRefused(r, /stomp\.limits\.maxTransactionBytesTotal\)/);
    assert.ok(r.kept.length < 3, `C kept ${r.kept.length} before the router-wide bound`);
    await c.waitClosed('C closes after the ERROR');
    assert.equal(await limitHits('transaction_bytes_total'), before + 1, 'the refusal is counted');
    assert.equal(a.isClosed || b.isClosed, false, 'A and B keep their connections');

    // A commits: its messages are delivered and its bytes released; B aborts
    for (const tx of heldA.kept) await a.request('COMMIT', { transaction: tx });
    await seen.count(3, "A's committed SENDs");
    for (const tx of heldB.kept) await b.request('ABORT', { transaction: tx });
    // A, B and C released everything: fresh connections hold exactly as much as at first
    let refilled = 0;
    for (;;) {
      const { raw } = await raws.connect(router.stompPort);
      const held = await holdUntilRefused(raw, 3);
      refilled += held.kept.length;
      if (held.error) {
        assertRefused(held, /stomp\.limits\.maxTransactionBytesTotal\)/);
        break;
      }
    }
    assert.equal(refilled, 6 + r.kept.length, 'the router-wide budget is whole again');
    await seen.quiet(3, 100, 'nothing aborted or uncommitted is delivered');
  });
});
