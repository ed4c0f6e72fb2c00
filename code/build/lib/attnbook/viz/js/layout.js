// layout: where things go -- frame indexing, label blocks and the figure's geometry.
// Pure functions of numbers and arrays, no DOM: unit-tested with `node --test` (code/tests/js/).

// Index of the frame the sliders point at, row-major over the slider axes (as numpy's ravel_multi_index).
export function frameIndex(sizes, position) {
  let index = 0;
  for (let a = 0; a < sizes.length; a++) index = index * sizes[a] + position[a];
  return index;
}

// Which value of the `labels_by` slider is selected (0 when labels are shared).
export function labelSetIndex(axisNames, labelsBy, position) {
  const a = labelsBy ? axisNames.indexOf(labelsBy) : -1;
  return a >= 0 ? position[a] : 0;
}

// Block k of n labels from the flat list the Python half sends (one block when shared).
export function labelBlock(all, n, k) {
  if (all.length <= n) return all.slice(0, n);
  return all.slice(k * n, (k + 1) * n);
}

// [rows, cols] drawn for label set k: the trimmed size, or the whole frame.
export function shownSize(trims, k, nRows, nCols) {
  const t = trims && trims[k];
  return t ? [t[0], t[1]] : [nRows, nCols];
}

export const BAR_WIDTH = 70; // colour bar, its gap and its tick labels
const TOP = 8;
const MAX_LABEL = 160;
const MAX_CELL = 36;
const MAX_GRID_HEIGHT = 480;

// Geometry of the heatmap canvas, in CSS pixels.
//   rows, cols: cells drawn now; maxRows, maxCols: the largest frame, which fixes the cell size
//   so that cells keep their size when the drawn part changes (trimmed examples);
//   rowLabelWidth, colLabelWidth: widest label text; available: the container's width.
export function heatmapLayout({
  rows, cols, maxRows = rows, maxCols = cols, rowLabelWidth, colLabelWidth,
  rowTitle = false, colTitle = false, available = 640, maxWidth = 720,
}) {
  const labelW = Math.ceil(Math.min(MAX_LABEL, rowLabelWidth)) + 8; // integers: no seams between cells
  const colLabelH = Math.ceil(Math.min(MAX_LABEL, colLabelWidth)) + 8;
  const left = labelW + (rowTitle ? 20 : 4);
  const widthLimit = Math.max(240, Math.min(maxWidth, (available || 640) - 2));
  const cell = Math.max(3, Math.min(
    MAX_CELL,
    Math.floor((widthLimit - left - BAR_WIDTH) / Math.max(1, maxCols)),
    Math.floor(MAX_GRID_HEIGHT / Math.max(1, maxRows)),
  ));
  const gridW = cell * cols;
  const gridH = cell * rows;
  const barH = Math.max(60, Math.min(Math.max(gridH, cell * maxRows), 240));
  return {
    left, top: TOP, cell, rows, cols, gridW, gridH, labelW, colLabelH,
    barX: left + gridW + 14, barH,
    width: left + gridW + BAR_WIDTH,
    height: TOP + Math.max(gridH + colLabelH + (colTitle ? 20 : 4), barH + 8),
  };
}

// [row, col] of the cell under canvas point (x, y), or null outside the grid.
export function cellAt(layout, x, y) {
  const c = Math.floor((x - layout.left) / layout.cell);
  const r = Math.floor((y - layout.top) / layout.cell);
  return r >= 0 && r < layout.rows && c >= 0 && c < layout.cols ? [r, c] : null;
}

// Label every k-th cell so that labels do not overlap (13 px a line).
export function tickStride(cell) {
  return Math.max(1, Math.ceil(13 / cell));
}

// Colour-bar ticks [fraction from the top, text]; values outside [lo, hi] are drawn in the
// end colours, so the end ticks say "≥" / "≤" when the data go beyond them.
export function colourBarTicks(lo, hi, dataMin, dataMax, digits) {
  const d = Math.min(digits, 2);
  return [
    [0, (dataMax > hi ? "≥ " : "") + hi.toFixed(d)],
    [0.5, ((lo + hi) / 2).toFixed(d)],
    [1, (dataMin < lo ? "≤ " : "") + lo.toFixed(d)],
  ];
}

// About five round tick values covering [lo, hi].
export function niceTicks(lo, hi) {
  const span = hi - lo || 1;
  const mag = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= 6);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

// Legend entries flow left to right in rows above the plot: [x, y] of each, and the row count.
export function legendSlots(widths, width, left = 52) {
  const slots = [];
  let x = left;
  let row = 0;
  for (const w of widths) {
    const need = 24 + w + 14;
    if (x + need > width - 10 && x > left) {
      row += 1;
      x = left;
    }
    slots.push([x, 10 + 15 * row]);
    x += need;
  }
  return { slots, rows: slots.length ? row + 1 : 0 };
}

// Margins and size of the line chart for a legend of `legendRows` rows.
export function plotLayout(width, legendRows) {
  const top = 22 + 15 * Math.max(0, legendRows - 1);
  const m = { left: 52, right: 48, top, bottom: 40 };
  const height = 220 + top;
  return { ...m, width, height, W: width - m.left - m.right, H: height - m.top - m.bottom };
}

// Linear map from [d0, d1] to [r0, r1] (a zero-width domain maps to r0).
export function scale(d0, d1, r0, r1) {
  const k = d1 !== d0 ? (r1 - r0) / (d1 - d0) : 0;
  return (v) => r0 + (v - d0) * k;
}

export function formatValue(x, digits) {
  return Number.isNaN(x) ? "masked" : x.toFixed(digits);
}
