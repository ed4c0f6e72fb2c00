// Unit tests of the explorer's pure front-end parts: `node --test code/tests/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  cellAt, colourBarTicks, frameIndex, heatmapLayout, labelBlock, labelSetIndex, legendSlots, niceTicks,
  plotLayout, scale, shownSize, tickStride,
} from "../../attnbook/viz/js/layout.js";
import { decodeColormap, decodeFloat16, decodeFloat32, extentOf, halfToFloat } from "../../attnbook/viz/js/decode.js";
import { fillPixels, textWidth } from "../../attnbook/viz/js/heatmap.js";
import { seriesOffsets } from "../../attnbook/viz/js/lineplot.js";
import { rgba } from "../../attnbook/viz/js/theme.js";
import { changeHandlers, currentView } from "../../attnbook/viz/js/widget.js";

const CONTRACT = JSON.parse(readFileSync(new URL("../../attnbook/viz/js/contract.json", import.meta.url)));

test("frameIndex is numpy's row-major ravel_multi_index", () => {
  assert.equal(frameIndex([], []), 0);
  assert.equal(frameIndex([3], [2]), 2);
  assert.equal(frameIndex([3, 4], [2, 1]), 2 * 4 + 1);
  assert.equal(frameIndex([2, 3, 4], [1, 2, 3]), 1 * 12 + 2 * 4 + 3);
});

test("label blocks: shared labels, or block k of the flat per-example list", () => {
  assert.deepEqual(labelBlock(["a", "b"], 2, 5), ["a", "b"]);
  assert.deepEqual(labelBlock(["a", "b", "c", "d", "e", "f"], 2, 1), ["c", "d"]);
  assert.equal(labelSetIndex(["layer", "example"], "example", [3, 1]), 1);
  assert.equal(labelSetIndex(["layer"], "", [3]), 0);
});

test("trimmed examples draw their own size, others the whole frame", () => {
  assert.deepEqual(shownSize([[2, 3], [4, 5]], 1, 4, 5), [4, 5]);
  assert.deepEqual(shownSize([[2, 3], [4, 5]], 0, 4, 5), [2, 3]);
  assert.deepEqual(shownSize([], 0, 4, 5), [4, 5]);
});

test("heatmap layout: integer cells that fit the width, fixed by the largest example", () => {
  const base = { rowLabelWidth: 30, colLabelWidth: 20, available: 700, maxWidth: 720 };
  const big = heatmapLayout({ ...base, rows: 10, cols: 12 });
  assert.ok(Number.isInteger(big.cell) && big.cell >= 3 && big.cell <= 36);
  assert.ok(big.width <= 700, `width ${big.width} exceeds the container`);
  assert.equal(big.gridW, big.cell * 12);
  // a trimmed example keeps the cell size of the largest one
  const small = heatmapLayout({ ...base, rows: 3, cols: 4, maxRows: 10, maxCols: 12 });
  assert.equal(small.cell, big.cell);
  assert.equal(small.gridW, big.cell * 4);
  // many columns: cells shrink, never below 3 px
  const wide = heatmapLayout({ ...base, rows: 2, cols: 400 });
  assert.equal(wide.cell, 3);
  // long labels are capped
  const long = heatmapLayout({ ...base, rows: 2, cols: 2, rowLabelWidth: 1000 });
  assert.equal(long.labelW, 168);
});

test("cellAt maps points to cells and nothing outside the drawn grid", () => {
  const layout = heatmapLayout({ rows: 3, cols: 4, rowLabelWidth: 10, colLabelWidth: 10 });
  const { left, top, cell } = layout;
  assert.deepEqual(cellAt(layout, left + 0.5, top + 0.5), [0, 0]);
  assert.deepEqual(cellAt(layout, left + 3.5 * cell, top + 2.5 * cell), [2, 3]);
  assert.equal(cellAt(layout, left - 1, top + 1), null);
  assert.equal(cellAt(layout, left + 4 * cell, top + 1), null);
  assert.equal(cellAt(layout, left + 1, top + 3 * cell), null);
});

test("ticks, colour bar and legend", () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(-3, 7), [-2, 0, 2, 4, 6]);
  assert.equal(tickStride(20), 1);
  assert.equal(tickStride(4), 4);
  assert.deepEqual(colourBarTicks(0, 1, 0, 1, 3).map(([, t]) => t), ["1.00", "0.50", "0.00"]);
  assert.deepEqual(colourBarTicks(0, 1, -0.5, 2, 3).map(([, t]) => t), ["≥ 1.00", "0.50", "≤ 0.00"]);
  const { slots, rows } = legendSlots([100, 100, 100], 400);
  assert.equal(rows, 2);
  assert.deepEqual(slots[0], [52, 10]);
  assert.equal(slots[2][1], 25); // third entry wraps to the second row
  assert.equal(plotLayout(400, 2).top, plotLayout(400, 1).top + 15);
  assert.equal(scale(0, 10, 100, 200)(5), 150);
  assert.equal(scale(1, 1, 7, 9)(1), 7);
});

test("float16 decoding matches IEEE 754 half precision", () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  const bytes = new DataView(new ArrayBuffer(6));
  [0x3800, 0x7e00, 0x0000].forEach((h, i) => bytes.setUint16(2 * i, h, true));
  const out = decodeFloat16(bytes);
  assert.equal(out[0], 0.5);
  assert.ok(Number.isNaN(out[1]));
  assert.equal(out[2], 0);
  assert.deepEqual(extentOf(out), [0, 0.5]); // NaN (masked) ignored
  const f32 = new Float32Array([1.5, -2]);
  assert.deepEqual(Array.from(decodeFloat32(new Uint8Array(f32.buffer))), [1.5, -2]);
  assert.equal(decodeColormap(new Uint8Array(0)).length, 6); // black to white fallback
});

// Every one of the 65 536 half-precision codes decodes to halfToFloat's value (NaN as NaN), through
// the bit-by-bit path the engines without Float16Array take, and through Float16Array where this
// Node has it; also from an odd byte offset (a buffer inside a larger one).
test("decodeFloat16 gives halfToFloat's value for every code, both paths", () => {
  const codes = new Uint16Array(65536).map((_, h) => h);
  const bytes = new Uint8Array(1 + 2 * codes.length).subarray(1); // odd offset: not aligned for 16 bits
  const view = new DataView(bytes.buffer, 1);
  codes.forEach((h, i) => view.setUint16(2 * i, h, true));
  const show = (x) => (Object.is(x, -0) ? "-0" : String(x));
  const paths = typeof Float16Array === "function" ? [false, true] : [false];
  for (const native of paths) {
    const out = decodeFloat16(bytes, native);
    assert.equal(out.length, 65536);
    for (let h = 0; h < 65536; h++) {
      const want = halfToFloat(h);
      if (Number.isNaN(want) ? !Number.isNaN(out[h]) : !Object.is(out[h], want)) {
        assert.fail(`native=${native}: code 0x${h.toString(16)} decoded to ${show(out[h])}, expected ${show(want)}`);
      }
    }
  }
  assert.ok(Object.is(halfToFloat(0x8000), -0) && Object.is(decodeFloat16(Uint8Array.of(0, 0x80), false)[0], -0));
});

test("fillPixels colours cells through the colour map and greys masked ones", () => {
  const lut = Uint8Array.of(0, 0, 0, 100, 100, 100, 200, 200, 200); // three entries
  const values = Float32Array.of(9, 9, 0, 0.5, NaN, 1, 2, -1); // frame at offset 2, stride 3
  const out = fillPixels(values, 2, 2, 2, 3, lut, 0, 1, [7, 7, 7, 255], new Uint8ClampedArray(16));
  assert.deepEqual(Array.from(out), [0, 0, 0, 255, 100, 100, 100, 255, 200, 200, 200, 255, 200, 200, 200, 255]);
  const masked = fillPixels(values, 4, 1, 1, 1, lut, 0, 1, [7, 8, 9, 255], new Uint8ClampedArray(4));
  assert.deepEqual(Array.from(masked), [7, 8, 9, 255]);
});

test("plot series: fixed curves and curves that follow the sliders", () => {
  assert.deepEqual(seriesOffsets([[5], [3, 2, 5]], 4), [{ start: 0, length: 5 }, { start: 5 + 20, length: 5 }]);
});

test("the front-end registers a handler for every trait of the contract, by its role", () => {
  const calls = { data() {}, view() {}, style() {} };
  const handlers = changeHandlers(CONTRACT, calls);
  const expected = Object.entries(CONTRACT.traits).filter(([, t]) => t.on_change !== "none");
  assert.deepEqual(handlers.map(([e]) => e), expected.map(([name]) => `change:${name}`));
  for (const [event, fn] of handlers) assert.equal(fn, calls[CONTRACT.traits[event.slice(7)].on_change]);
  assert.throws(() => changeHandlers({ traits: { x: { on_change: "nope" } } }, calls), /unknown on_change/);
});

test("currentView trims a per-example frame and its labels", () => {
  const state = {
    shape: [2, 3, 4], position: [1], axis_names: ["example"], labels_by: "example", trims: [[3, 4], [2, 2]],
    row_labels: ["a", "b", "c", "x", "y", ""], col_labels: ["p", "q", "r", "s", "u", "v", "", ""],
    row_slider: "query", row: 1,
  };
  const v = currentView((name) => state[name]);
  assert.equal(v.offset, 12);
  assert.deepEqual([v.rows, v.cols], [2, 2]);
  assert.deepEqual(v.rowLabels, ["x", "y"]);
  assert.deepEqual(v.colLabels, ["u", "v"]);
  assert.equal(v.row, 1);
});

test("hex colours become bytes without a canvas; other syntaxes still need one", () => {
  assert.deepEqual(rgba("#d9d9d9"), [217, 217, 217, 255]);
  assert.deepEqual(rgba("#4D4D4D"), [77, 77, 77, 255]);
  assert.deepEqual(rgba("#e17"), [238, 17, 119, 255]);
  assert.throws(() => rgba("rgb(1, 2, 3)"), /document is not defined/); // node has no canvas
});

test("text widths: measured once per font and text, each font set only when it changes", () => {
  const calls = { font: 0, measure: 0 };
  const context = {
    set font(f) { calls.font += 1; this.f = f; },
    get font() { return this.f; },
    measureText(text) { calls.measure += 1; return { width: text.length * (this.f === "B" ? 2 : 1) }; },
  };
  globalThis.document = { createElement: () => ({ getContext: () => context }) };
  try {
    const widths = ["ab", "abc", "ab", 7, "ab"].map((t) => textWidth(t, "A"));
    assert.deepEqual(widths, [2, 3, 2, 1, 2]);
    assert.deepEqual([textWidth("ab", "B"), textWidth("ab", "A"), textWidth("xyz", "A")], [4, 2, 3]);
    assert.deepEqual(calls, { font: 3, measure: 5 }); // A, B, then A again for "xyz"
  } finally {
    delete globalThis.document;
  }
});
