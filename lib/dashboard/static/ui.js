// Small helpers the console's views share: a call's result, refusals shown in place,
// and how sizes, ages and times are written.

import { describeError, resultValue } from './connection.js';

/** Calls a procedure and returns its single result value. */
export async function callValue(session, procedure, args = [], kwargs = {}) {
  return resultValue(await session.call(procedure, args, kwargs));
}

/** Is this the router refusing the caller (authorization)? */
export function isRefusal(err) {
  return Boolean(err && typeof err === 'object' && err.error === 'wamp.error.not_authorized');
}

/**
 * Shows why something failed in `node` (a view's `.refusal` paragraph): a refusal says
 * which permission is missing, anything else the error itself.
 */
export function showProblem(node, err, what) {
  node.hidden = false;
  node.dataset.error = err && typeof err === 'object' && typeof err.error === 'string' ? err.error : 'error';
  node.textContent = isRefusal(err)
    ? `Not authorized to ${what}: your role lacks the permission (${describeError(err)}).`
    : `Cannot ${what}: ${describeError(err)}`;
}

export function clearProblem(node) {
  node.hidden = true;
  node.textContent = '';
  delete node.dataset.error;
}

const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const one = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function formatCount(n) {
  return whole.format(n);
}

/** a rate per second: one decimal below 10, whole above */
export function formatRate(n) {
  return n < 10 ? one.format(n) : whole.format(n);
}

/** 1536 -> "1.5 KiB" */
export function formatBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? whole.format(v) : one.format(v)} ${units[i]}`;
}

/** 93_000 ms -> "1 min 33 s" */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** An ISO time as the reader's local date and time. */
export function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? '') : d.toLocaleString();
}

/** A value in one line, cut at `max` characters. */
export function preview(value, max = 80) {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Runs `fn` now and every `ms` while the returned timer is not stopped; a run that is
 * still waiting for the router is not overlapped by the next.
 */
export function every(ms, fn) {
  let timer;
  let stopped = false;
  const tick = async () => {
    try {
      await fn();
    } finally {
      if (!stopped) timer = window.setTimeout(tick, ms);
    }
  };
  void tick();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

/**
 * `fn` over `items`, at most `limit` calls waiting at a time: a realm with thousands of
 * sessions must not put thousands of calls in flight at once.
 */
export async function mapLimited(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
