// The Overview view: router-wide figures from gatehouse.admin.stats (the metrics'
// counters; the router has no event for them, so they are asked for every 2 s while the
// view is shown) and rates in and out over the last minutes, computed between samples.

import { byId, h } from './dom.js';
import { renderLines } from './line-chart.js';
import { callValue, clearProblem, every, formatBytes, formatCount, formatDuration, formatRate, showProblem } from './ui.js';

const PERIOD_MS = 2000;
const SPAN_MS = 5 * 60 * 1000;

const state = { stop: null, last: null, samples: [] };

function refusalNode() {
  return byId('view-overview').querySelector('.refusal');
}

function totals(gates) {
  const t = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  for (const g of Object.values(gates)) for (const k of Object.keys(t)) t[k] += g[k];
  return t;
}

function sample(stats) {
  const now = stats.now;
  const t = totals(stats.gates);
  if (state.last && now > state.last.now) {
    const dt = (now - state.last.now) / 1000;
    const rate = (k) => Math.max(0, (t[k] - state.last.t[k]) / dt);
    state.samples.push({ now, msgIn: rate('messagesIn'), msgOut: rate('messagesOut'), bytesIn: rate('bytesIn'), bytesOut: rate('bytesOut') });
    while (state.samples.length > 0 && now - state.samples[0].now > SPAN_MS) state.samples.shift();
  }
  state.last = { now, t };
}

/** the store's commit time: the average (exponentially weighted) and the last, ms */
function commitTime(store) {
  if (typeof store.avgCommitMs !== 'number' || !store.commits) return '–';
  return `${store.avgCommitMs.toFixed(2)} ms (last ${store.lastCommitMs.toFixed(2)})`;
}

function card(name, label, value) {
  return h('div', { class: 'card', 'data-card': name }, h('span', { class: 'card-label' }, label), h('span', { class: 'card-value' }, value));
}

function render(stats) {
  const latest = state.samples[state.samples.length - 1];
  const sessions = stats.sessions.reduce((n, s) => n + s.count, 0);
  byId('overview-cards').replaceChildren(
    card('sessions', 'sessions', formatCount(sessions)),
    card('msg-in', 'messages in /s', latest ? formatRate(latest.msgIn) : '…'),
    card('msg-out', 'messages out /s', latest ? formatRate(latest.msgOut) : '…'),
    card('drops', 'drops', formatCount(stats.drops.total)),
    card('slow', 'slow consumers', formatCount(stats.slowConsumers.total)),
    card('errors', 'errors', formatCount(stats.errors.total)),
    card('store', 'retained keys', formatCount(stats.store.keys)),
    card('store-size', 'store size', formatBytes(stats.store.fileBytes)),
    card('commit-time', 'store commit time', commitTime(stats.store)),
    card('uptime', 'uptime', formatDuration(stats.uptimeSeconds * 1000)),
    card('version', 'version', stats.version),
  );
  const rows = [...stats.sessions].sort((a, b) => (a.gate + a.realm < b.gate + b.realm ? -1 : 1));
  byId('overview-sessions').tBodies[0].replaceChildren(
    ...rows.map((s) => h('tr', { 'data-gate': s.gate, 'data-realm': s.realm }, h('td', {}, s.gate), h('td', {}, s.realm), h('td', { class: 'num' }, formatCount(s.count)))),
  );
  const counters = [
    ['queued messages', stats.store.queuedMessages],
    ['queued bytes', stats.store.queuedBytes],
    ['offline sessions', stats.parkedSessions],
    ...Object.entries(stats.drops.by).map(([k, v]) => [`drops: ${k}`, v]),
    ...Object.entries(stats.slowConsumers.by).map(([k, v]) => [`slow consumers: ${k}`, v]),
    ...Object.entries(stats.errors.by).map(([k, v]) => [`errors: ${k}`, v]),
  ];
  byId('overview-counters').tBodies[0].replaceChildren(
    ...counters.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, formatCount(v)))),
  );
  const now = stats.now;
  const pts = (k) => state.samples.map((s) => [s.now, s[k]]);
  renderLines(byId('chart-messages'), [{ name: 'in', cls: 'in', points: pts('msgIn') }, { name: 'out', cls: 'out', points: pts('msgOut') }], {
    now,
    spanMs: SPAN_MS,
    label: formatRate,
  });
  renderLines(byId('chart-bytes'), [{ name: 'in', cls: 'in', points: pts('bytesIn') }, { name: 'out', cls: 'out', points: pts('bytesOut') }], {
    now,
    spanMs: SPAN_MS,
    label: formatBytes,
  });
}

export const overviewView = {
  start(session) {
    this.stop();
    state.stop = every(PERIOD_MS, async () => {
      try {
        const stats = await callValue(session, 'gatehouse.admin.stats');
        clearProblem(refusalNode());
        sample(stats);
        render(stats);
        byId('overview-body').hidden = false;
      } catch (err) {
        byId('overview-body').hidden = true;
        showProblem(refusalNode(), err, 'read the router statistics (gatehouse.admin.stats)');
      }
    });
  },
  stop() {
    state.stop?.();
    state.stop = null;
  },
  lost() {
    this.stop();
  },
};
