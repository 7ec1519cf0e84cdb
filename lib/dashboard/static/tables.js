// The Tables view: lists the aggregate engine's tables and follows the selected one
// over its change feed (`<topic>.changes`, subscribed with `retained: true`, so the
// current rows arrive first and then every change, without a gap).

import { describeError, resultValue } from './connection.js';
import { byId, h } from './dom.js';
import { TableView } from './table-view.js';

const state = {
  session: null,
  tables: [],
  /** name of the table the page follows (from the URL's #table=name) */
  selected: null,
  view: null,
  subscription: null,
  /** bumped by every follow(): events and subscriptions of an older one are dropped */
  generation: 0,
};

function selectedFromHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  return params.get('table');
}

function tableStatus(text) {
  byId('table-status').textContent = text;
}

function renderTableList() {
  const list = byId('table-list');
  byId('tables-empty').hidden = state.tables.length > 0;
  list.replaceChildren(
    ...state.tables.map((t) => {
      const current = t.name === state.selected;
      const button = h(
        'button',
        { type: 'button', class: 'table-button', 'data-table': t.name, 'aria-current': current ? 'true' : undefined },
        h('span', { class: 'table-name' }, t.name),
        h('span', { class: t.aggregate ? 'badge aggregate' : 'badge' }, t.aggregate ? 'aggregate' : 'source'),
      );
      button.addEventListener('click', () => {
        window.location.hash = new URLSearchParams({ table: t.name }).toString();
      });
      return h('li', {}, button);
    }),
  );
}

async function loadTables(session) {
  const empty = byId('tables-empty');
  try {
    const result = resultValue(await session.call('gatehouse.table.list'));
    state.tables = Array.isArray(result?.tables) ? result.tables : [];
    empty.textContent = 'No tables are defined.';
  } catch (err) {
    state.tables = [];
    // no callee for the table procedures: the router runs no aggregate engine; say how to
    // turn it on rather than showing the raw error URI
    empty.textContent =
      err && err.error === 'wamp.error.no_such_procedure'
        ? 'This router has no aggregate tables. Start it with --aggregates DIR (or aggregate.dir in the config file) pointing at a folder of table definitions; see "Aggregate tables" in the README.'
        : `Cannot list the tables: ${describeError(err)}`;
  }
  renderTableList();
}

async function unfollow() {
  const sub = state.subscription;
  state.subscription = null;
  if (sub && state.session) {
    try {
      await state.session.unsubscribe(sub);
    } catch {
      // the session may be gone already; nothing to undo then
    }
  }
}

/** Shows the selected table and subscribes to its change feed. */
async function follow() {
  const generation = ++state.generation;
  await unfollow();
  if (generation !== state.generation) return;
  const table = state.tables.find((t) => t.name === state.selected);
  if (!table) {
    state.view = null;
    byId('table-view').hidden = true;
    byId('placeholder').hidden = false;
    byId('placeholder').textContent = state.selected ? `There is no table "${state.selected}".` : 'Select a table to follow it live.';
    return;
  }
  if (!state.view || state.view.table.name !== table.name) state.view = new TableView(table);
  // the feed replays every current row: start from none so deleted rows do not linger
  state.view.clear();
  const view = state.view;
  const session = state.session;
  if (!session) return;
  try {
    const sub = await session.subscribe(
      `${table.topic}.changes`,
      (args, kwargs) => {
        if (generation !== state.generation) return; // an event for a table no longer shown
        const change = kwargs && Object.keys(kwargs).length > 0 ? kwargs : args[0];
        if (change && typeof change === 'object') view.apply(change);
      },
      { retained: true },
    );
    if (generation === state.generation && state.session === session) state.subscription = sub;
    else await session.unsubscribe(sub);
  } catch (err) {
    tableStatus(`Cannot follow ${table.name}: ${describeError(err)}`);
  }
}

export const tablesView = {
  init() {
    byId('chart-field').addEventListener('change', (e) => state.view?.chart(e.target.value));
  },
  /** the URL changed while the view is shown: maybe another table */
  route() {
    const selected = selectedFromHash();
    if (selected === state.selected) return;
    state.selected = selected;
    renderTableList();
    if (state.session) void follow();
  },
  async start(session) {
    state.selected = selectedFromHash();
    state.session = session;
    await loadTables(session);
    await follow();
  },
  stop() {
    state.generation++;
    void unfollow();
    state.session = null;
  },
  lost() {
    state.generation++;
    state.session = null;
    state.subscription = null;
    if (state.view) tableStatus('not connected: the rows shown may be out of date');
  },
};
