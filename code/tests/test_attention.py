"""Masked softmax, scoring functions and attention pooling (chapter 3), against references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attnbook import (
    AdditiveAttention,
    BilinearScore,
    ConcatScore,
    DotProductAttention,
    masked_softmax,
)

torch.set_default_dtype(torch.float32)


def keep_mask(valid_lens: torch.Tensor, n_q: int, n_k: int) -> torch.Tensor:
    """Boolean (B, n_q, n_k), True = attend, built independently of the code under test."""
    lens = (
        valid_lens if valid_lens.dim() == 2 else valid_lens[:, None].expand(-1, n_q)
    )
    return torch.stack(
        [torch.stack([torch.arange(n_k) < int(l) for l in row]) for row in lens]
    )


# ------------------------------------------------------------ masked softmax
@settings(max_examples=80, deadline=None)
@given(
    batch=st.integers(1, 4),
    heads=st.integers(0, 3),  # 0 = no head dimension
    n_q=st.integers(1, 5),
    n_k=st.integers(1, 7),
    per_query=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_masked_softmax_properties(
    batch: int, heads: int, n_q: int, n_k: int, per_query: bool, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    shape = (batch, *([heads] if heads else []), n_q, n_k)
    scores = 10 * torch.randn(shape, generator=g)
    lens = torch.randint(
        0, n_k + 1, (batch, n_q) if per_query else (batch,), generator=g
    )
    weights = masked_softmax(scores, lens)
    keep = keep_mask(lens, n_q, n_k)
    if heads:
        keep = keep[:, None].expand(shape)
    assert weights.shape == scores.shape
    assert not torch.isnan(weights).any()
    assert torch.all(weights[~keep] == 0)  # masked keys: exactly zero
    has_key = keep.any(-1)
    torch.testing.assert_close(
        weights.sum(-1)[has_key], torch.ones(int(has_key.sum()))
    )
    assert torch.all(weights.sum(-1)[~has_key] == 0)  # no valid key: a row of zeros
    reference = scores.masked_fill(~keep, float("-inf")).softmax(
        -1
    )  # NaN on empty rows
    torch.testing.assert_close(weights[has_key], reference[has_key])


def test_masked_softmax_without_lengths_is_softmax() -> None:
    scores = torch.randn(2, 3, 4)
    torch.testing.assert_close(masked_softmax(scores), scores.softmax(-1))


def test_why_neither_minus_inf_nor_minus_1e6_alone_works() -> None:
    scores = torch.tensor([[[1.0, 2.0, 3.0]]])
    lens = torch.tensor([0])
    assert torch.isnan(
        scores.masked_fill(
            torch.ones(1, 1, 3, dtype=torch.bool), float("-inf")
        ).softmax(-1)
    ).all()
    uniform = scores.masked_fill(
        torch.ones(1, 1, 3, dtype=torch.bool), -1e6
    ).softmax(-1)
    torch.testing.assert_close(uniform, torch.full((1, 1, 3), 1 / 3))
    assert torch.all(masked_softmax(scores, lens) == 0)


def test_masked_softmax_gradcheck() -> None:
    scores = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    lens = torch.tensor([[0, 2, 4], [1, 3, 0]])
    assert torch.autograd.gradcheck(lambda s: masked_softmax(s, lens), (scores,))
    masked_softmax(scores, lens).sum().backward()
    assert not torch.isnan(scores.grad).any()


@pytest.mark.parametrize(
    ("scores", "lens", "error", "word"),
    [
        (torch.zeros(4), None, ValueError, "shape"),
        (torch.zeros(3, 4), torch.tensor([1, 2, 3]), ValueError, "batch"),
        (torch.zeros(2, 3, 4), torch.tensor([1, 2, 3]), ValueError, "shape"),
        (
            torch.zeros(2, 3, 4),
            torch.ones(2, 4, dtype=torch.long),
            ValueError,
            "shape",
        ),
        (torch.zeros(2, 3, 4), torch.tensor([-1, 2]), ValueError, "lie in"),
        (torch.zeros(2, 3, 4), torch.tensor([5, 2]), ValueError, "lie in"),
        (torch.zeros(2, 3, 4), torch.tensor([1.5, 2.0]), ValueError, "whole"),
        (torch.zeros(2, 3, 4), torch.tensor([True, False]), TypeError, "integer"),
        (torch.zeros(2, 3, 4), [1, 2], TypeError, "valid_lens"),
        (torch.zeros(2, 3, 4, dtype=torch.long), None, TypeError, "floating"),
    ],
)
def test_masked_softmax_bad_input(scores, lens, error, word) -> None:
    with pytest.raises(error, match=word):
        masked_softmax(scores, lens)


def test_masked_softmax_row_of_minus_inf_is_a_zero_row_and_nan_scores_stay_nan() -> (
    None
):
    scores = torch.randn(2, 3, 4, dtype=torch.float64)
    scores[0, 0, :2] = float(
        "-inf"
    )  # every valid score of this row (length 2) is -inf
    scores[1, 1, 0] = float("nan")  # a NaN score is not hidden
    lens = torch.tensor([2, 4])
    leaf = scores.clone().requires_grad_()
    weights = masked_softmax(leaf, lens)
    assert torch.equal(weights[0, 0], torch.zeros(4, dtype=torch.float64))
    assert (
        torch.isnan(weights[1, 1]).all()
        and not torch.isnan(weights[[0, 0, 1, 1], [1, 2, 0, 2]]).any()
    )
    weights[
        :, [0, 2]
    ].sum().backward()  # rows without NaN: a finite gradient, zero on masked keys and empty rows
    assert (
        torch.isfinite(leaf.grad[0]).all()
        and torch.all(leaf.grad[0, :, 2:] == 0)
        and torch.all(leaf.grad[0, 0] == 0)
    )
    torch.testing.assert_close(
        masked_softmax(scores[:1, 1:], lens[:1]),
        masked_softmax(scores, lens)[:1, 1:],
    )


# ------------------------------------------------------- dot-product attention
@pytest.mark.parametrize("scale", [None, 1.0])
@pytest.mark.parametrize("per_query", [False, True])
def test_dot_product_attention_equals_torch_sdpa(
    scale: float | None, per_query: bool
) -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(3, 5, 8, generator=g),
        torch.randn(3, 6, 8, generator=g),
        torch.randn(3, 6, 4, generator=g),
    )
    lens = (
        torch.tensor([[1, 2, 6, 3, 4], [6, 6, 1, 2, 5], [2, 2, 2, 2, 2]])
        if per_query
        else torch.tensor([2, 6, 4])
    )
    attn = DotProductAttention(scale=scale).eval()
    out = attn(q, k, v, lens)
    mask = keep_mask(lens, 5, 6)  # SDPA's boolean mask: True = attend
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert attn.attention_weights.shape == (3, 5, 6)
    d_scale = 1 / math.sqrt(8) if scale is None else scale
    torch.testing.assert_close(
        attn.attention_weights,
        masked_softmax(q @ k.transpose(1, 2) * d_scale, lens),
    )


def test_dot_product_attention_with_no_valid_key_outputs_zeros_not_nan() -> None:
    q, k, v = torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 5)
    out = DotProductAttention()(q, k, v, torch.tensor([0]))
    assert torch.all(out == 0)


@pytest.mark.parametrize(
    ("shapes", "word"),
    [
        (((2, 3, 4), (2, 5, 4), (2, 6, 4)), "pairs"),
        (((2, 3, 4), (3, 5, 4), (3, 5, 4)), "batch"),
        (((2, 3, 4), (2, 5, 6), (2, 5, 4)), "same size"),
        (((3, 4), (2, 5, 4), (2, 5, 4)), "queries"),
    ],
)
def test_dot_product_attention_bad_input(shapes, word) -> None:
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=word):
        DotProductAttention()(q, k, v)


# ------------------------------------------------------------ additive attention
def test_additive_attention_equals_a_per_query_loop() -> None:
    g = torch.Generator().manual_seed(1)
    q, k, v = (
        torch.randn(2, 3, 5, generator=g),
        torch.randn(2, 4, 7, generator=g),
        torch.randn(2, 4, 6, generator=g),
    )
    lens = torch.tensor([2, 4])
    attn = AdditiveAttention(num_hiddens=8, query_size=5, key_size=7).eval()
    out = attn(q, k, v, lens)
    Wq, Wk, wv = attn.W_q.weight, attn.W_k.weight, attn.w_v.weight[0]
    for b in range(2):
        for i in range(3):
            scores = torch.stack(
                [
                    wv @ torch.tanh(Wq @ q[b, i] + Wk @ k[b, j])
                    for j in range(int(lens[b]))
                ]
            )
            alpha = scores.softmax(0)
            torch.testing.assert_close(
                attn.attention_weights[b, i, : int(lens[b])],
                alpha,
                atol=1e-6,
                rtol=1e-5,
            )
            torch.testing.assert_close(
                out[b, i], alpha @ v[b, : int(lens[b])], atol=1e-5, rtol=1e-5
            )
    assert torch.all(attn.attention_weights[0, :, 2:] == 0)


def test_additive_attention_lazy_sizes_and_gradcheck() -> None:
    attn = AdditiveAttention(num_hiddens=4).double()
    q = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    lens = torch.tensor([1, 3])
    attn(q, k, v, lens)  # materialise the lazy layers
    assert attn.W_q.weight.shape == (4, 5) and attn.W_k.weight.shape == (4, 2)
    assert torch.autograd.gradcheck(lambda q, k, v: attn(q, k, v, lens), (q, k, v))


def test_additive_attention_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="num_hiddens"):
        AdditiveAttention(0)
    with pytest.raises(ValueError, match="pairs"):
        AdditiveAttention(4)(
            torch.zeros(1, 2, 3), torch.zeros(1, 4, 3), torch.zeros(1, 5, 3)
        )


# ---------------------------------------------------------- other scores
def test_bilinear_score_is_q_W_k() -> None:
    score = BilinearScore(3, 5)
    q, k = torch.randn(2, 4, 3), torch.randn(2, 6, 5)
    expected = torch.einsum("bid,de,bje->bij", q, score.W, k)
    torch.testing.assert_close(score(q, k), expected)
    with pytest.raises(ValueError, match="queries"):
        score(torch.randn(2, 4, 5), k)


def test_concat_linear_score_gives_every_query_the_same_weights() -> None:
    score = ConcatScore(3, 3)
    q, k = torch.randn(2, 4, 3), torch.randn(2, 6, 3)
    weights = masked_softmax(score(q, k))
    torch.testing.assert_close(
        weights, weights[:, :1].expand_as(weights)
    )  # rows identical
    w = score.linear.weight[0]
    torch.testing.assert_close(
        score(q, k)[0, 1, 2],
        w[:3] @ q[0, 1] + w[3:] @ k[0, 2] + score.linear.bias[0],
    )
