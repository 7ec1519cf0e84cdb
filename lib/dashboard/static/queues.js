// The Queues view: STOMP work queues, durable subscriptions and MQTT offline queues of
// the realm that hold messages, with depth, bytes, the oldest message's age and consumers
// (gatehouse.admin.queue.list: queues have no meta events, so it is asked every 2 s
// while the view is shown), and purging one (gatehouse.admin.queue.purge).

import { describeError } from './connection.js';
import { byId, h } from './dom.js';
import { callValue, clearProblem, every, formatBytes, formatCount, formatDuration, isRefusal, showProblem } from './ui.js';

const PERIOD_MS = 2000;
const KINDS = { queue: 'STOMP queue', durable: 'STOMP durable subscription', temp: 'STOMP temporary queue', mqtt: 'MQTT offline session' };

const state = { session: null, stop: null };

function refusalNode() {
  return byId('view-queues').querySelector('.refusal');
}

function status(text, outcome) {
  const node = byId('queues-status');
  node.textContent = text;
  node.dataset.outcome = outcome;
}

async function purge(q) {
  const session = state.session;
  if (!session) return;
  try {
    const result = await callValue(session, 'gatehouse.admin.queue.purge', [q.kind, q.name]);
    status(`Purged ${formatCount(result?.purged ?? 0)} messages from ${q.name}.`, 'ok');
  } catch (err) {
    status(isRefusal(err) ? `Not authorized to purge ${q.name}: ${describeError(err)}` : `Cannot purge ${q.name}: ${describeError(err)}`, isRefusal(err) ? 'refused' : 'error');
  }
  await refresh();
}

function render(queues) {
  byId('queues').tBodies[0].replaceChildren(
    ...queues.map((q) => {
      const button = h('button', { type: 'button', class: 'danger small', 'data-purge': `${q.kind}:${q.name}` }, 'Purge');
      button.addEventListener('click', () => void purge(q));
      return h(
        'tr',
        { 'data-kind': q.kind, 'data-queue': q.name },
        h('td', {}, KINDS[q.kind] ?? q.kind),
        h('td', {}, q.name),
        h('td', { class: 'num', 'data-field': 'messages' }, formatCount(q.messages)),
        h('td', { class: 'num' }, formatBytes(q.bytes)),
        h('td', {}, formatDuration(q.oldestAgeMs)),
        h('td', { class: 'num', 'data-field': 'consumers' }, formatCount(q.consumers ?? 0)),
        h('td', {}, button),
      );
    }),
  );
  byId('queues-empty').hidden = queues.length > 0;
}

async function refresh() {
  const session = state.session;
  if (!session) return;
  try {
    const queues = await callValue(session, 'gatehouse.admin.queue.list');
    if (state.session !== session) return;
    clearProblem(refusalNode());
    render(Array.isArray(queues) ? queues : []);
  } catch (err) {
    showProblem(refusalNode(), err, 'list the queues (gatehouse.admin.queue.list)');
  }
}

export const queuesView = {
  start(session) {
    this.stop();
    state.session = session;
    state.stop = every(PERIOD_MS, refresh);
  },
  stop() {
    state.stop?.();
    state.stop = null;
    state.session = null;
  },
  lost() {
    this.stop();
  },
};
