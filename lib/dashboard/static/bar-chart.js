// A horizontal bar chart in plain SVG: one bar per row, labelled with the row's key and
// its value. Values below zero grow left of the zero line.

import { svg } from './dom.js';
import { formatValue } from './format.js';

const MIN_WIDTH = 640;
const LABEL_WIDTH = 150;
const VALUE_WIDTH = 90;
const BAR_HEIGHT = 18;
const GAP = 6;
const PAD = 8;
/** a generous width of one label character at the chart's font size, in SVG units */
const CHAR_WIDTH = 7.5;
/** labels up to this many characters fit beside their bar; longer ones get a line above it */
const BESIDE_MAX = Math.floor((LABEL_WIDTH - PAD) / CHAR_WIDTH);

/**
 * Draws `items` ({ id, label, value }) into the <svg> element `target`, replacing what
 * was there. Labels are never cut: when one is too long for the column beside the bars,
 * every label goes on its own line above its bar and the chart widens to the longest.
 */
export function renderBars(target, items) {
  const longest = Math.max(0, ...items.map((i) => i.label.length));
  const stacked = longest > BESIDE_MAX;
  const labelWidth = stacked ? 0 : LABEL_WIDTH;
  const width = Math.max(MIN_WIDTH, stacked ? Math.ceil(longest * CHAR_WIDTH) + 2 * PAD : 0);
  const labelLine = stacked ? BAR_HEIGHT : 0;
  const rowHeight = labelLine + BAR_HEIGHT + GAP;
  const plot = width - labelWidth - VALUE_WIDTH - 2 * PAD;
  const low = Math.min(0, ...items.map((i) => i.value));
  const high = Math.max(0, ...items.map((i) => i.value));
  const span = high - low || 1;
  const x = (v) => labelWidth + PAD + ((v - low) / span) * plot;
  const height = Math.max(1, items.length) * rowHeight + 2 * PAD;

  target.setAttribute('viewBox', `0 0 ${width} ${height}`);
  target.setAttribute('height', String(height));
  // a widened chart keeps the text size of the default one (the CSS caps 640 units at 760px)
  target.style.maxWidth = `${Math.round((width * 760) / MIN_WIDTH)}px`;
  const nodes = items.map((item, n) => {
    const top = PAD + n * rowHeight;
    const y = top + labelLine;
    const left = Math.min(x(0), x(item.value));
    const barWidth = Math.max(1, Math.abs(x(item.value) - x(0)));
    const label = stacked
      ? svg('text', { class: 'bar-label', x: PAD, y: top + BAR_HEIGHT - 5, 'text-anchor': 'start' }, item.label)
      : svg('text', { class: 'bar-label', x: LABEL_WIDTH, y: y + BAR_HEIGHT - 5, 'text-anchor': 'end' }, item.label);
    return svg(
      'g',
      { class: item.value < 0 ? 'bar negative' : 'bar', 'data-key': item.id },
      svg('title', {}, `${item.label}: ${formatValue(item.value)}`),
      label,
      svg('rect', { x: left, y, width: barWidth, height: BAR_HEIGHT, rx: 2 }),
      svg('text', { class: 'bar-value', x: width - PAD, y: y + BAR_HEIGHT - 5, 'text-anchor': 'end' }, formatValue(item.value)),
    );
  });
  const axis = svg('line', { class: 'axis', x1: x(0), x2: x(0), y1: PAD / 2, y2: height - PAD / 2 });
  target.replaceChildren(axis, ...nodes);
}
