// widget: the anywidget `render` -- wires the model's traits (contract.json) to the parts:
// decode the buffers, build the sliders, draw heatmap and plot, read out the hovered cell.
import { decodeColormap, decodeFloat16, decodeFloat32, extentOf } from "./decode.js";
import { cellAt, formatValue, frameIndex, labelBlock, labelSetIndex, shownSize } from "./layout.js";
import { readTheme, watchTheme } from "./theme.js";
import { Heatmap } from "./heatmap.js";
import { drawPlot } from "./lineplot.js";
import { buildSliders, syncSliders } from "./sliders.js";
import { makeInput } from "./input.js";

// [event, handler] for every synced trait, from its `on_change` role in the contract:
// "data" re-decodes and rebuilds, "view" follows the sliders, "style" redraws, "none" ignores.
export function changeHandlers(contract, actions) {
  const out = [];
  for (const [name, trait] of Object.entries(contract.traits)) {
    if (trait.on_change === "none") continue;
    const fn = actions[trait.on_change];
    if (typeof fn !== "function") throw new Error(`contract: trait ${name} has unknown on_change ${trait.on_change}`);
    out.push([`change:${name}`, fn]);
  }
  return out;
}

// What is shown now, derived from the model: which frame, which part of it, which labels.
export function currentView(get) {
  const shape = get("shape");
  const sizes = shape.slice(0, -2);
  const [R, C] = shape.slice(-2);
  const position = get("position");
  const k = labelSetIndex(get("axis_names"), get("labels_by"), position);
  const [rows, cols] = shownSize(get("trims"), k, R, C);
  return {
    sizes, R, C, rows, cols, position,
    frame: frameIndex(sizes, position),
    offset: frameIndex(sizes, position) * R * C,
    rowLabels: labelBlock(get("row_labels"), R, k).slice(0, rows),
    colLabels: labelBlock(get("col_labels"), C, k).slice(0, cols),
    row: get("row_slider") ? get("row") : -1,
  };
}

// Explorers read the page (their width, the theme's colours) and then draw, all of them together.
// Reading a size or a computed style makes the browser first bring the page's style and layout up
// to date, and drawing changes them again: explorers that each read and then draw cost one such
// update each, explorers that all read before any of them draws cost one for all.
const due = new Map(); // explorer -> what it must read: "theme", or "all" (theme and width)
function markDue(explorer, what) {
  if (due.get(explorer) !== "all") due.set(explorer, what);
}
function refreshDue() {
  const batch = [...due];
  due.clear();
  const seen = batch.map(([explorer, what]) => explorer.measure(what));
  batch.forEach(([explorer], i) => explorer.update(seen[i]));
}

// One watcher of the page's theme and one observer of the explorers' sizes, for all explorers.
// A theme switch is read in the next animation frame, where the browser computes the page's
// styles anyway (and only the colours: the page's own class changes, e.g. when it has loaded,
// redraw nothing). A size change is drawn in the observer's callback: the page has just been
// laid out, so reading sizes costs nothing, and the new drawing is painted in the same frame.
const explorers = new Map(); // container element -> explorer
let watching = false;
const resizes = typeof ResizeObserver === "undefined" ? null : new ResizeObserver((entries) => {
  entries.forEach((entry) => {
    if (explorers.has(entry.target)) markDue(explorers.get(entry.target), "all");
  });
  refreshDue();
});
function follow(el, explorer) {
  explorers.set(el, explorer);
  if (!watching) {
    watching = true;
    watchTheme(() => {
      explorers.forEach((x) => markDue(x, "theme"));
      requestAnimationFrame(refreshDue);
    });
  }
  if (resizes) resizes.observe(el);
  return () => {
    explorers.delete(el);
    due.delete(explorer);
    if (resizes) resizes.unobserve(el);
  };
}

export function makeRender(contract) {
  return function render({ model, el }) {
    const local = {}; // results of the in-browser model (input mode): they shadow the model's traits
    const get = (name) => (name in local ? local[name] : model.get(name));
    if (get("contract_version") !== contract.version) {
      el.textContent = `This explorer was saved by attnbook with contract version ${get("contract_version")}; `
        + `this front-end reads version ${contract.version}. Re-run the notebook cell.`;
      console.error(`attnbook explorer: ${el.textContent}`);
      return undefined;
    }
    const root = document.createElement("div");
    root.className = "attn-explorer";
    const title = document.createElement("div");
    title.className = "attn-title";
    const controls = document.createElement("div");
    controls.className = "attn-controls";
    const heatmap = new Heatmap();
    const readout = document.createElement("div");
    readout.className = "attn-readout";
    readout.setAttribute("aria-live", "polite");
    const plotCanvas = document.createElement("canvas");
    plotCanvas.className = "attn-plot";
    plotCanvas.setAttribute("role", "img");
    root.append(title, controls, heatmap.element, readout, plotCanvas);
    el.appendChild(root);

    let data = null; // decoded buffers
    let theme = null; // the colours (readTheme) and
    let width = 0; // the container's width, read together with the other explorers' (refreshDue)
    let hover = null; // [row, col] under the pointer

    function decode() {
      const frames = get("frames");
      const values = frames instanceof Float32Array ? frames : decodeFloat16(frames);
      data = { values, extent: extentOf(values), lut: decodeColormap(get("colormap")), series: decodeFloat32(get("plot_values")) };
    }

    function sliderSpecs(v) {
      const labels = get("axis_labels");
      const specs = get("axis_names").map((name, a) => ({ name, labels: labels[a], index: v.position[a], row: false }));
      if (get("row_slider")) specs.push({ name: get("row_slider"), labels: v.rowLabels, index: v.row, row: true });
      return specs;
    }

    function onSlider(k, index) {
      const n = get("axis_names").length;
      if (k < n) {
        const next = get("position").slice();
        next[k] = index;
        model.set("position", next);
        const v = currentView(get);
        if (v.row >= v.rows) model.set("row", Math.max(0, v.rows - 1)); // a shorter example
      } else {
        model.set("row", index);
      }
      model.save_changes();
    }

    function readoutText(v) {
      if (!hover) return get("hint");
      const [r, c] = hover;
      const x = data.values[v.offset + r * v.C + c];
      return `${get("row_title") || "row"} “${v.rowLabels[r]}” → ${get("col_title") || "column"} “${v.colLabels[c]}”: `
        + formatValue(x, get("digits"));
    }

    // Redraw everything a model change can affect (not called on pointer moves); nothing before
    // the first refresh has read the theme and width.
    function draw() {
      const v = currentView(get);
      if (theme === null) return v;
      if (hover && (hover[0] >= v.rows || hover[1] >= v.cols)) hover = null;
      title.textContent = get("title");
      title.hidden = !get("title");
      const layout = heatmap.draw({
        values: data.values, offset: v.offset, stride: v.C, rows: v.rows, cols: v.cols, maxRows: v.R, maxCols: v.C,
        rowLabels: v.rowLabels, colLabels: v.colLabels, rowTitle: get("row_title"), colTitle: get("col_title"),
        lut: data.lut, vmin: get("vmin"), vmax: get("vmax"), extent: data.extent, digits: get("digits"),
        theme, available: width, maxWidth: get("max_width"),
      });
      heatmap.drawOverlay(v.row, hover, theme);
      const spec = get("plot");
      plotCanvas.hidden = !(spec && spec.x);
      if (!plotCanvas.hidden) {
        const rowStart = v.offset + Math.max(0, v.row) * v.C;
        drawPlot(plotCanvas, {
          spec, theme, series: data.series, frame: v.frame, width: Math.max(360, layout.width),
          rowName: get("row_slider"), row: v.row, rowLabel: v.rowLabels[v.row],
          weights: v.row >= 0 ? data.values.subarray(rowStart, rowStart + v.cols) : null,
        });
      }
      readout.textContent = readoutText(v);
      if (input) input.status.textContent = get("input_note");
      const where = v.sizes.map((_, a) => `${get("axis_names")[a]} ${get("axis_labels")[a][v.position[a]]}`).join(", ");
      heatmap.canvas.setAttribute("aria-label", `${get("title") || "Attention heatmap"}${where ? ` (${where})` : ""}: `
        + `${v.rows} × ${v.cols} cells, ${get("row_title") || "rows"} by ${get("col_title") || "columns"}`);
      root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1); // tests and benchmarks wait on it
      return v;
    }

    const actions = {
      data() {
        decode();
        hover = null;
        buildSliders(controls, sliderSpecs(currentView(get)), onSlider);
        draw();
      },
      view() {
        syncSliders(controls, sliderSpecs(draw()));
      },
      style: draw,
    };

    // the pointer (mouse, pen or finger) only repaints the overlay and the read-out
    function onPointer(event) {
      if (!heatmap.layout) return;
      const rect = heatmap.canvas.getBoundingClientRect();
      const next = cellAt(heatmap.layout, event.clientX - rect.left, event.clientY - rect.top);
      if (String(next) === String(hover)) return;
      hover = next;
      const v = currentView(get);
      heatmap.drawOverlay(v.row, hover, theme);
      readout.textContent = readoutText(v);
    }
    function onLeave(event) {
      if (event.pointerType !== "mouse" || !hover) return; // a finger lifts: keep its read-out
      hover = null;
      const v = currentView(get);
      heatmap.drawOverlay(v.row, hover, theme);
      readout.textContent = readoutText(v);
    }
    heatmap.element.addEventListener("pointermove", onPointer);
    heatmap.element.addEventListener("pointerdown", onPointer);
    heatmap.element.addEventListener("pointerleave", onLeave);

    // follow the page's theme, and the container's width
    const explorer = {
      measure: (what) => ({ theme: readTheme(root), width: what === "all" ? el.clientWidth : width }),
      update(seen) {
        if (theme !== null && seen.theme.key === theme.key && Math.abs(seen.width - width) <= 1) return;
        theme = seen.theme;
        width = seen.width;
        draw();
      },
    };
    const unfollow = follow(el, explorer);

    // input mode: a text box (or pad) whose results the same heatmap draws
    const spec = get("input");
    const input = spec && spec.kind ? makeInput(spec, {
      note(text) {
        local.input_note = text;
        draw();
      },
      apply(traits) {
        Object.assign(local, traits);
        actions.data();
        const v = currentView(get);
        if (v.row >= v.rows) onSlider(get("axis_names").length, v.rows - 1); // fewer rows now
      },
      send(text) {
        delete local.input_note; // the kernel answers in the trait
        model.set("input_value", text);
        model.save_changes();
      },
      result(r) {
        root.attnbookResult = r; // read by the browser tests and benchmarks
        root.dataset.inferred = String(Number(root.dataset.inferred || 0) + 1);
      },
    }) : null;
    if (input) root.insertBefore(input.element, controls);

    const handlers = changeHandlers(contract, actions);
    handlers.forEach(([event, fn]) => model.on(event, fn));
    actions.data(); // decodes and builds the sliders; draw() waits for the first refreshDue:
    markDue(explorer, "all");
    queueMicrotask(refreshDue); // once every explorer rendered in this task is due too

    return () => {
      handlers.forEach(([event, fn]) => model.off(event, fn));
      unfollow();
    };
  };
}
