// input: the explorer's input mode -- the reader types (chapter 4: a date) and the heatmap
// shows the trained model's attention for it. On the static site the model runs here, in the
// browser (models.js, loaded on the first input); in a live kernel the text goes to Python
// (the `input_value` trait), which recomputes with PyTorch and sends new frames.
import { loadModel, tokenize, translate } from "./models.js";

const DEBOUNCE_MS = 150;

// What the reader is told about an input: the output, and the tokens read as <unk>.
// (attnbook.export.translation_note writes the same words in a live kernel.)
export function translationNote(output, unknown) {
  const note = `Output: ${output}`;
  if (!unknown.length) return note;
  return `${note}. Not in the training data, read as <unk>: ${unknown.map((t) => `“${t}”`).join(", ")}`;
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

  let latest = 0; // the newest input: results of older ones are dropped
  let firstInput = null; // when the reader first typed (first result includes loading)
  async function run() {
    const text = field.value;
    const n = ++latest;
    const length = Array.from(text).length;
    if (!text.trim() || length > spec.max_length) {
      ctx.note(text.trim() ? `At most ${spec.max_length} characters, got ${length}.` : "Type a date.");
      return;
    }
    if (spec.runtime !== "browser") {
      ctx.send(text);
      return;
    }
    const loading = setTimeout(() => ctx.note("Loading the model into your browser (once)…"), 50);
    try {
      const model = await loadModel(spec.model, ["encoder", "step"]);
      clearTimeout(loading);
      const t0 = performance.now();
      const { tokens, ids, unknown } = tokenize(model.meta, text);
      const r = await translate(model, ids);
      const ms = performance.now() - t0;
      if (n !== latest) return;
      ctx.apply({
        frames: Float32Array.from(r.attention.flat()),
        shape: [r.attention.length, tokens.length],
        row_labels: r.output_tokens,
        col_labels: tokens.map((t) => (unknown.includes(t) ? "<unk>" : t)),
        trims: [],
        input_note: translationNote(r.output, unknown),
      });
      ctx.result({ ...r, text, source_tokens: tokens, unknown, infer_ms: ms, first_result_ms: performance.now() - firstInput });
      firstInput = null;
    } catch (error) {
      clearTimeout(loading);
      ctx.note(`The model could not run in this browser: ${error.message}`);
      console.error("attnbook explorer: in-browser model failed:", error);
    }
  }
  let timer = null;
  field.addEventListener("input", () => {
    firstInput = firstInput ?? performance.now();
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  return { element: box, status };
}

export function makeInput(spec, ctx) {
  if (spec.kind === "translator") return translatorInput(spec, ctx);
  throw new Error(`attnbook explorer: unknown input kind ${spec.kind}`);
}
