import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStores } from '../../lib/store';
import { MailboxLinkQueue, type LinkDropReason } from '../../lib/links/link-queue';
import { Mailboxes } from '../../lib/mailbox/mailboxes';
import type { LinkMessage } from '../../lib/links/transport';

const msg = (i: number, extra: Partial<LinkMessage> = {}): LinkMessage => ({
  topic: 'q.t',
  payload: { args: [i] },
  retain: false,
  messageId: `n:${i}`,
  ...extra,
});

async function queue(limits: { maxMessages?: number; maxBytes?: number; expirySeconds?: number } = {}) {
  const { retained, queues } = createStores({ engine: 'sqlite', path: ':memory:', synchronous: 'normal' });
  await retained.open();
  await queues.open();
  // every kind's default: the link opens its mailbox with a policy of its own
  const mailboxes = new Mailboxes({
    store: queues,
    policy: () => ({ maxMessages: 1, maxBytes: 1, whenFull: 'reject', gate: 'test' }),
  });
  const q = new MailboxLinkQueue(mailboxes, 't', { maxMessages: 100, maxBytes: 1 << 20, expirySeconds: 0, ...limits });
  const drops: [LinkDropReason, number][] = [];
  q.onDrop = (reason, n) => drops.push([reason, n]);
  return {
    q,
    drops,
    close: () => {
      mailboxes.close();
      return Promise.all([queues.close(), retained.close()]);
    },
  };
}

test('link queue - keeps messages in order with their id, retain flag and headers until acked', async () => {
  const { q, close } = await queue();
  try {
    const a = q.append(msg(1, { retain: true, headers: { contentType: 'text/plain' } }));
    const b = q.append(msg(2));
    await Promise.all([a.durable, b.durable]);
    const got = q.peek(0, 10);
    assert.deepEqual(
      got.map((m) => m.message),
      [msg(1, { retain: true, headers: { contentType: 'text/plain' } }), msg(2)],
    );
    assert.deepEqual(
      q.peek(a.seq, 10).map((m) => m.seq),
      [b.seq],
    );
    q.ack(a.seq);
    assert.equal(q.depth, 1);
  } finally {
    await close();
  }
});

test('link queue - a full queue drops its oldest; dropOldest and a message larger than the queue are counted too', async () => {
  const { q, drops, close } = await queue({ maxMessages: 2, maxBytes: 200 });
  try {
    for (let i = 1; i <= 3; i++) q.append(msg(i));
    assert.deepEqual(
      q.peek(0, 10).map((m) => m.message.payload.args?.[0]),
      [2, 3],
    );
    assert.equal(q.dropOldest(1), 1);
    assert.deepEqual(
      q.peek(0, 10).map((m) => m.message.payload.args?.[0]),
      [3],
    );
    const big = q.append({ ...msg(4), payload: { args: ['x'.repeat(500)] } });
    assert.equal(big.seq, 0);
    await big.durable;
    assert.deepEqual(drops, [
      ['full', 1],
      ['full', 1],
      ['too_large', 1],
    ]);
  } finally {
    await close();
  }
});

test('link queue - messages older than expirySeconds are dropped by expire(), counted', async () => {
  const { q, drops, close } = await queue({ expirySeconds: 60 });
  try {
    q.append(msg(1));
    q.append(msg(2));
    assert.equal(q.expire(Date.now()), 0);
    assert.equal(q.expire(Date.now() + 61_000), 2);
    assert.equal(q.depth, 0);
    assert.deepEqual(drops, [['expired', 2]]);
  } finally {
    await close();
  }
});
