// The page's one WAMP session, over WebSocket to the router the page came from, with
// autobahn's reconnect. Reports its state so the page can show it.

/** ws://host/path or wss://host/path on the page's own origin. */
export function sameOriginUrl(path) {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}${path}`;
}

/**
 * A call's result as one value: autobahn gives a bare value for a single positional
 * result and an autobahn.Result for keyword results.
 */
export function resultValue(result) {
  if (result instanceof window.autobahn.Result) {
    return Object.keys(result.kwargs).length > 0 ? result.kwargs : result.args[0];
  }
  return result;
}

/** A WAMP error or any other failure as one line of text. */
export function describeError(err) {
  if (err && typeof err === 'object' && typeof err.error === 'string') {
    const detail = Array.isArray(err.args) && err.args.length > 0 ? `: ${String(err.args[0])}` : '';
    return `${err.error}${detail}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Seconds before the n-th own reconnect attempt (n from 0): 1, 1.5, 2.3, … up to 10. */
function backoff(n) {
  return Math.min(10, 1.5 ** n);
}

/**
 * Opens the connection. `onSession(session)` runs on every (re)join, `onLost()` when
 * the session is gone, `onState(state, text)` on every change: connecting | connected |
 * retrying | closed.
 *
 * autobahn retries by itself when the connection is lost or the router is unreachable,
 * but not after the router ended the session (GOODBYE wamp.close.system_shutdown when
 * it restarts, or an ABORT): then the page opens the connection again itself.
 */
export function openConnection({ url, realm, onSession, onLost, onState }) {
  const autobahn = window.autobahn;
  if (!autobahn) {
    onState('closed', 'autobahn did not load');
    return undefined;
  }
  const connection = new autobahn.Connection({
    url,
    realm,
    max_retries: -1, // a dashboard keeps trying while the router restarts
    initial_retry_delay: 1,
    max_retry_delay: 10,
    retry_delay_jitter: 0.1,
  });
  let reopened = 0;
  connection.onopen = (session) => {
    reopened = 0;
    onState('connected', `connected to ${url}`);
    onSession(session);
  };
  connection.onclose = (reason, details) => {
    onLost();
    const endedByRouter = typeof details?.reason === 'string' && details.reason !== '';
    if (!endedByRouter && details?.will_retry) {
      const seconds = Math.max(1, Math.round(details.retry_delay ?? 1));
      onState('retrying', `${reason === 'lost' ? 'connection lost' : 'cannot reach the router'}; retrying in ${seconds} s`);
      return false; // autobahn retries
    }
    const seconds = backoff(reopened++);
    const why = endedByRouter ? `the router ended the session (${details.reason})` : 'disconnected';
    onState('retrying', `${why}; reconnecting in ${Math.round(seconds)} s`);
    window.setTimeout(() => {
      try {
        connection.open();
      } catch {
        // already opening again
      }
    }, seconds * 1000);
    return true; // no retry of autobahn's on top of ours
  };
  onState('connecting', `connecting to ${url}…`);
  connection.open();
  return connection;
}
