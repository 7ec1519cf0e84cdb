// The admin console: one WAMP session to the router the page came from, and one view
// shown at a time (`#view=name` in the URL; `#table=name` opens the Tables view). The
// shown view is started with the session and stopped when another is chosen, so only
// it subscribes to meta events or asks the router for figures.

import { describeError, openConnection, sameOriginUrl } from './connection.js';
import { byId } from './dom.js';
import { overviewView } from './overview.js';
import { queuesView } from './queues.js';
import { sessionsView } from './sessions.js';
import { storeView } from './store.js';
import { registrationsView, subscriptionsView } from './meta-lists.js';
import { tablesView } from './tables.js';

const VIEWS = {
  overview: overviewView,
  sessions: sessionsView,
  subscriptions: subscriptionsView,
  registrations: registrationsView,
  store: storeView,
  queues: queuesView,
  tables: tablesView,
};

const state = { session: null, current: null };

function showConnection(kind, text) {
  const node = byId('connection');
  node.dataset.state = kind;
  node.textContent = text;
}

function viewFromHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const name = params.get('view') ?? (params.has('table') ? 'tables' : 'overview');
  return Object.hasOwn(VIEWS, name) ? name : 'overview';
}

function startCurrent() {
  const view = VIEWS[state.current];
  if (state.session) void Promise.resolve(view.start(state.session)).catch((err) => window.console.warn(`view ${state.current}: ${describeError(err)}`));
}

function route() {
  const name = viewFromHash();
  if (name === state.current) {
    VIEWS[name].route?.();
    return;
  }
  if (state.current) VIEWS[state.current].stop();
  state.current = name;
  for (const key of Object.keys(VIEWS)) byId(`view-${key}`).hidden = key !== name;
  for (const link of document.querySelectorAll('nav.views a')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  VIEWS[name].route?.();
  startCurrent();
}

async function main() {
  let settings;
  try {
    const response = await fetch('settings.json', { cache: 'no-store' });
    settings = await response.json();
  } catch (err) {
    showConnection('closed', `cannot load the console settings: ${describeError(err)}`);
    return;
  }
  byId('realm').textContent = settings.realm;
  for (const view of Object.values(VIEWS)) view.init?.();
  window.addEventListener('hashchange', route);
  route();
  openConnection({
    url: sameOriginUrl(settings.wampPath),
    realm: settings.realm,
    onSession: (s) => {
      state.session = s;
      startCurrent();
    },
    onLost: () => {
      state.session = null;
      VIEWS[state.current]?.lost();
    },
    onState: showConnection,
  });
}

void main();
