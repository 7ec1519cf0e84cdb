// A small line chart of a few series over the same time axis, in SVG.

import { svg } from './dom.js';

const WIDTH = 720;
const HEIGHT = 160;
const PAD = { left: 56, right: 8, top: 8, bottom: 18 };

/**
 * Draws `series` ([{ name, cls, points: [[t, value], ...] }]) over the last `spanMs`
 * before `now`, the y axis from 0 to the largest value, labelled with `label(value)`.
 */
export function renderLines(node, series, { now, spanMs, label }) {
  node.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const w = WIDTH - PAD.left - PAD.right;
  const hgt = HEIGHT - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + w * (1 - (now - t) / spanMs);
  const y = (v) => PAD.top + hgt * (1 - v / max);
  const children = [
    svg('line', { class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + hgt }),
    svg('line', { class: 'axis', x1: PAD.left, y1: PAD.top + hgt, x2: PAD.left + w, y2: PAD.top + hgt }),
    svg('text', { x: PAD.left - 6, y: PAD.top + 10, 'text-anchor': 'end' }, label(max)),
    svg('text', { x: PAD.left - 6, y: PAD.top + hgt, 'text-anchor': 'end' }, '0'),
    svg('text', { x: PAD.left, y: HEIGHT - 4 }, `-${Math.round(spanMs / 60000)} min`),
    svg('text', { x: PAD.left + w, y: HEIGHT - 4, 'text-anchor': 'end' }, 'now'),
  ];
  for (const s of series) {
    const shown = s.points.filter((p) => now - p[0] <= spanMs);
    if (shown.length === 0) continue;
    const d = shown.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    const [lx, ly] = shown[shown.length - 1];
    children.push(svg('circle', { class: `dot ${s.cls}`, cx: x(lx).toFixed(1), cy: y(ly).toFixed(1), r: 3 }));
    children.push(svg('polyline', { class: `series ${s.cls}`, points: d, 'data-series': s.name, 'data-last': shown[shown.length - 1][1] }));
  }
  node.replaceChildren(...children);
}
