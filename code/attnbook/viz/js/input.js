// input: the explorer's input mode -- the reader types (chapter 4: a date) and the heatmap
// shows the trained model's attention for it. On the static site the model runs here, in the
// browser (models.js, loaded on the first input); in a live kernel the text goes to Python
// (the `input_value` trait), which recomputes with PyTorch and sends new frames.
import { classify, loadModel, tokenize, transformerTraits, translate, translateWhole } from "./models.js";

const DEBOUNCE_MS = 150;

// What the reader is told about an input: the output, and the tokens read as <unk>.
// (attnbook.export.translation_note writes the same words in a live kernel.)
export function translationNote(output, unknown) {
  const note = `Output: ${output}`;
  if (!unknown.length) return note;
  return `${note}. Not in the training data, read as <unk>: ${unknown.map((t) => `“${t}”`).join(", ")}`;
}

// Loads the exported model `name` (its `graphs`; once, with a note if that takes a moment) and
// runs use(model). Any failure -- loading, running, drawing -- becomes the explorer's note.
async function withModel(ctx, name, graphs, use) {
  const loading = setTimeout(() => ctx.note("Loading the model into your browser (once)…"), 50);
  try {
    const model = await loadModel(name, graphs);
    clearTimeout(loading);
    await use(model);
  } catch (error) {
    clearTimeout(loading);
    ctx.note(`The model could not run in this browser: ${error.message}`);
    console.error("attnbook explorer: in-browser model failed:", error);
  }
}

// The text box of a translator (spec: {kind, model, runtime, label, value, max_length}).
// ctx: note(text) shows a status line, apply(traits) draws results computed here,
// send(text) hands the text to the kernel, result(r) records the raw outputs (tests, benchmarks).
export function translatorInput(spec, ctx) {
  const box = document.createElement("div");
  box.className = "attn-input";
  const label = document.createElement("label");
  label.textContent = spec.label;
  const field = document.createElement("input");
  Object.assign(field, { type: "text", value: spec.value, spellcheck: false, autocomplete: "off" });
  label.append(field);
  const status = document.createElement("div");
  status.className = "attn-input-status";
  status.setAttribute("aria-live", "polite");
  box.append(label, status);

  const prompt = spec.prompt || "Type something first.";
  let latest = 0; // the newest input: results of older ones are dropped
  let firstInput = null; // when the reader first typed (first result includes loading)
  async function run() {
    const text = field.value;
    const n = ++latest;
    const length = Array.from(text).length;
    if (!text.trim() || length > spec.max_length) {
      ctx.note(text.trim() ? `At most ${spec.max_length} characters, got ${length}.` : prompt);
      return;
    }
    if (spec.runtime !== "browser") {
      ctx.send(text);
      return;
    }
    const whole = spec.kind === "transformer";
    await withModel(ctx, spec.model, whole ? ["encoder", "decoder"] : ["encoder", "step"], async (model) => {
      const t0 = performance.now();
      const { tokens, ids, unknown } = tokenize(model.meta, text);
      if (!tokens.length || tokens.length > model.meta.max_source_len) {
        ctx.note(tokens.length ? `input has ${tokens.length} words; at most ${model.meta.max_source_len} are accepted`
          : prompt);
        return;
      }
      const r = await (whole ? translateWhole(model, ids) : translate(model, ids));
      const ms = performance.now() - t0;
      if (n !== latest) return;
      const source = tokens.map((t) => (unknown.includes(t) ? "<unk>" : t));
      ctx.apply({
        ...(whole ? transformerTraits(r, source) : {
          frames: Float32Array.from(r.attention.flat()),
          shape: [r.attention.length, tokens.length],
          row_labels: r.output_tokens,
          col_labels: source,
          trims: [],
        }),
        input_note: translationNote(r.output, unknown),
      });
      if (whole) Object.assign(r, { self_attention: Array.from(r.self_attention), cross_attention: Array.from(r.cross_attention) });
      ctx.result({ ...r, text, source_tokens: tokens, unknown, infer_ms: ms, first_result_ms: performance.now() - firstInput });
      firstInput = null;
    });
  }
  let timer = null;
  field.addEventListener("input", () => {
    firstInput = firstInput ?? performance.now();
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  return { element: box, status };
}

// Class probabilities as bars (the pad's note: a JSON list, from the kernel or from here).
function drawBars(list, note) {
  let probs = [];
  try {
    probs = JSON.parse(note || "[]");
  } catch {
    list.textContent = note;
    return;
  }
  const best = probs.indexOf(Math.max(...probs));
  list.replaceChildren(...probs.map((p, k) => {
    const item = document.createElement("li");
    item.className = k === best ? "attn-bar attn-bar-best" : "attn-bar";
    const bar = document.createElement("span");
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    item.append(`${k}`, bar, `${(100 * p).toFixed(1)} %`);
    item.setAttribute("aria-label", `class ${k}: ${(100 * p).toFixed(1)} percent`);
    return item;
  }));
}

// An 8 x 8 drawing pad (spec.value: the starting image, rows of values in [0, 1]): drag with a
// mouse, pen or finger to paint; every cell is a button (Tab, then Enter or Space toggles it).
export function padInput(spec, ctx) {
  const box = document.createElement("div");
  box.className = "attn-input attn-pad";
  const label = document.createElement("div");
  label.textContent = spec.label;
  const grid = document.createElement("div");
  grid.className = "attn-pad-grid";
  grid.setAttribute("role", "group");
  grid.setAttribute("aria-label", "drawing pad");
  const size = spec.value.length;
  grid.style.gridTemplateColumns = `repeat(${size}, 1fr)`;
  const pixels = spec.value.flat().map(Number);
  const cells = pixels.map((v, i) => {
    const cell = document.createElement("button");
    cell.type = "button";
    cell.className = "attn-pad-cell";
    cell.setAttribute("aria-label", `row ${Math.floor(i / size)}, column ${i % size}`);
    return cell;
  });
  const paint = (i) => {
    cells[i].style.opacity = String(0.08 + 0.92 * pixels[i]);
    cells[i].setAttribute("aria-pressed", String(pixels[i] >= 0.5));
  };
  cells.forEach((_, i) => paint(i));
  grid.append(...cells);
  const clear = document.createElement("button");
  clear.type = "button";
  clear.textContent = "clear";
  const status = document.createElement("ol");
  status.className = "attn-input-status attn-bars";
  status.start = 0;
  status.setAttribute("aria-live", "polite");
  box.append(label, grid, clear, status);

  let latest = 0;
  let firstInput = null;
  async function run() {
    const n = ++latest;
    const drawn = pixels.slice(); // the drawing this run computes (the reader may go on drawing)
    if (spec.runtime !== "browser") {
      ctx.send(JSON.stringify(drawn));
      return;
    }
    await withModel(ctx, spec.model, ["vit"], async (model) => {
      const t0 = performance.now();
      const r = await classify(model, drawn);
      const ms = performance.now() - t0;
      if (n !== latest) return;
      ctx.apply({ frames: r.frames, input_note: JSON.stringify(r.probs) });
      ctx.result({ ...r, frames: Array.from(r.frames), image: drawn, infer_ms: ms, first_result_ms: performance.now() - firstInput });
      firstInput = null;
    });
  }
  let timer = null;
  function changed() {
    firstInput = firstInput ?? performance.now();
    cells.forEach((_, i) => paint(i));
    clearTimeout(timer);
    timer = setTimeout(run, 40);
  }
  let drawing = false;
  grid.addEventListener("pointerdown", (event) => {
    const i = cells.indexOf(event.target);
    if (i < 0) return;
    drawing = pixels[i] < 0.5 ? 1 : 0; // start on an empty cell: paint; on ink: erase
    if (event.target.hasPointerCapture(event.pointerId)) event.target.releasePointerCapture(event.pointerId); // a finger: keep painting the cells it crosses
    pixels[i] = drawing;
    changed();
    event.preventDefault();
  });
  grid.addEventListener("pointerover", (event) => {
    const i = cells.indexOf(event.target);
    if (drawing === false || i < 0 || pixels[i] === drawing) return;
    pixels[i] = drawing;
    changed();
  });
  window.addEventListener("pointerup", () => { drawing = false; });
  grid.addEventListener("keydown", (event) => {
    const i = cells.indexOf(event.target);
    if (i < 0 || (event.key !== "Enter" && event.key !== " ")) return;
    pixels[i] = pixels[i] < 0.5 ? 1 : 0;
    changed();
    event.preventDefault();
  });
  clear.addEventListener("click", () => {
    pixels.fill(0);
    changed();
  });
  return { element: box, status: { set textContent(note) { drawBars(status, note); } } };
}

export function makeInput(spec, ctx) {
  if (spec.kind === "translator" || spec.kind === "transformer") return translatorInput(spec, ctx);
  if (spec.kind === "pad") return padInput(spec, ctx);
  throw new Error(`attnbook explorer: unknown input kind ${spec.kind}`);
}
