// heatmap: the grid of cells, its labels and colour bar on one canvas, and an overlay canvas on
// top for what changes under the pointer (hovered cell, outlined row) -- so moving the pointer
// never repaints the grid. The grid is painted once per frame as an ImageData of one pixel per
// cell, scaled up without smoothing.
import { heatmapLayout, tickStride, colourBarTicks } from "./layout.js";
import { FONT, SMALL_FONT } from "./theme.js";

// RGBA bytes of `rows` x `cols` cells into `out` (length rows * cols * 4). The frame starts at
// `offset` in `values` with `stride` values a row; NaN cells get `masked` ([r, g, b, a]).
export function fillPixels(values, offset, rows, cols, stride, lut, lo, hi, masked, out) {
  const n = lut.length / 3 - 1;
  const k = hi > lo ? n / (hi - lo) : 0;
  let p = 0;
  for (let r = 0; r < rows; r++) {
    const start = offset + r * stride;
    for (let c = 0; c < cols; c++, p += 4) {
      const x = values[start + c];
      if (Number.isNaN(x)) {
        out[p] = masked[0];
        out[p + 1] = masked[1];
        out[p + 2] = masked[2];
        out[p + 3] = masked[3];
        continue;
      }
      const i = 3 * Math.round(Math.min(n, Math.max(0, (x - lo) * k)));
      out[p] = lut[i];
      out[p + 1] = lut[i + 1];
      out[p + 2] = lut[i + 2];
      out[p + 3] = 255;
    }
  }
  return out;
}

// Width of `text` in `font` (CSS pixels), measured on a canvas that is not in the page (setting
// the font of one that is makes the browser bring the whole page's styles up to date first), once
// per font and text: labels repeat from frame to frame, and each font string set is parsed anew.
let measurer = null;
let measurerFont = null;
const widths = new Map(); // font -> text -> width
export function textWidth(text, font) {
  let known = widths.get(font);
  if (known === undefined) widths.set(font, (known = new Map()));
  const key = String(text);
  let width = known.get(key);
  if (width === undefined) {
    if (measurer === null) measurer = document.createElement("canvas").getContext("2d");
    if (measurerFont !== font) measurer.font = measurerFont = font;
    known.set(key, (width = measurer.measureText(key).width));
  }
  return width;
}

function widest(labels, font) {
  let w = 0;
  for (const s of labels) w = Math.max(w, textWidth(s, font));
  return w;
}

// Size a canvas for `width` x `height` CSS pixels on this screen; returns its 2-D context.
export function sizeCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(width * dpr);
  const h = Math.round(height * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

export class Heatmap {
  constructor() {
    this.element = document.createElement("div");
    this.element.className = "attn-figure";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "attn-heatmap";
    this.canvas.setAttribute("role", "img");
    this.overlay = document.createElement("canvas");
    this.overlay.className = "attn-overlay";
    this.overlay.setAttribute("aria-hidden", "true");
    this.element.append(this.canvas, this.overlay);
    this.cells = document.createElement("canvas"); // off-screen: one pixel per cell
    this.bar = document.createElement("canvas"); // off-screen: the colour map, one pixel per entry
    this.layout = null;
  }

  // Paint labels, grid and colour bar. `s`: values (Float32Array of every frame), offset and
  // stride of the frame shown, rows/cols shown, maxRows/maxCols, rowLabels/colLabels shown,
  // rowTitle, colTitle, lut, vmin, vmax, extent, digits, theme, available, maxWidth.
  draw(s) {
    const layout = heatmapLayout({
      rows: s.rows, cols: s.cols, maxRows: s.maxRows, maxCols: s.maxCols,
      rowLabelWidth: widest(s.rowLabels, FONT), colLabelWidth: widest(s.colLabels, FONT),
      rowTitle: Boolean(s.rowTitle), colTitle: Boolean(s.colTitle), available: s.available, maxWidth: s.maxWidth,
    });
    const { left, top, cell, gridW, gridH, width, height } = layout;
    const ctx = sizeCanvas(this.canvas, width, height);
    const { theme } = s;

    if (s.rows > 0 && s.cols > 0) {
      this.cells.width = s.cols;
      this.cells.height = s.rows;
      const cctx = this.cells.getContext("2d");
      const image = cctx.createImageData(s.cols, s.rows);
      fillPixels(s.values, s.offset, s.rows, s.cols, s.stride, s.lut, s.vmin, s.vmax, theme.maskedRGBA, image.data);
      cctx.putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.cells, left, top, gridW, gridH);
    }

    // tick labels: every k-th when cells are smaller than the text
    ctx.fillStyle = theme.text;
    ctx.font = FONT;
    const every = tickStride(cell);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let r = 0; r < s.rows; r += every) ctx.fillText(String(s.rowLabels[r]), left - 5, top + (r + 0.5) * cell, layout.labelW);
    for (let c = 0; c < s.cols; c += every) {
      ctx.save();
      ctx.translate(left + (c + 0.5) * cell, top + gridH + 5);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(String(s.colLabels[c]), 0, 0, layout.colLabelH);
      ctx.restore();
    }
    ctx.textAlign = "center";
    if (s.colTitle) {
      ctx.textBaseline = "top";
      ctx.fillText(s.colTitle, left + gridW / 2, top + gridH + layout.colLabelH + 2);
    }
    if (s.rowTitle) {
      ctx.save();
      ctx.translate(12, top + gridH / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textBaseline = "middle";
      ctx.fillText(s.rowTitle, 0, 0);
      ctx.restore();
    }

    // colour bar: the colour map as a 1-pixel-wide image, stretched
    const n = s.lut.length / 3;
    this.bar.width = 1;
    this.bar.height = n;
    const bctx = this.bar.getContext("2d");
    const strip = bctx.createImageData(1, n);
    for (let i = 0; i < n; i++) {
      const j = 3 * (n - 1 - i); // high values on top
      strip.data.set([s.lut[j], s.lut[j + 1], s.lut[j + 2], 255], 4 * i);
    }
    bctx.putImageData(strip, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.bar, layout.barX, top, 12, layout.barH);
    ctx.strokeStyle = theme.rule;
    ctx.lineWidth = 1;
    ctx.strokeRect(layout.barX + 0.5, top + 0.5, 12, layout.barH);
    ctx.fillStyle = theme.text;
    ctx.font = SMALL_FONT;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const [t, text] of colourBarTicks(s.vmin, s.vmax, s.extent[0], s.extent[1], s.digits)) {
      ctx.fillText(text, layout.barX + 16, top + t * layout.barH);
    }

    sizeCanvas(this.overlay, width, height);
    this.layout = layout;
    return layout;
  }

  // Repaint the overlay only: the outlined row (or -1) and the hovered cell ([r, c] or null).
  drawOverlay(row, hover, theme) {
    const layout = this.layout;
    if (!layout) return;
    const { left, top, cell, gridW } = layout;
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, layout.width, layout.height);
    if (row >= 0 && row < layout.rows) {
      const y = top + row * cell;
      ctx.lineWidth = 2;
      ctx.strokeStyle = theme.outlineInner;
      ctx.strokeRect(left - 1, y - 1, gridW + 2, cell + 2);
      ctx.strokeStyle = theme.outline;
      ctx.strokeRect(left - 3, y - 3, gridW + 6, cell + 6);
    }
    if (hover) {
      ctx.strokeStyle = theme.hover;
      ctx.lineWidth = 2;
      ctx.strokeRect(left + hover[1] * cell + 1, top + hover[0] * cell + 1, cell - 2, cell - 2);
    }
  }
}
