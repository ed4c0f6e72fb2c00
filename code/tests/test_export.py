"""attnbook.export: the exported graphs compute what PyTorch computes, the browser's tokeniser
is Python's, and the input box recomputes in a live kernel.

The round trip runs the exported ONNX files with ``onnxruntime`` (Python), greedy loop and
all, the way ``js/models.js`` does in the browser; skipped where ``onnxruntime`` is missing.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import torch

from attnbook import AdditiveAttention
from attnbook.data import BOS, EOS, PAD, make_dates
from attnbook.data.vocab import Vocab
from attnbook.export import (
    MODEL_DIR_ENV,
    export_translator,
    model_dir,
    transformer_explorer,
    translation_note,
    translator_explorer,
    vit_frames,
)
from attnbook.seq2seq import Seq2Seq, Seq2SeqDecoder, Seq2SeqEncoder
from attnbook.train import STATIC_PAGE_ENV, set_seed
from attnbook.vit import VisionTransformer

JS = pathlib.Path(__file__).resolve().parents[1] / "attnbook" / "viz" / "js"
EXAMPLES = [
    "Friday, December 31, 1999",
    "1 Jan 2000",
    "7. März 2023",
    "2/29/48",
    "x",
]


@pytest.fixture(scope="module")
def task():
    return make_dates(n_train=300, n_valid=10, n_test=10, seed=0)


def date_model(task) -> Seq2Seq:
    set_seed(0)
    h = 16
    return Seq2Seq(
        Seq2SeqEncoder(len(task.src_vocab), 8, h),
        Seq2SeqDecoder(
            len(task.tgt_vocab),
            8,
            h,
            AdditiveAttention(h, query_size=h, key_size=h),
        ),
    ).eval()


def ort_translate(folder: pathlib.Path, ids: list[int], max_len: int):
    """Greedy decoding with the exported graphs, as js/models.js `translate` does it."""
    ort = pytest.importorskip("onnxruntime")
    enc = ort.InferenceSession(str(folder / "encoder.onnx"))
    step = ort.InferenceSession(str(folder / "step.onnx"))
    src = np.array([ids], dtype=np.int64)
    src_len = np.array([len(ids)], dtype=np.int64)

    def feed(session, values):
        return {i.name: values[i.name] for i in session.get_inputs()}

    outputs, state = enc.run(None, feed(enc, {"src": src, "src_len": src_len}))
    y, out, attention = BOS, [], []
    while len(out) < max_len and y != EOS:
        logits, state, weights = step.run(
            None,
            feed(step, {"y": np.array([y]), "state": state, "outputs": outputs,
                        "src_len": src_len}),
        )  # fmt: skip
        logits[0, PAD] = -np.inf
        y = int(logits[0].argmax())
        out.append(y)
        attention.append(weights[0])
    return out, np.array(attention)


def test_exported_translator_decodes_like_pytorch(
    task, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    model = date_model(task)
    src, src_len = task.encode_sources(EXAMPLES[:2])
    model(
        src, src_len, torch.full((2, 3), BOS)
    )  # leaves attention weights with an autograd graph
    assert model.decoder.attention_weights.grad_fn is not None
    folder = export_translator(model, task, "dates", EXAMPLES)
    assert folder == tmp_path / "dates"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["src_tokens"] == list(task.src_vocab.tokens)
    reference = json.loads((folder / "reference.json").read_text())
    assert [r["text"] for r in reference] == EXAMPLES
    assert not model.training  # the chapter's model is untouched
    for ref in reference:
        ids, attention = ort_translate(folder, ref["src_ids"], task.max_target_len)
        assert [task.tgt_vocab.tokens[i] for i in ids] == ref["output_tokens"]
        assert task.tgt_vocab.decode(ids) == ref["output"]
        np.testing.assert_allclose(attention, ref["attention"], rtol=0, atol=1e-5)
        assert attention.shape[1] == len(
            ref["text"]
        )  # any length: the time axis is symbolic
    assert "ä" in reference[2]["unknown"]  # "7. März 2023"


def test_exported_translator_differs_for_other_weights(
    task, tmp_path, monkeypatch
) -> None:
    """The round trip above can fail: other weights give other attention."""
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    folder = export_translator(date_model(task), task, "dates", EXAMPLES[:1])
    reference = json.loads((folder / "reference.json").read_text())[0]
    other = date_model(task)
    with torch.no_grad():
        other.decoder.attention.w_v.weight.mul_(3.0)
    folder = export_translator(other, task, "other", EXAMPLES[:1])
    _, attention = ort_translate(folder, reference["src_ids"], task.max_target_len)
    n = min(len(attention), len(reference["attention"]))
    assert np.abs(attention[:n] - np.array(reference["attention"])[:n]).max() > 1e-3


def test_export_rejects_bad_arguments(task, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="letters, digits and '-'"):
        export_translator(date_model(task), task, "../up", EXAMPLES)
    fixed = Seq2Seq(
        Seq2SeqEncoder(len(task.src_vocab), 8, 16),
        Seq2SeqDecoder(len(task.tgt_vocab), 8, 16, None),
    )
    with pytest.raises(TypeError, match="Seq2Seq with attention"):
        export_translator(fixed, task, "dates", EXAMPLES)
    with pytest.raises(ValueError, match="non-empty str"):
        translator_explorer(date_model(task), task, "dates", text="  ")
    # in a kernel too, not only while exporting (was AttributeError on a model without attention)
    with pytest.raises(TypeError, match="Seq2Seq with attention"):
        translator_explorer(fixed, task, "dates", text="1 Jan 2000")
    with pytest.raises(
        TypeError, match="examples must be a list"
    ):  # not its characters
        translator_explorer(
            date_model(task), task, "dates", "1 Jan 2000", "2/29/48"
        )
    with pytest.raises(
        TypeError, match="examples must be a list of at least 1"
    ):  # was IndexError
        export_translator(date_model(task), task, "dates", [])
    with pytest.raises(TypeError, match="a Transformer"):
        transformer_explorer(date_model(task), task, "dates", "a cat")
    with pytest.raises(TypeError, match="class token"):
        vit = VisionTransformer(
            8, 4, 10, num_hiddens=8, num_heads=2, num_layers=1, pool="mean"
        )
        vit_frames(vit, torch.zeros(1, 1, 8, 8))


def test_model_dir_is_under_the_book_root(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "chapters").mkdir()
    assert (
        model_dir(tmp_path / "chapters") == tmp_path / "_build" / "browser_models"
    )
    with pytest.raises(FileNotFoundError, match=MODEL_DIR_ENV):
        model_dir("/")


def test_input_box_recomputes_in_a_live_kernel(task, monkeypatch) -> None:
    monkeypatch.delenv(STATIC_PAGE_ENV, raising=False)
    ex = translator_explorer(date_model(task), task, "dates", text="1 Jan 2000")
    assert ex.input["runtime"] == "kernel" and ex.input["max_length"] == 40
    assert ex.shape[-1] == len("1 Jan 2000")
    ex.input_value = "7. März 2023"  # what the browser sends
    assert ex.shape[-1] == len("7. März 2023")
    assert ex.current_col_labels[4] == "<unk>"
    assert "read as <unk>: “ä”" in ex.input_note  # the first unknown
    ex.input_value = "x" * 41
    assert ex.input_note == "input has 41 characters; at most 40 are accepted"


def test_translation_note() -> None:
    assert translation_note("1999-12-31", []) == "Output: 1999-12-31"
    assert translation_note("2023-03-07", ["ä", "r"]) == (
        "Output: 2023-03-07. Not in the training data, read as <unk>: “ä”, “r”"
    )


# ------------------------------------------------- the browser's tokeniser is Python's
TEXTS = [
    "Friday, December 31, 1999", "7. März 2023", "2/29/48", " x ", "😀 emoji",
    "e\u0301", "a\tb\nc", "tab\x1fsep", "nbsp\xa0here", "zwnbsp\ufeffthere", "<unk>",
    "<pad> a", "  Hello,   world  ", "ideographic\u3000space", "l\u2028s",
]  # fmt: skip


def js_tokenize(meta: dict, texts: list[str]) -> list[dict]:
    """``tokenize(meta, text)`` of the browser's ``models.js`` for each text, run in node."""
    script = (
        f"import {{ tokenize }} from {json.dumps((JS / 'models.js').as_uri())};\n"
        f"const meta = {json.dumps(meta)};\n"
        f"const texts = {json.dumps(texts)};\n"
        "console.log(JSON.stringify(texts.map((t) => tokenize(meta, t))));\n"
    )
    run = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(run.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("sep", ["", " "])
def test_js_tokenize_equals_python(task, sep: str) -> None:
    if sep == "":
        vocab = task.src_vocab
    else:
        vocab = Vocab.from_texts(["Hello, world", "a b c", "x"], sep=" ")
    expected = [
        {
            "tokens": vocab.split(t),
            "ids": vocab.encode(t) if vocab.split(t) else [],
            "unknown": list(
                dict.fromkeys(x for x in vocab.split(t) if x not in vocab)
            ),
        }
        for t in TEXTS
    ]
    got = js_tokenize({"src_tokens": list(vocab.tokens), "sep": sep}, TEXTS)
    for text, g, e in zip(TEXTS, got, expected, strict=True):
        assert g == e, text


# ------------------------------------------------------------------ chapter 9: the ViT
def small_vit():
    from attnbook.vit import VisionTransformer

    set_seed(0)
    return VisionTransformer(8, 2, 10, num_hiddens=16, num_heads=2, num_layers=2,
                             mlp_hiddens=32).eval()  # fmt: skip


def test_exported_vit_equals_pytorch(tmp_path, monkeypatch) -> None:
    ort = pytest.importorskip("onnxruntime")
    from attnbook.export import export_vit

    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    images[2] = 0.0  # a cleared pad
    folder = export_vit(small_vit(), "vit", images)
    reference = json.loads((folder / "reference.json").read_text())
    session = ort.InferenceSession(str(folder / "vit.onnx"))
    for ref in reference:
        image = np.array(ref["image"], dtype=np.float32)[None, None]
        probs, frames = session.run(None, {"image": image})
        np.testing.assert_allclose(probs, ref["probs"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(frames, ref["frames"], rtol=0, atol=1e-5)
        assert frames.shape == (
            2,
            4,
            8,
            17,
        )  # layers, heads + mean + rollout, rows, 8 + 1 + 8
        np.testing.assert_array_equal(
            frames[0, 0, :, :8], image[0, 0]
        )  # the drawing itself
    assert (
        np.abs(np.subtract(reference[0]["frames"], reference[1]["frames"])).max()
        > 1e-3
    )


def test_pad_recomputes_in_a_live_kernel(monkeypatch) -> None:
    from attnbook.export import vit_explorer

    monkeypatch.delenv(STATIC_PAGE_ENV, raising=False)
    ex = vit_explorer(small_vit(), "vit", torch.zeros(1, 1, 8, 8))
    assert ex.input["kind"] == "pad" and ex.axis_names == ["layer", "head"]
    before = ex.frame.copy()
    image = torch.zeros(8, 8)
    image[2:6, 3] = 1.0
    ex.input_value = json.dumps(image.flatten().tolist())  # what the pad sends
    assert not np.allclose(ex.frame[:, 9:], before[:, 9:])
    np.testing.assert_array_equal(ex.frame[:, :8], image.numpy())
    probs = json.loads(ex.input_note)
    assert len(probs) == 10 and abs(sum(probs) - 1) < 1e-4
    with pytest.raises(ValueError, match=r"\(1, 1, H, W\)"):
        vit_explorer(small_vit(), "vit", torch.zeros(8, 8))


# ------------------------------------------------------------------ chapter 7: the Transformer
SENTENCES = ["the red car is not small", "I like the cat", "zzz qqq the dog"]


@pytest.fixture(scope="module")
def enfr():
    from attnbook.data import make_enfr

    return make_enfr(n_train=300, n_valid=10, n_test=10, seed=0)


def small_transformer(task):
    from attnbook.transformer import Transformer

    set_seed(0)
    return Transformer.build(len(task.src_vocab), len(task.tgt_vocab), num_hiddens=16,
                             ffn_num_hiddens=32, num_heads=2, num_layers=2).eval()  # fmt: skip


def test_exported_transformer_decodes_like_pytorch(
    enfr, tmp_path, monkeypatch
) -> None:
    ort = pytest.importorskip("onnxruntime")
    from attnbook.export import export_transformer

    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    folder = export_transformer(small_transformer(enfr), enfr, "enfr", SENTENCES)
    reference = json.loads((folder / "reference.json").read_text())
    enc = ort.InferenceSession(str(folder / "encoder.onnx"))
    dec = ort.InferenceSession(str(folder / "decoder.onnx"))
    for ref in reference:
        src = np.array([ref["src_ids"]], dtype=np.int64)
        src_len = np.array([src.shape[1]], dtype=np.int64)
        feeds = {"src": src, "src_len": src_len}
        (memory,) = enc.run(None, {i.name: feeds[i.name] for i in enc.get_inputs()})
        prefix = [BOS]
        while (
            len(prefix) <= enfr.max_target_len
            and prefix[-1] != EOS
            or len(prefix) == 1
        ):
            feeds = {
                "y_in": np.array([prefix]),
                "memory": memory,
                "src_len": src_len,
            }
            logits, self_w, cross = dec.run(
                None, {i.name: feeds[i.name] for i in dec.get_inputs()}
            )
            logits[0, -1, PAD] = -np.inf
            prefix.append(int(logits[0, -1].argmax()))
            if len(prefix) > enfr.max_target_len:
                break
        out = prefix[1:]
        assert [enfr.tgt_vocab.tokens[i] for i in out] == ref["output_tokens"]
        np.testing.assert_allclose(cross, ref["cross_attention"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(self_w, ref["self_attention"], rtol=0, atol=1e-5)
    assert reference[2]["unknown"][:2] == ["zzz", "qqq"]


def test_transformer_box_recomputes_in_a_live_kernel(enfr, monkeypatch) -> None:
    from attnbook.export import transformer_explorer

    monkeypatch.delenv(STATIC_PAGE_ENV, raising=False)
    ex = transformer_explorer(
        small_transformer(enfr), enfr, "enfr", text="I like the cat"
    )
    assert ex.axis_names == ["attention", "layer", "head"]
    ex.input_value = "zzz the dog"
    assert ex.current_col_labels[0] == "<unk>"
    assert "“zzz”" in ex.input_note


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_english_tokenize_equals_python(enfr) -> None:
    texts = [*TEXTS, "I don't like it!", "L'ÉTÉ est là", "naïve café", "e\u0301t\u00e9",
             "x_y 3rd ²³ ٣", "İstanbul", "rock'n'roll", "'quoted'", "ǅemal"]  # fmt: skip
    expected = [enfr.source_tokens(t) for t in texts]
    meta = {
        "src_tokens": list(enfr.src_vocab.tokens),
        "sep": " ",
        "tokenizer": "english",
    }
    for text, got, tokens in zip(
        texts, js_tokenize(meta, texts), expected, strict=True
    ):
        assert got["tokens"] == tokens, text
        ids = [enfr.src_vocab._index.get(t, 3) for t in tokens]
        assert got["ids"] == ids, text
        unknown = list(dict.fromkeys(t for t in tokens if t not in enfr.src_vocab))
        assert got["unknown"] == unknown, text
