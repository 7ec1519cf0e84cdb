// Meta-event subscriptions of a view, undone together when the view stops, and the state
// of a view that lists entries kept live by such events.

/** Subscribes `handlers` ({ topic: fn(args, kwargs) }) on `session`; resolves to an undo function. */
export async function subscribeAll(session, handlers) {
  const subs = await Promise.all(Object.entries(handlers).map(([topic, fn]) => session.subscribe(topic, (args, kwargs) => fn(args ?? [], kwargs ?? {}))));
  return () => {
    for (const sub of subs) {
      session.unsubscribe(sub).catch(() => undefined); // the session may be gone already
    }
  };
}

/**
 * What a live list view keeps: its session, its rows, the undo of its subscriptions, a
 * generation that voids the answers to an earlier start(), and while the first list is
 * read (`loading`) the entries removed meanwhile, not to be added back from that list.
 */
export function listState(fields = {}) {
  return { session: null, rows: new Map(), undo: null, generation: 0, loading: false, removedWhileLoading: new Set(), ...fields };
}

/** The view stops: its subscriptions are undone and its rows dropped. */
export function stopList(state) {
  state.generation++;
  state.loading = false;
  state.removedWhileLoading.clear();
  state.undo?.();
  state.undo = null;
  state.session = null;
  state.rows.clear();
}

/** The connection is gone (and its subscriptions with it): answers still due are void. */
export function loseList(state) {
  state.generation++;
  state.undo = null;
  state.session = null;
}
