// models: the book's trained models run in the reader's browser (static site only).
// onnxruntime-web and a model's files are fetched on the first input, never on page load; they
// sit next to this front-end in the site (_static/attnbook/: onnxruntime-web/, models/<name>/),
// where code/bookext copies them. Tokenisation here must equal attnbook.data.vocab.Vocab's
// (code/tests/js/models.test.mjs checks it on the vocabularies the build exported).

export const PAD = 0, BOS = 1, EOS = 2, UNK = 3;
const SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"];

// Python's str.split(): runs of Unicode whitespace (str.isspace) separate words.
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

// The tokens of `text` as Vocab.split gives them, their ids as Vocab.encode does, and the
// tokens outside the vocabulary (translate()'s `unknown`: distinct, in order of appearance).
// attnbook.data.enfr.tokenize_english: lower case, runs of letters or digits (with a trailing
// apostrophe) or a lone apostrophe, "i" -> "I". Python's \w is letters and numbers (no marks).
const ENGLISH_WORD = /[\p{L}\p{N}]+'?|'/gu;
const englishWords = (text) => (text.toLowerCase().match(ENGLISH_WORD) || []).map((w) => (w === "i" ? "I" : w));

export function tokenize(meta, text) {
  const tokens = meta.tokenizer === "english" ? englishWords(text)
    : meta.sep ? text.split(PY_SPACE).filter((t) => t !== "") : Array.from(text);
  const index = new Map(meta.src_tokens.map((t, i) => [t, i]));
  const ids = tokens.map((t) => (index.has(t) ? index.get(t) : UNK));
  const known = (t) => index.has(t) && (meta.sep === "" ? Array.from(t).length === 1 : !SPECIALS.includes(t));
  const unknown = [...new Set(tokens.filter((t) => !known(t)))];
  return { tokens, ids, unknown };
}

// Vocab.decode: stop at <eos>, drop <pad>/<bos>, <unk> as U+FFFD (characters) or "<unk>" (words).
export function detokenize(tokens, sep, ids) {
  const out = [];
  for (const i of ids) {
    if (i === EOS) break;
    if (i === PAD || i === BOS) continue;
    out.push(i === UNK ? (sep ? "<unk>" : "\ufffd") : tokens[i]);
  }
  return out.join(sep);
}

// Index of the largest value, skipping `skip` (the first one wins a tie, as torch.argmax).
export function argmax(values, skip = -1) {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    if (i !== skip && (best < 0 || values[i] > values[best])) best = i;
  }
  return best;
}

// where this file is served from (a function: in a live kernel the module has a blob: URL)
const here = (path) => new URL(path, import.meta.url);
let runtime = null;
const loaded = {};

function loadRuntime() {
  if (!runtime) {
    runtime = import(here("onnxruntime-web/ort.wasm.bundle.min.mjs").href).then((ort) => {
      ort.env.wasm.numThreads = 1; // no cross-origin isolation on a static host
      ort.env.wasm.wasmPaths = { wasm: here("onnxruntime-web/ort-wasm-simd-threaded.wasm").href };
      return ort;
    });
  }
  return runtime;
}

async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

// The runtime, the model's metadata and one ONNX session per graph, loaded once per page.
export function loadModel(name, graphs) {
  if (!loaded[name]) {
    const base = here(`models/${name}/`);
    loaded[name] = Promise.all([loadRuntime(), fetchJson(new URL("meta.json", base))]).then(async ([ort, meta]) => {
      const sessions = {};
      for (const g of graphs) sessions[g] = await ort.InferenceSession.create(new URL(`${g}.onnx`, base).href);
      return { ort, meta, sessions };
    });
    loaded[name].catch(() => { delete loaded[name]; }); // a failed load may be retried
  }
  return loaded[name];
}

// Feed only the inputs a graph kept (an exporter drops an input the graph does not read).
function feeds(session, all) {
  return Object.fromEntries(session.inputNames.map((n) => [n, all[n]]));
}

const int64 = (ort, values, dims) => new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);

// Chapter 4's translator: the encoder once, then greedy decoding one step at a time, as
// attnbook.decoding.greedy_decode (never <pad>; stop after <eos> or max_target_len tokens).
export async function translate(model, ids) {
  const { ort, meta, sessions } = model;
  const S = ids.length;
  const src = int64(ort, ids, [1, S]);
  const srcLen = int64(ort, [S], [1]);
  const enc = await sessions.encoder.run(feeds(sessions.encoder, { src, src_len: srcLen }));
  let state = enc.state;
  let y = BOS;
  const out = [];
  const attention = [];
  for (let t = 0; t < meta.max_target_len && y !== EOS; t++) {
    const r = await sessions.step.run(feeds(sessions.step, {
      y: int64(ort, [y], [1]), state, outputs: enc.outputs, src_len: srcLen,
    }));
    y = argmax(r.logits.data, PAD);
    out.push(y);
    attention.push(Array.from(r.weights.data));
    state = r.next_state;
  }
  return {
    ids: out,
    output: detokenize(meta.tgt_tokens, "", out),
    output_tokens: out.map((i) => meta.tgt_tokens[i]),
    attention,
  };
}

// Chapter 9's ViT: one graph from the drawing to the class probabilities and the explorer's
// frames (attnbook.export._ViTFrames), so nothing of the model is re-implemented here.
export async function classify(model, pixels) {
  const { ort, meta, sessions } = model;
  const image = new ort.Tensor("float32", Float32Array.from(pixels), [1, ...meta.image_shape]);
  const r = await sessions.vit.run(feeds(sessions.vit, { image }));
  return { probs: Array.from(r.probs.data), frames: r.frames.data, shape: r.frames.dims.slice() };
}

// Chapter 7's Transformer: the encoder once, then the decoder over the whole prefix at every
// step (greedy, as attnbook.decoding.greedy_decode); the last pass's attention is the one the
// chapter's explorers show: every layer's self- and cross-attention over the model's own output.
export async function translateWhole(model, ids) {
  const { ort, meta, sessions } = model;
  const S = ids.length;
  const srcLen = int64(ort, [S], [1]);
  const enc = await sessions.encoder.run(feeds(sessions.encoder, { src: int64(ort, ids, [1, S]), src_len: srcLen }));
  const V = meta.tgt_tokens.length;
  const prefix = [BOS];
  let last = null;
  while (prefix.length <= meta.max_target_len && prefix[prefix.length - 1] !== EOS) {
    const T = prefix.length;
    last = await sessions.decoder.run(feeds(sessions.decoder, {
      y_in: int64(ort, prefix, [1, T]), memory: enc.memory, src_len: srcLen,
    }));
    prefix.push(argmax(last.logits.data.subarray((T - 1) * V, T * V), PAD));
  }
  const out = prefix.slice(1);
  return {
    ids: out,
    output: detokenize(meta.tgt_tokens, meta.sep, out),
    output_tokens: out.map((i) => meta.tgt_tokens[i]),
    self_attention: last.self_attention.data, // (L, h, T, T)
    cross_attention: last.cross_attention.data, // (L, h, T, S)
    dims: last.cross_attention.dims.slice(),
  };
}

// The explorer's traits for a Transformer result: the "attention" slider's two examples,
// cross (T x S) and decoder self-attention (T x T, the future masked), padded to one width.
export function transformerTraits(r, source) {
  const [L, h, T, S] = r.dims;
  const C = Math.max(S, T);
  const frames = new Float32Array(2 * L * h * T * C).fill(NaN);
  for (let m = 0; m < L * h; m++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < S; j++) frames[(m * T + i) * C + j] = r.cross_attention[(m * T + i) * S + j];
      for (let j = 0; j <= i; j++) frames[((L * h + m) * T + i) * C + j] = r.self_attention[(m * T + i) * T + j];
    }
  }
  const pad = (labels) => labels.concat(Array(C - labels.length).fill(""));
  return {
    frames,
    shape: [2, L, h, T, C],
    row_labels: [...r.output_tokens, ...r.output_tokens],
    col_labels: [...pad(source), ...pad(["<bos>", ...r.output_tokens.slice(0, -1)])],
    trims: [[T, S], [T, T]],
  };
}
