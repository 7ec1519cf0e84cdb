// The admin console names durable queues by the store's queue names
// (`<kind>:<realm length>:<realm>:<name>`, lib/work-queues.ts and the MQTT gate's
// session records): the realm's length keeps a realm or a name holding ':' unambiguous.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQueueName } from '../../lib/admin-stats';
import { WorkQueues } from '../../lib/work-queues';

test('admin - queue names parse back to kind, realm and name, colons included', () => {
  for (const a of [
    { kind: 'queue', realm: 'realm1', name: 'jobs' },
    { kind: 'durable', realm: 'a:b', name: 'x:y:z' },
    { kind: 'temp', realm: '', name: 'reply' },
  ] as const) {
    assert.deepEqual(parseQueueName(WorkQueues.storeName(a)), { ...a });
  }
  assert.deepEqual(parseQueueName('mqtt:6:realm1:client:7'), { kind: 'mqtt', realm: 'realm1', name: 'client:7' });
});

test('admin - names not in that form are not taken for queues', () => {
  for (const bad of ['', 'queue', 'queue:x:realm1:jobs', 'queue:9:realm1:jobs', 'queue:3:realm1:jobs', 'Queue:6:realm1:jobs']) {
    assert.equal(parseQueueName(bad), undefined, bad);
  }
});
