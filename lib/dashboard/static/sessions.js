// The Sessions view: every session of the realm, whatever its protocol, kept live by
// wamp.session.on_join / on_leave; the selected one's subscriptions and registrations
// (gatehouse.admin.session.get, refreshed on the subscription and registration meta
// events that name it), and a kick with a reason (gatehouse.admin.session.kick).

import { describeError } from './connection.js';
import { byId, h } from './dom.js';
import { listState, loseList, stopList, subscribeAll } from './live.js';
import { callValue, clearProblem, formatCount, formatTime, isRefusal, mapLimited, showProblem } from './ui.js';

const state = listState({ selected: null });
/** sessions that left while the first list was being read: not to be added back from it */
const leftWhileLoading = state.removedWhileLoading;

function refusalNode() {
  return byId('view-sessions').querySelector('.refusal');
}

function row(d) {
  const t = d.transport ?? {};
  const tr = h(
    'tr',
    { 'data-session': d.session, 'data-gate': t.gate ?? '', class: d.session === state.selected ? 'selected' : undefined },
    h('td', { class: 'num' }, String(d.session)),
    h('td', {}, t.gate ?? ''),
    h('td', {}, [t.type, t.protocol].filter(Boolean).join(' ')),
    h('td', {}, t.peer ?? ''),
    h('td', { 'data-field': 'authid' }, d.authid ?? ''),
    h('td', {}, d.authrole ?? ''),
    h('td', {}, d.realm ?? ''),
    h('td', {}, d.joined ? formatTime(d.joined) : '', d.offline ? h('span', { class: 'badge offline' }, 'offline') : null),
  );
  tr.addEventListener('click', () => select(d.session));
  return tr;
}

function renderList() {
  const ids = [...state.rows.keys()].sort((a, b) => a - b);
  byId('sessions').tBodies[0].replaceChildren(...ids.map((id) => row(state.rows.get(id))));
  byId('sessions-empty').hidden = ids.length > 0;
}

function field(name, value) {
  return [h('dt', {}, name), h('dd', { 'data-field': name }, value)];
}

function uriItems(list) {
  if (list.length === 0) return [h('li', { class: 'muted' }, 'none')];
  return list.map((x) => h('li', { 'data-uri': x.uri }, x.uri, ' ', h('span', { class: 'badge' }, x.match)));
}

async function renderDetail() {
  const id = state.selected;
  const panel = byId('session-detail');
  const d = id === null ? undefined : state.rows.get(id);
  if (!d) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  panel.dataset.session = String(id);
  byId('session-detail-id').textContent = String(id);
  const t = d.transport ?? {};
  byId('session-detail-fields').replaceChildren(
    ...field('gate', t.gate ?? ''),
    ...field('transport', [t.type, t.protocol].filter(Boolean).join(' ')),
    ...field('peer', t.peer ?? ''),
    ...field('authid', d.authid ?? ''),
    ...field('role', d.authrole ?? ''),
    ...field('auth method', d.authmethod ?? ''),
    ...field('connected since', d.joined ? formatTime(d.joined) : ''),
    ...field('state', d.offline ? 'offline (kept for its client)' : 'connected'),
    // filled in from gatehouse.admin.session.get below
    ...field('messages in', '…'),
    ...field('messages out', '…'),
  );
  const refusal = byId('session-detail-refusal');
  const session = state.session;
  if (!session) return;
  try {
    const full = await callValue(session, 'gatehouse.admin.session.get', [id]);
    if (state.selected !== id) return;
    clearProblem(refusal);
    const fields = byId('session-detail-fields');
    fields.querySelector('[data-field="messages in"]').textContent = formatCount(full.messagesIn ?? 0);
    fields.querySelector('[data-field="messages out"]').textContent = formatCount(full.messagesOut ?? 0);
    byId('session-detail-subs').replaceChildren(...uriItems(full.subscriptions ?? []));
    byId('session-detail-regs').replaceChildren(...uriItems(full.registrations ?? []));
  } catch (err) {
    if (state.selected !== id) return;
    byId('session-detail-subs').replaceChildren();
    byId('session-detail-regs').replaceChildren();
    if (err?.error !== 'wamp.error.no_such_session') showProblem(refusal, err, 'see its subscriptions and registrations (gatehouse.admin.session.get)');
  }
}

function select(id) {
  state.selected = id;
  byId('kick-status').textContent = '';
  for (const tr of byId('sessions').tBodies[0].rows) tr.classList.toggle('selected', Number(tr.dataset.session) === id);
  void renderDetail();
}

async function kick(event) {
  event.preventDefault();
  const id = state.selected;
  const status = byId('kick-status');
  if (id === null || !state.session) return;
  const message = byId('kick-reason').value;
  try {
    await state.session.call('gatehouse.admin.session.kick', [id], { message });
    status.dataset.outcome = 'ok';
    status.textContent = `Session ${id} was kicked.`;
  } catch (err) {
    status.dataset.outcome = isRefusal(err) ? 'refused' : 'error';
    status.textContent = isRefusal(err)
      ? `Not authorized to kick: your role lacks the permission (${describeError(err)}).`
      : `Cannot kick session ${id}: ${describeError(err)}`;
  }
}

export const sessionsView = {
  init() {
    byId('kick-form').addEventListener('submit', (e) => void kick(e));
  },
  async start(session) {
    this.stop();
    const generation = state.generation;
    state.loading = true;
    state.session = session;
    const onChange = (args) => {
      if (args[0] === state.selected) void renderDetail();
    };
    try {
      // events first, then the list: a session joining in between is not missed
      const undo = await subscribeAll(session, {
        'wamp.session.on_join': (args) => {
          const d = args[0];
          if (!d || typeof d.session !== 'number') return;
          state.rows.set(d.session, d);
          renderList();
        },
        'wamp.session.on_leave': (args) => {
          if (state.loading) leftWhileLoading.add(args[0]);
          state.rows.delete(args[0]);
          renderList();
          if (args[0] === state.selected) void renderDetail();
        },
        'wamp.subscription.on_subscribe': onChange,
        'wamp.subscription.on_unsubscribe': onChange,
        'wamp.registration.on_register': onChange,
        'wamp.registration.on_unregister': onChange,
      });
      if (generation !== state.generation) return undo();
      // Gatehouse's own event: a session went offline (MQTT persistent session) or came
      // back. Optional: a role that may not subscribe to it still gets the list
      const undoUpdates = await subscribeAll(session, {
        'gatehouse.admin.session.on_update': (args) => {
          const d = args[0];
          if (!d || !state.rows.has(d.session)) return;
          state.rows.set(d.session, d);
          renderList();
          if (d.session === state.selected) void renderDetail();
        },
      }).catch(() => () => undefined);
      if (generation !== state.generation) {
        undoUpdates();
        return undo();
      }
      state.undo = () => {
        undo();
        undoUpdates();
      };
      const ids = await callValue(session, 'wamp.session.list');
      const details = await mapLimited(ids, 32, (id) => callValue(session, 'wamp.session.get', [id]).catch(() => null));
      if (generation !== state.generation) return undefined;
      // an entry already there came from on_join or on_update, which are newer
      for (const d of details) if (d && !leftWhileLoading.has(d.session) && !state.rows.has(d.session)) state.rows.set(d.session, d);
      leftWhileLoading.clear();
      state.loading = false;
      clearProblem(refusalNode());
      renderList();
      if (state.selected !== null) void renderDetail();
    } catch (err) {
      state.loading = false;
      leftWhileLoading.clear();
      showProblem(refusalNode(), err, 'list the sessions (wamp.session.list, wamp.session.get)');
    }
    return undefined;
  },
  stop() {
    stopList(state);
  },
  lost() {
    loseList(state);
  },
};
