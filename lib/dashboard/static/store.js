// The Retained store view: keys by pattern, a page at a time (gatehouse.store.list with
// `after` the last key of the page before), a key's value, revision and time to live,
// and deleting a key (gatehouse.store.delete; the router logs who did it).

import { describeError } from './connection.js';
import { byId, h } from './dom.js';
import { callValue, clearProblem, formatDuration, isRefusal, preview, showProblem } from './ui.js';

const PAGE = 50;

const state = { session: null, after: undefined, next: null, entries: [], selected: null, generation: 0 };

function refusalNode() {
  return byId('view-store').querySelector('.refusal');
}

function status(text, outcome) {
  const node = byId('store-status');
  node.textContent = text;
  node.dataset.outcome = outcome;
}

function ttl(e) {
  return e.expiresAt === undefined ? 'none' : formatDuration(e.expiresAt - Date.now());
}

function renderDetail() {
  const e = state.entries.find((x) => x.key === state.selected);
  byId('store-detail').hidden = !e;
  if (!e) return;
  byId('store-detail-key').textContent = e.key;
  byId('store-detail-meta').textContent = `revision ${e.revision}, TTL ${ttl(e)}${e.headers && Object.keys(e.headers).length > 0 ? `, headers ${JSON.stringify(e.headers)}` : ''}`;
  byId('store-detail-value').textContent = typeof e.value === 'string' ? e.value : JSON.stringify(e.value, null, 2);
}

function render() {
  byId('store').tBodies[0].replaceChildren(
    ...state.entries.map((e) => {
      const del = h('button', { type: 'button', class: 'danger small', 'data-delete': e.key }, 'Delete');
      del.addEventListener('click', (ev) => {
        ev.stopPropagation();
        void remove(e.key);
      });
      const tr = h(
        'tr',
        { 'data-key': e.key, class: e.key === state.selected ? 'selected' : undefined },
        h('td', {}, e.key),
        h('td', { class: 'value' }, preview(e.value)),
        h('td', { class: 'num' }, String(e.revision)),
        h('td', {}, ttl(e)),
        h('td', {}, del),
      );
      tr.addEventListener('click', () => {
        state.selected = e.key;
        render();
      });
      return tr;
    }),
  );
  byId('store-empty').hidden = state.entries.length > 0;
  byId('store-next').disabled = state.next === null;
  renderDetail();
}

async function load(after) {
  const session = state.session;
  if (!session) return;
  const generation = ++state.generation;
  const pattern = byId('store-pattern').value.trim();
  const options = { match: byId('store-match').value, limit: PAGE };
  if (after !== undefined) options.after = after;
  try {
    const page = await callValue(session, 'gatehouse.store.list', [pattern, options]);
    if (generation !== state.generation) return;
    state.after = after;
    state.entries = page?.entries ?? [];
    state.next = page?.next ?? null;
    clearProblem(refusalNode());
  } catch (err) {
    if (generation !== state.generation) return;
    state.entries = [];
    state.next = null;
    showProblem(refusalNode(), err, 'list the retained keys (gatehouse.store.list)');
  }
  render();
}

async function remove(key) {
  const session = state.session;
  if (!session) return;
  try {
    const result = await callValue(session, 'gatehouse.store.delete', [key]);
    status(result === null ? `${key} was already gone.` : `Deleted ${key}.`, 'ok');
    if (state.selected === key) state.selected = null;
  } catch (err) {
    status(isRefusal(err) ? `Not authorized to delete ${key}: ${describeError(err)}` : `Cannot delete ${key}: ${describeError(err)}`, isRefusal(err) ? 'refused' : 'error');
  }
  await load(state.after);
}

export const storeView = {
  init() {
    byId('store-form').addEventListener('submit', (e) => {
      e.preventDefault();
      state.selected = null;
      void load(undefined);
    });
    byId('store-first').addEventListener('click', () => void load(undefined));
    byId('store-next').addEventListener('click', () => {
      if (state.next !== null) void load(state.next);
    });
  },
  async start(session) {
    state.session = session;
    await load(state.after);
  },
  stop() {
    state.generation++;
    state.session = null;
  },
  lost() {
    this.stop();
  },
};
