// Meta-event subscriptions of a view, undone together when the view stops.

/** Subscribes `handlers` ({ topic: fn(args, kwargs) }) on `session`; resolves to an undo function. */
export async function subscribeAll(session, handlers) {
  const subs = await Promise.all(Object.entries(handlers).map(([topic, fn]) => session.subscribe(topic, (args, kwargs) => fn(args ?? [], kwargs ?? {}))));
  return () => {
    for (const sub of subs) {
      session.unsubscribe(sub).catch(() => undefined); // the session may be gone already
    }
  };
}
