// Front-end of attnbook.viz.HeatmapExplorer (an anywidget ES module).
//
// The Python side sends every frame up front as one little-endian float16
// buffer of shape [*axis_sizes, n_rows, n_cols] (NaN marks a masked cell).
// Sliders only change `position`; redrawing needs no kernel, so the same code
// serves a live Jupyter kernel and the static website.

const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const SMALL_FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const MASKED = "#d9d9d9";
// Okabe & Ito's colour-blind-safe palette for plot series.
const SERIES_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
const STEM_COLOUR = "rgba(232, 23, 93, 0.55)";

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

// [min, max] over all frames, ignoring masked (NaN) cells.
function extentOf(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function decodeSeries(model) {
  const view = asDataView(model.get("plot_values"));
  const out = new Float32Array(view.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

// About five round tick values covering [lo, hi].
function niceTicks(lo, hi) {
  const span = hi - lo || 1;
  const raw = span / 5;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= 6);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
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
  const plotCanvas = document.createElement("canvas");
  plotCanvas.className = "attn-plot";
  plotCanvas.setAttribute("role", "img");
  root.append(title, controls, canvas, readout, plotCanvas);

  let values = decodeFrames(model);
  let lut = decodeColormap(model);
  let series = decodeSeries(model);
  let extent = extentOf(values);
  let layout = null; // geometry of the last draw, used by hover
  let hover = null; // [row, col] under the pointer

  const shape = () => model.get("shape");
  const nRows = () => shape()[shape().length - 2];
  const nCols = () => shape()[shape().length - 1];

  // Labels of the frame shown now. With `labels_by`, the flat label list holds
  // one block of n labels per value of that slider (e.g. one sentence per example).
  function labelBlock(name, n) {
    const all = model.get(name);
    if (all.length <= n) return all;
    const a = model.get("axis_names").indexOf(model.get("labels_by"));
    const k = a >= 0 ? model.get("position")[a] : 0;
    return all.slice(k * n, (k + 1) * n);
  }
  const rowLabels = () => labelBlock("row_labels", nRows());
  const colLabels = () => labelBlock("col_labels", nCols());

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
  // One native range input with its name and current tick label; `onInput(index)` stores the move.
  function makeSlider(name, labels, index, onInput, extraClass = "") {
    const wrap = document.createElement("label");
    wrap.className = `attn-slider ${extraClass}`.trim();
    const caption = document.createElement("span");
    caption.className = "attn-slider-name";
    caption.textContent = name;
    const input = document.createElement("input");
    input.type = "range";
    input.min = "0";
    input.max = String(labels.length - 1);
    input.step = "1";
    input.value = String(index);
    input.disabled = labels.length < 2;
    input.setAttribute("aria-valuetext", `${name}: ${labels[index]}`);
    const shown = document.createElement("output");
    shown.className = "attn-slider-value";
    shown.textContent = labels[index];
    input.addEventListener("input", () => {
      onInput(Number(input.value));
      model.save_changes();
    });
    wrap.append(caption, input, shown);
    controls.appendChild(wrap);
  }

  function buildSliders() {
    controls.replaceChildren();
    const labels = model.get("axis_labels");
    const pos = model.get("position");
    model.get("axis_names").forEach((name, a) => {
      makeSlider(name, labels[a], pos[a], (value) => {
        const next = model.get("position").slice();
        next[a] = value;
        model.set("position", next);
      });
    });
    const rowName = model.get("row_slider");
    if (rowName) {
      makeSlider(rowName, rowLabels(), model.get("row"), (value) => model.set("row", value), "attn-row-slider");
    }
  }

  function syncSliders() {
    const labels = model.get("axis_labels");
    const names = model.get("axis_names");
    const pos = model.get("position");
    controls.querySelectorAll("label.attn-slider:not(.attn-row-slider)").forEach((wrap, a) => {
      const input = wrap.querySelector("input");
      input.value = String(pos[a]);
      input.setAttribute("aria-valuetext", `${names[a]}: ${labels[a][pos[a]]}`);
      wrap.querySelector("output").textContent = labels[a][pos[a]];
    });
    const rowWrap = controls.querySelector("label.attn-row-slider");
    if (rowWrap) {
      const r = model.get("row");
      const label = rowLabels()[r];
      rowWrap.querySelector("input").value = String(r);
      rowWrap.querySelector("input").setAttribute("aria-valuetext", `${model.get("row_slider")}: ${label}`);
      rowWrap.querySelector("output").textContent = label;
    }
  }

  // ---- drawing ---------------------------------------------------------
  function textWidth(ctx, items, font) {
    ctx.font = font;
    return items.reduce((w, s) => Math.max(w, ctx.measureText(String(s)).width), 0);
  }

  function draw() {
    const rows = rowLabels();
    const cols = colLabels();
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
    if (model.get("row_slider")) {
      const y = top + model.get("row") * cell;
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.strokeRect(left - 1, y - 1, gridW + 2, cell + 2);
      ctx.strokeStyle = "#111";
      ctx.strokeRect(left - 3, y - 3, gridW + 6, cell + 6);
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
    // values outside the colour range are drawn in the end colours: say so on the bar
    const [dataMin, dataMax] = extent;
    [[0, hi, dataMax > hi ? "≥ " : ""], [0.5, (lo + hi) / 2, ""], [1, lo, dataMin < lo ? "≤ " : ""]].forEach(([t, v, p]) => {
      ctx.fillText(p + v.toFixed(Math.min(digits, 2)), bx + 16, top + t * bh);
    });

    layout = { left, top, cell, R, C, width };
    const pos = model.get("position");
    const where = model.get("axis_names").map((n, a) => `${n} ${model.get("axis_labels")[a][pos[a]]}`).join(", ");
    canvas.setAttribute("aria-label", `${model.get("title") || "Attention heatmap"}${where ? ` (${where})` : ""}: ${R} × ${C} cells, ${rowTitle || "rows"} by ${colTitle || "columns"}`);
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
  }

  // The line chart under the heatmap: series for the current slider position,
  // optional points, and the selected row's weights as stems at the keys' x.
  function drawPlot() {
    const spec = model.get("plot");
    if (!spec || !spec.x) {
      plotCanvas.hidden = true;
      return;
    }
    plotCanvas.hidden = false;
    const xs = spec.x;
    const sizes = shape().slice(0, -2);
    const pos = model.get("position");
    let frameIndex = 0;
    for (let a = 0; a < sizes.length; a++) frameIndex = frameIndex * sizes[a] + pos[a];

    const width = Math.max(360, layout ? layout.width : 480);
    const rowName = model.get("row_slider");
    const stems = Boolean(rowName && spec.col_x);
    const legend = [];
    if (stems) legend.push([`α of ${rowName} ${rowLabels()[model.get("row")]}`, STEM_COLOUR, "stem"]);
    if (spec.points) legend.push(["data", "rgba(90, 90, 90, 0.75)", "dot"]);
    spec.names.forEach((name, k) => legend.push([name, SERIES_COLOURS[k % SERIES_COLOURS.length], "line"]));
    if (rowName && spec.row_x) legend.push([`${rowName} position`, "#111", "dash"]);
    // legend entries flow in rows above the axes
    const measure = plotCanvas.getContext("2d");
    measure.font = SMALL_FONT;
    const slots = [];
    let lx = 52;
    let lrow = 0;
    legend.forEach(([label]) => {
      const w = 24 + measure.measureText(label).width + 14;
      if (lx + w > width - 10 && lx > 52) {
        lrow += 1;
        lx = 52;
      }
      slots.push([lx, 10 + 15 * lrow]);
      lx += w;
    });
    const m = { left: 52, right: 48, top: 22 + 15 * lrow, bottom: 40 };
    const height = 220 + m.top;
    const dpr = window.devicePixelRatio || 1;
    plotCanvas.width = Math.round(width * dpr);
    plotCanvas.height = Math.round(height * dpr);
    plotCanvas.style.width = `${width}px`;
    plotCanvas.style.height = `${height}px`;
    const ctx = plotCanvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const allX = xs.concat(spec.points ? spec.points[0] : [], spec.col_x || []);
    const x0 = Math.min(...allX);
    const x1 = Math.max(...allX);
    const [y0, y1] = spec.ylim;
    const W = width - m.left - m.right;
    const H = height - m.top - m.bottom;
    const px = (x) => m.left + ((x - x0) / (x1 - x0 || 1)) * W;
    const py = (y) => m.top + (1 - (y - y0) / (y1 - y0 || 1)) * H;

    // axes and ticks
    ctx.strokeStyle = "#888";
    ctx.lineWidth = 1;
    ctx.strokeRect(m.left + 0.5, m.top + 0.5, W, H);
    ctx.fillStyle = "#222";
    ctx.font = SMALL_FONT;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    niceTicks(x0, x1).forEach((t) => ctx.fillText(String(t), px(t), m.top + H + 4));
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    niceTicks(y0, y1).forEach((t) => ctx.fillText(String(t), m.left - 5, py(t)));
    ctx.font = FONT;
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    if (spec.xlabel) ctx.fillText(spec.xlabel, m.left + W / 2, height - 2);
    if (spec.ylabel) {
      ctx.save();
      ctx.translate(12, m.top + H / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textBaseline = "middle";
      ctx.fillText(spec.ylabel, 0, 0);
      ctx.restore();
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(m.left, m.top, W, H);
    ctx.clip();
    // the selected row's weights as stems, on their own scale (right axis)
    if (stems) {
      const C = nCols();
      const off = frameOffset() + model.get("row") * C;
      let wmax = 0;
      for (let c = 0; c < C; c++) if (!Number.isNaN(values[off + c])) wmax = Math.max(wmax, values[off + c]);
      const scale = wmax > 0 ? (0.9 * H) / wmax : 0;
      ctx.strokeStyle = STEM_COLOUR;
      ctx.lineWidth = 3;
      for (let c = 0; c < C; c++) {
        const w = values[off + c];
        if (Number.isNaN(w) || w <= 0) continue;
        const x = px(spec.col_x[c]);
        ctx.beginPath();
        ctx.moveTo(x, m.top + H);
        ctx.lineTo(x, m.top + H - w * scale);
        ctx.stroke();
      }
      ctx.restore();
      ctx.fillStyle = "#222";
      ctx.font = SMALL_FONT;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.fillText("α", m.left + W + 6, m.top + H / 2);
      ctx.fillText(wmax.toFixed(2), m.left + W + 6, m.top + H - 0.9 * H);
      ctx.fillText("0", m.left + W + 6, m.top + H);
      ctx.save();
      ctx.beginPath();
      ctx.rect(m.left, m.top, W, H);
      ctx.clip();
    }
    if (spec.points) {
      ctx.fillStyle = "rgba(90, 90, 90, 0.75)";
      spec.points[0].forEach((x, i) => {
        ctx.beginPath();
        ctx.arc(px(x), py(spec.points[1][i]), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      });
    }
    let start = 0;
    spec.names.forEach((name, k) => {
      const shp = spec.shapes[k];
      const n = shp[shp.length - 1];
      const total = shp.reduce((a, b) => a * b, 1);
      const base = start + (shp.length > 1 ? frameIndex * n : 0);
      const colour = SERIES_COLOURS[k % SERIES_COLOURS.length];
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (let i = 0; i < n; i++) {
        const X = px(xs[i]);
        const Y = py(series[base + i]);
        if (i === 0) ctx.moveTo(X, Y);
        else ctx.lineTo(X, Y);
      }
      ctx.stroke();
      start += total;
    });
    if (rowName && spec.row_x) {
      const x = px(spec.row_x[model.get("row")]);
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, m.top);
      ctx.lineTo(x, m.top + H);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.restore();

    ctx.font = SMALL_FONT;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    legend.forEach(([label, colour, kind], i) => {
      const [x, y] = slots[i];
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      if (kind === "dot") {
        ctx.beginPath();
        ctx.arc(x + 6, y, 2.5, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.lineWidth = kind === "stem" ? 3 : 2;
        ctx.setLineDash(kind === "dash" ? [4, 3] : []);
        ctx.beginPath();
        if (kind === "stem") {
          ctx.moveTo(x + 6, y + 5);
          ctx.lineTo(x + 6, y - 5);
        } else {
          ctx.moveTo(x, y);
          ctx.lineTo(x + 12, y);
        }
        ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.fillStyle = "#222";
      ctx.fillText(label, x + 18, y);
    });
    plotCanvas.setAttribute("aria-label", `Line chart of ${spec.names.join(", ") || "data"} against ${spec.xlabel || "x"}`);
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
    readout.textContent = `${rowTitle} “${rowLabels()[r]}” → ${colTitle} “${colLabels()[c]}”: ${formatValue(x, model.get("digits"))}`;
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
    drawPlot();
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
    series = decodeSeries(model);
    extent = extentOf(values);
    hover = null;
    buildSliders();
    refresh();
  };
  const handlers = [["change:position", onPosition], ["change:row", onPosition]];
  for (const name of ["frames", "shape", "axis_names", "axis_labels", "row_labels", "col_labels", "colormap",
                      "row_slider", "labels_by", "plot", "plot_values"]) {
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
