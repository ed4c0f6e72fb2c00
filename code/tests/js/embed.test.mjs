// The static-site loader (code/bookext/static/attnbook-embed.js): `node --test code/tests/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { decodeBase64, isUrl, modelState, Model } = require("../../bookext/static/attnbook-embed.js");

test("buffers are decoded back into the state at their paths", () => {
  const entry = {
    state: { shape: [2], plot: { keep: 1 } },
    buffers: [
      { path: ["frames"], encoding: "base64", data: Buffer.from([1, 2, 3]).toString("base64") },
      { path: ["plot", "values"], encoding: "base64", data: Buffer.from([9]).toString("base64") },
    ],
  };
  const state = modelState(entry);
  assert.deepEqual(Array.from(new Uint8Array(state.frames.buffer)), [1, 2, 3]);
  assert.equal(state.plot.values.getUint8(0), 9);
  assert.equal(state.plot.keep, 1);
  assert.equal(entry.state.frames, undefined, "the embedded state itself is not modified");
  assert.equal(decodeBase64("").byteLength, 0);
  assert.throws(() => modelState({ state: {}, buffers: [{ path: ["x"], encoding: "hex", data: "00" }] }), /encoding/);
});

test("the model fires change events synchronously, once per real change", () => {
  const model = new Model({ position: [0, 0] });
  const seen = [];
  const fn = (change) => seen.push(change.new);
  model.on("change:position", fn);
  model.set("position", [1, 0]);
  const same = model.get("position");
  model.set("position", same); // no change: no event
  assert.deepEqual(seen, [[1, 0]]);
  model.off("change:position", fn);
  model.set("position", [2, 0]);
  assert.equal(seen.length, 1);
  model.save_changes(); // no kernel: nothing to do, and no error
});

test("_esm is a URL only when it is one line ending in .js", () => {
  assert.ok(isUrl("../_static/attnbook/explorer.js"));
  assert.ok(isUrl("explorer.mjs?v=2"));
  assert.ok(!isUrl("export default {};\n// x.js"));
  assert.ok(!isUrl("const a = 1;"));
});

test("base64 decodes the same with the browser's own decoder as without", () => {
  const text = Buffer.from([0, 1, 2, 250, 255, 128]).toString("base64");
  const fallback = Array.from(new Uint8Array(decodeBase64(text).buffer));
  Uint8Array.fromBase64 = (t) => Uint8Array.from(Buffer.from(t, "base64")); // as Chromium 140+
  try {
    const native = Array.from(new Uint8Array(decodeBase64(text).buffer));
    assert.deepEqual(native, fallback);
    assert.deepEqual(native, [0, 1, 2, 250, 255, 128]);
  } finally {
    delete Uint8Array.fromBase64;
  }
});
