// The durable mailbox service (lib/mailbox/): bounded per owner, peek then ack, the
// three full-mailbox policies, age expiry, drops counted per mailbox and in metrics, and
// what it holds survives a restart. On the real SQLite queue store, in a temporary folder.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { RouterError } from '../../lib/errors';
import { Mailboxes, type MailboxPolicy, type Owner, type OwnerKind } from '../../lib/mailbox';
import { Metrics } from '../../lib/metrics';
import { SqliteQueueStore, type QueueStore } from '../../lib/store';

const ROOMY: MailboxPolicy = { maxMessages: 1000, maxBytes: 1e9, whenFull: 'reject', gate: 'test' };
const link = (name: string): Owner => ({ kind: 'link', name });
const text = (s: string): { topic: string; payload: { bytes: Buffer } } => ({ topic: 't', payload: { bytes: Buffer.from(s) } });
const bodies = (ms: { payload: { bytes?: Uint8Array } }[]): string[] =>
  ms.map((m) => Buffer.from(m.payload.bytes ?? []).toString());

let dir: string;
let store: QueueStore;
let metrics: Metrics;

async function open(policy: (kind: OwnerKind) => MailboxPolicy = () => ROOMY): Promise<Mailboxes> {
  store = new SqliteQueueStore({ path: join(dir, 'q.db') });
  await store.open();
  return new Mailboxes({ store, policy, metrics });
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const data = await metrics.registry.getSingleMetric(name)?.get();
  let sum = 0;
  for (const v of data?.values ?? []) {
    const l = v.labels as Record<string, string | number | undefined>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-mailbox-'));
  metrics = new Metrics();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('mailboxes - peek then ack', () => {
  it('mailbox - append resolves when durable, peek reads without removing, ack removes; depth, bytes and age of the oldest', async () => {
    const boxes = await open();
    const a = link('a');
    const first = boxes.append(a, text('one'));
    boxes.append(a, text('two'));
    await first.committed;
    assert.deepEqual(bodies(boxes.peek(a, 10)), ['one', 'two']);
    assert.deepEqual(bodies(boxes.peek(a, 10)), ['one', 'two'], 'peek leaves them');
    assert.deepEqual(bodies(boxes.peek(a, 10, first.seq)), ['two'], 'after a seq');
    const d = boxes.depth(a);
    assert.equal(d.messages, 2);
    // topic + encoded payload, as the store counts them
    assert.equal(d.bytes, store.size('link:a').bytes);
    assert.ok(d.bytes >= 2 * 't'.length + 'one'.length + 'two'.length);
    assert.ok(d.oldestAt !== undefined && d.oldestAt <= Date.now());
    await boxes.ack(a, first.seq);
    assert.deepEqual(bodies(boxes.peek(a, 10)), ['two']);
    assert.equal(boxes.ack(a, first.seq), undefined, 'acked twice: nothing to do');
    assert.deepEqual(boxes.peek(link('b'), 10), [], 'owners do not share');
  });

  it('mailbox - what was appended and not acked is there after a restart; attrs marked stay with it', async () => {
    let boxes = await open();
    const a = link('a');
    const r = boxes.append(a, { ...text('kept'), attrs: { n: 1 } });
    boxes.append(a, text('acked'));
    await r.committed;
    await boxes.mark(a, r.seq, { n: 2 });
    const [, second] = boxes.peek(a, 2);
    await boxes.ack(a, second?.seq ?? 0);
    await store.close();
    boxes = await open();
    const [m, ...rest] = boxes.peek(a, 10);
    assert.deepEqual(bodies(m ? [m] : []), ['kept']);
    assert.deepEqual(m?.attrs, { n: 2 });
    assert.equal(rest.length, 0);
    assert.deepEqual(boxes.owners('link'), [a]);
  });
});

describe('mailboxes - when full', () => {
  it("mailbox - 'drop-oldest' drops the oldest to make room and counts it, per mailbox and in metrics", async () => {
    const boxes = await open();
    const a = link('a');
    boxes.open(a, { maxMessages: 2, maxBytes: 1e6, whenFull: 'drop-oldest', gate: 'links' });
    for (const s of ['1', '2', '3', '4']) boxes.append(a, text(s));
    assert.deepEqual(bodies(boxes.peek(a, 10)), ['3', '4']);
    assert.equal(boxes.dropped(a), 2);
    assert.equal(await metric('gatehouse_mailbox_dropped_total', { kind: 'link', reason: 'queue_full' }), 2);
    assert.equal(await metric('gatehouse_drops_total', { gate: 'links', reason: 'queue_full' }), 2);
    // by bytes as well; a message larger than the whole mailbox is the one dropped
    const probe = link('probe');
    boxes.append(probe, text('aaaa'));
    const one = boxes.size(probe).bytes;
    const b = link('b');
    boxes.open(b, { maxMessages: 100, maxBytes: Math.floor(one * 1.5), whenFull: 'drop-oldest', gate: 'links' });
    boxes.append(b, text('aaaa'));
    boxes.append(b, text('bbbb'));
    assert.deepEqual(bodies(boxes.peek(b, 10)), ['bbbb']);
    const huge = boxes.append(b, text('x'.repeat(100)));
    assert.equal(huge.accepted, false);
    assert.deepEqual(bodies(boxes.peek(b, 10)), ['bbbb']);
    assert.equal(boxes.dropped(b), 2);
  });

  it("mailbox - 'drop-newest' keeps what it has and drops the new message, counted; 'reject' throws limit_exceeded and counts nothing", async () => {
    const boxes = await open();
    const d = link('d');
    boxes.open(d, { maxMessages: 1, maxBytes: 1e6, whenFull: 'drop-newest', gate: 'queues' });
    assert.equal(boxes.append(d, text('kept')).accepted, true);
    const lost = boxes.append(d, text('lost'));
    assert.equal(lost.accepted, false);
    assert.equal(lost.dropped, 1);
    assert.deepEqual(bodies(boxes.peek(d, 10)), ['kept']);
    assert.equal(boxes.dropped(d), 1);

    const r = link('r');
    boxes.open(r, { maxMessages: 1, maxBytes: 1e6, whenFull: 'reject', gate: 'queues' });
    boxes.append(r, text('kept'));
    assert.throws(
      () => boxes.append(r, text('refused')),
      (err: unknown) => err instanceof RouterError && err.def.code === 'limit_exceeded',
    );
    assert.deepEqual(bodies(boxes.peek(r, 10)), ['kept']);
    assert.equal(boxes.dropped(r), 0);
  });

  it('mailbox - remove() empties a mailbox and keeps its own policy; discard() forgets the policy too', async () => {
    const boxes = await open();
    const a = link('a');
    boxes.open(a, { maxMessages: 1, maxBytes: 1e6, whenFull: 'drop-oldest', gate: 'links' });
    boxes.append(a, text('1'));
    boxes.append(a, text('2'));
    assert.equal(boxes.dropped(a), 1);
    await boxes.remove(a);
    assert.equal(boxes.size(a).messages, 0);
    assert.equal(boxes.dropped(a), 0, 'a fresh mailbox');
    assert.equal(boxes.policyOf(a).maxMessages, 1);
    await boxes.discard(a);
    assert.equal(boxes.policyOf(a).maxMessages, ROOMY.maxMessages, "its kind's again");
  });

  it('mailbox - without a policy of its own, an owner follows its kind, read at each append (a config reload)', async () => {
    let max = 1;
    const boxes = await open((kind) => ({ ...ROOMY, maxMessages: kind === 'queue' ? max : 1000 }));
    const q: Owner = { kind: 'queue', name: '6:realm1:jobs' };
    boxes.append(q, text('1'));
    assert.throws(() => boxes.append(q, text('2')));
    max = 2;
    boxes.append(q, text('2'));
    assert.equal(boxes.size(q).messages, 2);
  });
});

describe('mailboxes - age expiry', () => {
  afterEach(() => mock.timers.reset());

  it('mailbox - messages older than maxAgeMs are dropped and counted, at the next peek, append or sweep', async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const boxes = await open();
    const a = link('a');
    boxes.open(a, { ...ROOMY, whenFull: 'drop-oldest', maxAgeMs: 10_000 });
    boxes.append(a, text('old'));
    mock.timers.tick(6_000);
    boxes.append(a, text('younger'));
    mock.timers.tick(5_000);
    // 'old' is 11 s old, 'younger' 5 s
    assert.deepEqual(bodies(boxes.peek(a, 10)), ['younger']);
    assert.equal(boxes.dropped(a), 1);
    assert.equal(await metric('gatehouse_mailbox_dropped_total', { kind: 'link', reason: 'expired' }), 1);
    mock.timers.tick(6_000);
    assert.equal(boxes.sweep(), 1, 'the sweep drops what nobody read');
    assert.equal(boxes.size(a).messages, 0);
    assert.equal(boxes.depth(a).oldestAt, undefined);
    assert.equal(boxes.dropped(a), 2);
    boxes.close();
  });
});
