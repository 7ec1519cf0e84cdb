// A horizontal bar chart in plain SVG: one bar per row, labelled with the row's key and
// its value. Values below zero grow left of the zero line.

import { svg } from './dom.js';
import { formatValue } from './format.js';

const WIDTH = 640;
const LABEL_WIDTH = 150;
const VALUE_WIDTH = 90;
const BAR_HEIGHT = 18;
const GAP = 6;
const PAD = 8;

/** Cuts a label to `max` characters so it stays inside its column. */
function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Draws `items` ({ id, label, value }) into the <svg> element `target`, replacing what
 * was there.
 */
export function renderBars(target, items) {
  const plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * PAD;
  const low = Math.min(0, ...items.map((i) => i.value));
  const high = Math.max(0, ...items.map((i) => i.value));
  const span = high - low || 1;
  const x = (v) => LABEL_WIDTH + PAD + ((v - low) / span) * plot;
  const height = Math.max(1, items.length) * (BAR_HEIGHT + GAP) + 2 * PAD;

  target.setAttribute('viewBox', `0 0 ${WIDTH} ${height}`);
  target.setAttribute('height', String(height));
  const nodes = items.map((item, n) => {
    const y = PAD + n * (BAR_HEIGHT + GAP);
    const left = Math.min(x(0), x(item.value));
    const barWidth = Math.max(1, Math.abs(x(item.value) - x(0)));
    return svg(
      'g',
      { class: item.value < 0 ? 'bar negative' : 'bar', 'data-key': item.id },
      svg('title', {}, `${item.label}: ${formatValue(item.value)}`),
      svg('text', { class: 'bar-label', x: LABEL_WIDTH, y: y + BAR_HEIGHT - 5, 'text-anchor': 'end' }, clip(item.label, 22)),
      svg('rect', { x: left, y, width: barWidth, height: BAR_HEIGHT, rx: 2 }),
      svg('text', { class: 'bar-value', x: WIDTH - PAD, y: y + BAR_HEIGHT - 5, 'text-anchor': 'end' }, formatValue(item.value)),
    );
  });
  const axis = svg('line', { class: 'axis', x1: x(0), x2: x(0), y1: PAD / 2, y2: height - PAD / 2 });
  target.replaceChildren(axis, ...nodes);
}
