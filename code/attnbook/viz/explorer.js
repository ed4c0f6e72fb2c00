// Front-end of attnbook.viz.HeatmapExplorer (an anywidget ES module).
//
// The Python side sends every frame up front as one little-endian float16
// buffer of shape [*axis_sizes, n_rows, n_cols] (NaN marks a masked cell).
// Sliders only change `position`; redrawing needs no kernel, so the same code
// serves a live Jupyter kernel and the static website.

const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const SMALL_FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const MASKED = "#d9d9d9";

// IEEE 754 half precision -> JS number.
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * Math.pow(2, -14) * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * Math.pow(2, exp - 15) * (1 + frac / 1024);
}

function asDataView(value) {
  if (value instanceof DataView) return value;
  if (value instanceof ArrayBuffer) return new DataView(value);
  if (ArrayBuffer.isView(value)) return new DataView(value.buffer, value.byteOffset, value.byteLength);
  return new DataView(new ArrayBuffer(0));
}

function decodeFrames(model) {
  const view = asDataView(model.get("frames"));
  const out = new Float32Array(view.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}

function decodeColormap(model) {
  const view = asDataView(model.get("colormap"));
  const n = view.byteLength / 3;
  const lut = [];
  for (let i = 0; i < n; i++) {
    lut.push(`rgb(${view.getUint8(3 * i)},${view.getUint8(3 * i + 1)},${view.getUint8(3 * i + 2)})`);
  }
  return lut.length ? lut : ["#000", "#fff"];
}

function formatValue(x, digits) {
  if (Number.isNaN(x)) return "masked";
  return x.toFixed(digits);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "attn-explorer";
  el.appendChild(root);

  const title = document.createElement("div");
  title.className = "attn-title";
  const controls = document.createElement("div");
  controls.className = "attn-controls";
  const canvas = document.createElement("canvas");
  canvas.className = "attn-heatmap";
  canvas.setAttribute("role", "img");
  const readout = document.createElement("div");
  readout.className = "attn-readout";
  readout.setAttribute("aria-live", "polite");
  root.append(title, controls, canvas, readout);

  let values = decodeFrames(model);
  let lut = decodeColormap(model);
  let layout = null; // geometry of the last draw, used by hover
  let hover = null; // [row, col] under the pointer

  const shape = () => model.get("shape");
  const nRows = () => shape()[shape().length - 2];
  const nCols = () => shape()[shape().length - 1];

  function frameOffset() {
    const s = shape();
    const pos = model.get("position");
    let offset = 0;
    for (let a = 0; a < s.length - 2; a++) offset = offset * s[a] + pos[a];
    return offset * nRows() * nCols();
  }

  function colourOf(x) {
    if (Number.isNaN(x)) return MASKED;
    const lo = model.get("vmin");
    const hi = model.get("vmax");
    const t = hi > lo ? (x - lo) / (hi - lo) : 0;
    const i = Math.round(Math.min(1, Math.max(0, t)) * (lut.length - 1));
    return lut[i];
  }

  // ---- sliders ---------------------------------------------------------
  function buildSliders() {
    controls.replaceChildren();
    const names = model.get("axis_names");
    const labels = model.get("axis_labels");
    const pos = model.get("position");
    names.forEach((name, a) => {
      const wrap = document.createElement("label");
      wrap.className = "attn-slider";
      const caption = document.createElement("span");
      caption.className = "attn-slider-name";
      caption.textContent = name;
      const input = document.createElement("input");
      input.type = "range";
      input.min = "0";
      input.max = String(labels[a].length - 1);
      input.step = "1";
      input.value = String(pos[a]);
      input.disabled = labels[a].length < 2;
      input.setAttribute("aria-valuetext", `${name}: ${labels[a][pos[a]]}`);
      const shown = document.createElement("output");
      shown.className = "attn-slider-value";
      shown.textContent = labels[a][pos[a]];
      input.addEventListener("input", () => {
        const next = model.get("position").slice();
        next[a] = Number(input.value);
        model.set("position", next);
        model.save_changes();
      });
      wrap.append(caption, input, shown);
      controls.appendChild(wrap);
    });
  }

  function syncSliders() {
    const labels = model.get("axis_labels");
    const names = model.get("axis_names");
    const pos = model.get("position");
    controls.querySelectorAll("label.attn-slider").forEach((wrap, a) => {
      const input = wrap.querySelector("input");
      input.value = String(pos[a]);
      input.setAttribute("aria-valuetext", `${names[a]}: ${labels[a][pos[a]]}`);
      wrap.querySelector("output").textContent = labels[a][pos[a]];
    });
  }

  // ---- drawing ---------------------------------------------------------
  function textWidth(ctx, items, font) {
    ctx.font = font;
    return items.reduce((w, s) => Math.max(w, ctx.measureText(String(s)).width), 0);
  }

  function draw() {
    const rows = model.get("row_labels");
    const cols = model.get("col_labels");
    const R = nRows();
    const C = nCols();
    const ctx = canvas.getContext("2d");
    const rowTitle = model.get("row_title");
    const colTitle = model.get("col_title");

    const labelW = Math.ceil(Math.min(160, textWidth(ctx, rows, FONT))) + 8; // integers: no seams between cells
    const colLabelH = Math.ceil(Math.min(160, textWidth(ctx, cols, FONT))) + 8;
    const left = labelW + (rowTitle ? 20 : 4);
    const top = 8;
    const maxWidth = Math.max(240, Math.min(model.get("max_width"), (el.clientWidth || 640) - 2));
    const barW = 70;
    const cell = Math.max(3, Math.min(36, Math.floor((maxWidth - left - barW) / C), Math.floor(480 / R)));
    const gridW = cell * C;
    const gridH = cell * R;
    const width = left + gridW + barW;
    const height = top + gridH + colLabelH + (colTitle ? 20 : 4);

    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const off = frameOffset();
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        ctx.fillStyle = colourOf(values[off + r * C + c]);
        ctx.fillRect(left + c * cell, top + r * cell, cell, cell);
      }
    }
    if (hover) {
      ctx.strokeStyle = "#e8175d";
      ctx.lineWidth = 2;
      ctx.strokeRect(left + hover[1] * cell + 1, top + hover[0] * cell + 1, cell - 2, cell - 2);
    }

    // Tick labels: skip some when cells are smaller than the text.
    ctx.fillStyle = "#222";
    ctx.font = FONT;
    const every = Math.max(1, Math.ceil(13 / cell));
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let r = 0; r < R; r += every) {
      ctx.fillText(String(rows[r]), left - 5, top + (r + 0.5) * cell, labelW);
    }
    for (let c = 0; c < C; c += every) {
      ctx.save();
      ctx.translate(left + (c + 0.5) * cell, top + gridH + 5);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(String(cols[c]), 0, 0, colLabelH);
      ctx.restore();
    }
    ctx.textAlign = "center";
    if (colTitle) {
      ctx.textBaseline = "bottom";
      ctx.fillText(colTitle, left + gridW / 2, height - 2);
    }
    if (rowTitle) {
      ctx.save();
      ctx.translate(12, top + gridH / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textBaseline = "middle";
      ctx.fillText(rowTitle, 0, 0);
      ctx.restore();
    }

    // Colour bar with three ticks.
    const bx = left + gridW + 14;
    const bh = Math.max(60, Math.min(gridH, 240));
    for (let i = 0; i < bh; i++) {
      ctx.fillStyle = lut[Math.round((1 - i / (bh - 1)) * (lut.length - 1))];
      ctx.fillRect(bx, top + i, 12, 1);
    }
    ctx.strokeStyle = "#888";
    ctx.lineWidth = 1;
    ctx.strokeRect(bx + 0.5, top + 0.5, 12, bh);
    ctx.fillStyle = "#222";
    ctx.font = SMALL_FONT;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const lo = model.get("vmin");
    const hi = model.get("vmax");
    const digits = model.get("digits");
    [[0, hi], [0.5, (lo + hi) / 2], [1, lo]].forEach(([t, v]) => {
      ctx.fillText(v.toFixed(Math.min(digits, 2)), bx + 16, top + t * bh);
    });

    layout = { left, top, cell, R, C };
    const pos = model.get("position");
    const where = model.get("axis_names").map((n, a) => `${n} ${model.get("axis_labels")[a][pos[a]]}`).join(", ");
    canvas.setAttribute("aria-label", `${model.get("title") || "Attention heatmap"}${where ? ` (${where})` : ""}: ${R} × ${C} cells, ${rowTitle || "rows"} by ${colTitle || "columns"}`);
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
  }

  function showReadout() {
    if (!hover) {
      readout.textContent = model.get("hint");
      return;
    }
    const [r, c] = hover;
    const x = values[frameOffset() + r * nCols() + c];
    const rowTitle = model.get("row_title") || "row";
    const colTitle = model.get("col_title") || "column";
    readout.textContent = `${rowTitle} “${model.get("row_labels")[r]}” → ${colTitle} “${model.get("col_labels")[c]}”: ${formatValue(x, model.get("digits"))}`;
  }

  function onMove(event) {
    if (!layout) return;
    const rect = canvas.getBoundingClientRect();
    const c = Math.floor((event.clientX - rect.left - layout.left) / layout.cell);
    const r = Math.floor((event.clientY - rect.top - layout.top) / layout.cell);
    const inside = r >= 0 && r < layout.R && c >= 0 && c < layout.C;
    const next = inside ? [r, c] : null;
    if (String(next) === String(hover)) return;
    hover = next;
    draw();
    showReadout();
  }

  function refresh() {
    title.textContent = model.get("title");
    title.hidden = !model.get("title");
    draw();
    showReadout();
  }

  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", () => {
    hover = null;
    draw();
    showReadout();
  });

  const onPosition = () => {
    syncSliders();
    refresh();
  };
  const onData = () => {
    values = decodeFrames(model);
    lut = decodeColormap(model);
    hover = null;
    buildSliders();
    refresh();
  };
  const handlers = [["change:position", onPosition]];
  for (const name of ["frames", "shape", "axis_names", "axis_labels", "row_labels", "col_labels", "colormap"]) {
    handlers.push([`change:${name}`, onData]);
  }
  for (const name of ["vmin", "vmax", "title", "row_title", "col_title", "digits", "hint", "max_width"]) {
    handlers.push([`change:${name}`, refresh]);
  }
  handlers.forEach(([event, fn]) => model.on(event, fn));

  buildSliders();
  refresh();

  return () => handlers.forEach(([event, fn]) => model.off(event, fn));
}

export default { render };
