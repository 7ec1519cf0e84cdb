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

/**
 * Opens the connection. `onSession(session)` runs on every (re)join, `onState(state,
 * text)` on every change: connecting | connected | retrying | closed.
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
  connection.onopen = (session) => {
    onState('connected', `connected to ${url}`);
    onSession(session);
  };
  connection.onclose = (reason, details) => {
    onLost();
    if (details && details.will_retry) {
      const seconds = Math.max(1, Math.round(details.retry_delay ?? 1));
      onState('retrying', `${reason === 'lost' ? 'connection lost' : 'cannot reach the router'}; retrying in ${seconds} s`);
    } else {
      onState('closed', `disconnected (${details?.reason ?? reason})`);
    }
    return false; // let autobahn retry as configured
  };
  onState('connecting', `connecting to ${url}…`);
  connection.open();
  return connection;
}
