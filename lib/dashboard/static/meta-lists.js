// The Subscriptions and Registrations views: every topic subscription and procedure
// registration of the realm with its match policy and how many sessions share it, from
// the WAMP meta API (wamp.subscription.* / wamp.registration.*: list, get, count), kept
// live by its on_create / on_delete and on_(un)subscribe / on_(un)register events.

import { byId, h } from './dom.js';
import { listState, loseList, stopList, subscribeAll } from './live.js';
import { callValue, clearProblem, formatCount, formatTime, mapLimited, showProblem } from './ui.js';

function metaList(kind, { join, leave, counter }) {
  const name = `${kind}s`;
  const state = listState();
  /** entries deleted while the first list was read: not to be added back from it */
  const deletedWhileLoading = state.removedWhileLoading;
  const refusalNode = () => byId(`view-${name}`).querySelector('.refusal');

  const render = () => {
    const rows = [...state.rows.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : a.id - b.id));
    byId(name).tBodies[0].replaceChildren(
      ...rows.map((r) =>
        h(
          'tr',
          { 'data-id': r.id, 'data-uri': r.uri },
          h('td', {}, r.uri),
          h('td', {}, r.match),
          h('td', { class: 'num', 'data-field': 'count' }, formatCount(r.count ?? 0)),
          h('td', {}, formatTime(r.created)),
        ),
      ),
    );
  };

  /** re-reads one entry's count (its sharers changed); gone entries drop out */
  const refresh = async (session, id) => {
    const generation = state.generation;
    try {
      const count = await callValue(session, `wamp.${kind}.${counter}`, [id]);
      if (generation !== state.generation) return;
      const r = state.rows.get(id);
      if (r) r.count = count;
    } catch {
      if (generation === state.generation) state.rows.delete(id);
    }
    render();
  };

  return {
    async start(session) {
      this.stop();
      const generation = state.generation;
      state.loading = true;
      state.session = session;
      try {
        const undo = await subscribeAll(session, {
          [`wamp.${kind}.on_create`]: (args) => {
            const d = args[1];
            if (d && typeof d.id === 'number') state.rows.set(d.id, { ...d, count: state.rows.get(d.id)?.count ?? 0 });
            render();
          },
          [`wamp.${kind}.on_${join}`]: (args) => void refresh(session, args[1]),
          [`wamp.${kind}.on_${leave}`]: (args) => void refresh(session, args[1]),
          [`wamp.${kind}.on_delete`]: (args) => {
            if (state.loading) deletedWhileLoading.add(args[1]);
            state.rows.delete(args[1]);
            render();
          },
        });
        if (generation !== state.generation) return undo();
        state.undo = undo;
        const lists = await callValue(session, `wamp.${kind}.list`);
        const ids = Object.values(lists ?? {}).flat();
        const entries = await mapLimited(ids, 16, async (id) => {
          try {
            const [d, count] = await Promise.all([callValue(session, `wamp.${kind}.get`, [id]), callValue(session, `wamp.${kind}.${counter}`, [id])]);
            return { ...d, count };
          } catch {
            return null; // deleted meanwhile
          }
        });
        if (generation !== state.generation) return undefined;
        // an entry already there came from on_create, which is newer
        for (const e of entries) if (e && !deletedWhileLoading.has(e.id) && !state.rows.has(e.id)) state.rows.set(e.id, e);
        deletedWhileLoading.clear();
        state.loading = false;
        clearProblem(refusalNode());
        render();
      } catch (err) {
        state.loading = false;
        deletedWhileLoading.clear();
        showProblem(refusalNode(), err, `list the ${name} (wamp.${kind}.*)`);
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
}

export const subscriptionsView = metaList('subscription', { join: 'subscribe', leave: 'unsubscribe', counter: 'count_subscribers' });
export const registrationsView = metaList('registration', { join: 'register', leave: 'unregister', counter: 'count_callees' });
