"""Positional encodings and self-attention without positions (chapter 6).

The sinusoidal table against its closed form and its rotation property; RoPE
against the complex-number form of Su et al. and its two defining properties;
self-attention's permutation equivariance; the mask-general softmax.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnbook import (
    MultiHeadAttention,
    PositionalEncoding,
    apply_rotary,
    softmax_with_mask,
)
from attnbook.positional import relative_rotation, sinusoidal_table


def test_table_equals_closed_form() -> None:
    T, d = 60, 12
    P = sinusoidal_table(T, d)
    for t in (0, 1, 13, 59):
        for j in range(d):
            angle = t / 10000 ** (2 * (j // 2) / d)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(P[t, j].item() - expected) < 1e-6
    torch.testing.assert_close(PositionalEncoding(d, max_len=T).P[0], P)


@settings(max_examples=30, deadline=None)
@given(delta=st.integers(-50, 50), half=st.integers(1, 16))
def test_moving_on_by_delta_is_one_fixed_rotation(delta: int, half: int) -> None:
    d, T = 2 * half, 300
    P = sinusoidal_table(T, d)
    M = relative_rotation(delta, d)
    t = torch.arange(
        max(0, -delta), min(T, T - delta)
    )  # rows with t and t + delta in the table
    assert (M @ P[t].T).T.sub(P[t + delta]).abs().max() < 1e-5
    torch.testing.assert_close(
        M @ M.T, torch.eye(d), atol=1e-6, rtol=0
    )  # a rotation: orthogonal
    off_block = M.clone()
    for i in range(0, d, 2):
        off_block[i : i + 2, i : i + 2] = 0
    assert off_block.abs().max() == 0  # block diagonal: frequencies never mix


def test_relative_rotation_rejects_odd_width() -> None:
    with pytest.raises(ValueError, match="even"):
        relative_rotation(3, 7)


def test_rope_matches_complex_multiplication() -> None:
    """Su et al. write RoPE as multiplying pair (x_2i, x_2i+1) = x_2i + i x_2i+1 by exp(i t w_i)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 8, dtype=torch.float64)
    t = torch.arange(10, dtype=torch.float64)
    w = 10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    z = torch.view_as_complex(x.unflatten(-1, (4, 2)).contiguous()) * torch.polar(
        torch.ones(10, 4, dtype=torch.float64), t[:, None] * w
    )
    torch.testing.assert_close(apply_rotary(x), torch.view_as_real(z).flatten(-2))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), half=st.integers(1, 16), T=st.integers(1, 40))
def test_rope_preserves_norms(seed: int, half: int, T: int) -> None:
    x = torch.randn(2, T, 2 * half, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(
        apply_rotary(x).norm(dim=-1), x.norm(dim=-1), atol=1e-5, rtol=1e-5
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    m=st.integers(0, 200),
    n=st.integers(0, 200),
    shift=st.integers(-200, 200),
)
def test_rope_dot_product_depends_only_on_the_offset(
    seed: int, m: int, n: int, shift: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(1, 16, generator=g), torch.randn(1, 16, generator=g)

    def score(a: int, b: int) -> float:
        return (
            apply_rotary(q, torch.tensor([a]))
            @ apply_rotary(k, torch.tensor([b])).T
        ).item()

    assert (
        abs(score(m, n) - score(m + shift, n + shift)) < 1e-4
    )  # |q| |k| ~ 16: relative error ~1e-5
    assert abs(score(m, n) - score(0, n - m)) < 1e-4


def test_rope_at_position_zero_is_the_identity() -> None:
    x = torch.randn(1, 4, 6)
    torch.testing.assert_close(apply_rotary(x, torch.zeros(4)), x)


@pytest.mark.parametrize(
    "x,positions,error,word",
    [
        (torch.zeros(2, 5, 7), None, ValueError, "even"),
        (torch.zeros(5), None, ValueError, "shape"),
        (torch.zeros(2, 5, 8, dtype=torch.long), None, TypeError, "floating"),
        (torch.zeros(2, 5, 8), torch.arange(4), ValueError, "positions"),
    ],
)
def test_rope_rejects_bad_input(
    x: torch.Tensor, positions: torch.Tensor | None, error: type, word: str
) -> None:
    with pytest.raises(error, match=word):
        apply_rotary(x, positions)


def test_positional_encoding_rejects_positions_beyond_the_table() -> None:
    with pytest.raises(ValueError, match="max_len=128"):
        PositionalEncoding(8, max_len=128)(torch.zeros(1, 129, 8))


def test_positional_encoding_rejects_mismatched_width() -> None:
    with pytest.raises(ValueError, match="8"):
        PositionalEncoding(8)(torch.zeros(1, 5, 6))


_MHA = MultiHeadAttention(16, 4, query_size=16, key_size=16, value_size=16).eval()


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 12), data=st.data())
def test_self_attention_without_positions_is_permutation_equivariant(
    T: int, data: st.DataObject
) -> None:
    perm = torch.tensor(data.draw(st.permutations(list(range(T)))))
    X = torch.randn(
        2,
        T,
        16,
        generator=torch.Generator().manual_seed(data.draw(st.integers(0, 2**16))),
    )
    with torch.no_grad():
        out = _MHA(X, X, X)
        out_perm = _MHA(X[:, perm], X[:, perm], X[:, perm])
    torch.testing.assert_close(out_perm, out[:, perm], atol=1e-5, rtol=1e-5)


def test_positions_break_permutation_equivariance() -> None:
    """The test above can fail: with positional encoding added, permuting the tokens changes the result."""
    torch.manual_seed(0)
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    tokens = torch.randn(1, 6, 16)
    pe = PositionalEncoding(16)
    X, Xp = pe(tokens), pe(tokens[:, perm])
    with torch.no_grad():
        assert (_MHA(Xp, Xp, Xp) - _MHA(X, X, X)[:, perm]).abs().max() > 1e-2


def test_softmax_with_mask_equals_filled_softmax_and_zeros_empty_rows() -> None:
    torch.manual_seed(0)
    scores = torch.randn(3, 5, 5)
    mask = torch.rand(3, 5, 5) > 0.5
    mask[0, 2] = False  # a query that may attend to nothing
    mask[1, 3] = True
    w = softmax_with_mask(scores, mask)
    ref = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    has_key = mask.any(-1)
    torch.testing.assert_close(w[has_key], ref[has_key])
    assert torch.equal(w[0, 2], torch.zeros(5))
    assert torch.equal(w[~mask], torch.zeros(int((~mask).sum())))
    assert not torch.isnan(w).any()


def test_softmax_with_mask_broadcasts_over_heads() -> None:
    adjacency = torch.eye(4, dtype=torch.bool) | torch.eye(
        4, dtype=torch.bool
    ).roll(1, 0)
    w = softmax_with_mask(
        torch.zeros(2, 3, 4, 4), adjacency
    )  # (B, h, n, n) scores, (n, n) mask
    torch.testing.assert_close(w[1, 2], adjacency.float() / 2)


@pytest.mark.parametrize(
    "mask,error,match",
    [
        (torch.ones(4, 4), TypeError, "boolean"),
        (torch.ones(3, 4, dtype=torch.bool), ValueError, "broadcast"),
        (
            torch.ones(3, 2, 4, 4, dtype=torch.bool),
            ValueError,
            "broadcast",
        ),  # would grow the scores
    ],
)
def test_softmax_with_mask_rejects_bad_masks(
    mask: torch.Tensor, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        softmax_with_mask(torch.zeros(2, 4, 4), mask)
