// One table shown live: its rows, kept in primary-key order and updated in place from
// the change feed, and a bar chart of one numeric field.

import { renderBars } from './bar-chart.js';
import { byId, h } from './dom.js';
import { compareKeys, formatValue, isNumericProperty, keyId, keyLabel } from './format.js';

/** Bars drawn at most: the largest values. */
const CHART_LIMIT = 20;

/** The fields a chart can show: an aggregate's computed fields first, then numeric properties. */
export function chartFields(table) {
  const fields = [];
  if (table.aggregate) {
    for (const [field, fn] of Object.entries(table.aggregate)) fields.push({ field, label: `${field} (${fn})` });
  }
  for (const [field, schema] of Object.entries(table.properties ?? {})) {
    if (table.primary_key.includes(field) || fields.some((f) => f.field === field)) continue;
    if (isNumericProperty(schema)) fields.push({ field, label: field });
  }
  return fields;
}

/** The table's columns: the primary key, then the other properties in definition order. */
function columnsOf(table) {
  const rest = Object.keys(table.properties ?? {}).filter((f) => !table.primary_key.includes(f));
  return [...table.primary_key, ...rest];
}

export class TableView {
  constructor(table) {
    this.table = table;
    this.columns = columnsOf(table);
    /** keyId -> { row, revision, tr } */
    this.rows = new Map();
    /** keyIds in primary-key order */
    this.order = [];
    this.revision = 0;
    this.chartField = chartFields(table)[0]?.field;
    this.body = byId('rows-body');
    this.renderFrame();
  }

  renderFrame() {
    const t = this.table;
    byId('placeholder').hidden = true;
    byId('table-view').hidden = false;
    byId('table-title').textContent = t.name;
    const kind = t.aggregate ? `aggregate (${Object.entries(t.aggregate).map(([f, fn]) => `${fn}(${f})`).join(', ')})` : 'source table';
    byId('table-meta').textContent = `${kind} · topic ${t.topic} · key ${t.primary_key.join(', ')}`;
    byId('rows-head').replaceChildren(
      ...this.columns.map((c) => {
        const numeric = Boolean(t.aggregate?.[c]) || isNumericProperty(t.properties?.[c]);
        const classes = [t.primary_key.includes(c) ? 'key' : '', numeric ? 'num' : ''].join(' ').trim();
        return h('th', { scope: 'col', class: classes || undefined, 'data-field': c }, c);
      }),
    );
    this.body.replaceChildren();

    const fields = chartFields(t);
    const select = byId('chart-field');
    select.replaceChildren(...fields.map((f) => h('option', { value: f.field, selected: f.field === this.chartField }, f.label)));
    byId('chart-box').hidden = fields.length === 0;
    this.refresh();
  }

  /** Shows another field in the chart. */
  chart(field) {
    this.chartField = field;
    this.drawChart();
  }

  /** Forgets every row: the change feed replays them all on the next subscription. */
  clear() {
    this.rows.clear();
    this.order = [];
    this.body.replaceChildren();
    this.refresh();
  }

  /** Applies one change event: { op, key, old, new, revision }. */
  apply(change) {
    const id = keyId(this.table.primary_key, change.key ?? change.new ?? change.old ?? {});
    const current = this.rows.get(id);
    const revision = typeof change.revision === 'number' ? change.revision : 0;
    // a replayed row can be older than a live change already shown: keep the newer one
    if (current && revision !== 0 && revision < current.revision) return;
    this.revision = Math.max(this.revision, revision);
    if (change.op === 'delete' || change.new === null || change.new === undefined) {
      this.remove(id);
    } else if (current) {
      current.row = change.new;
      current.revision = revision;
      this.fillRow(current.tr, change.new);
      flash(current.tr);
    } else {
      this.insert(id, change.new, revision);
    }
    this.refresh();
  }

  insert(id, row, revision) {
    const tr = h('tr', { 'data-key': id });
    this.fillRow(tr, row);
    // binary search for the first row after this one in key order
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = this.rows.get(this.order[mid]).row;
      if (compareKeys(this.table.primary_key, other, row) < 0) lo = mid + 1;
      else hi = mid;
    }
    const next = this.order[lo];
    this.body.insertBefore(tr, next === undefined ? null : this.rows.get(next).tr);
    this.order.splice(lo, 0, id);
    this.rows.set(id, { row, revision, tr });
    flash(tr);
  }

  remove(id) {
    const entry = this.rows.get(id);
    if (!entry) return;
    entry.tr.remove();
    this.rows.delete(id);
    this.order.splice(this.order.indexOf(id), 1);
  }

  fillRow(tr, row) {
    tr.replaceChildren(
      ...this.columns.map((c) => {
        const value = row[c];
        return h('td', { 'data-field': c, class: typeof value === 'number' ? 'num' : undefined }, formatValue(value));
      }),
    );
  }

  /** Row count, revision, chart. */
  refresh() {
    byId('rows-empty').hidden = this.rows.size > 0;
    const n = this.rows.size;
    byId('table-status').textContent = `${n} ${n === 1 ? 'row' : 'rows'} · revision ${this.revision}`;
    this.drawChart();
  }

  drawChart() {
    const field = this.chartField;
    if (field === undefined) return;
    const items = [];
    for (const [id, { row }] of this.rows) {
      const value = row[field];
      if (typeof value === 'number' && Number.isFinite(value)) items.push({ id, label: keyLabel(this.table.primary_key, row), value });
    }
    items.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
    const shown = items.slice(0, CHART_LIMIT);
    renderBars(byId('chart'), shown);
    byId('chart-note').textContent =
      items.length > shown.length ? `largest ${shown.length} of ${items.length}` : items.length === 0 ? 'no values yet' : '';
  }
}

/** Marks a row as just changed (a short highlight, restarted on every change). */
function flash(tr) {
  tr.classList.remove('changed');
  void tr.offsetWidth; // restart the CSS animation
  tr.classList.add('changed');
}
