// models.js without a browser: decoding, argmax and the tokeniser's edge cases. (That the
// tokeniser equals Python's on the book's vocabularies: code/tests/test_export.py.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { argmax, detokenize, tokenize } from "../../attnbook/viz/js/models.js";
import { translationNote } from "../../attnbook/viz/js/input.js";

const TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "-", "0", "1", "9"];

test("detokenize follows Vocab.decode", () => {
  assert.equal(detokenize(TOKENS, "", [1, 7, 7, 4, 0, 5, 6, 2, 5]), "99-01");
  assert.equal(detokenize(TOKENS, "", [5, 3, 6]), "0\ufffd1");
  assert.equal(detokenize(["<pad>", "<bos>", "<eos>", "<unk>", "le", "chat"], " ", [4, 3, 5, 2, 4]), "le <unk> chat");
});

test("argmax skips <pad> and keeps the first of equal values", () => {
  assert.equal(argmax(Float32Array.from([9, 1, 3, 3])), 0);
  assert.equal(argmax(Float32Array.from([9, 1, 3, 3]), 0), 2);
});

test("tokenize counts code points and reports unknowns once", () => {
  const meta = { src_tokens: TOKENS, sep: "" };
  assert.deepEqual(tokenize(meta, "1😀1😀"), { tokens: ["1", "😀", "1", "😀"], ids: [6, 3, 6, 3], unknown: ["😀"] });
  const words = { src_tokens: ["<pad>", "<bos>", "<eos>", "<unk>", "a"], sep: " " };
  assert.deepEqual(tokenize(words, " a\u00a0<unk>\ufeffb "), { tokens: ["a", "<unk>\ufeffb"], ids: [4, 3], unknown: ["<unk>\ufeffb"] });
});

test("the note names the output and every unknown token", () => {
  assert.equal(translationNote("1999-12-31", []), "Output: 1999-12-31");
  assert.equal(translationNote("2023-03-07", ["ä"]), "Output: 2023-03-07. Not in the training data, read as <unk>: “ä”");
});
