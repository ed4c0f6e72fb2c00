"""MultiHeadAttention against torch.nn.MultiheadAttention and F.scaled_dot_product_attention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnbook import MultiHeadAttention

D, H = 16, 4


def pair(
    bias: bool = True, kdim: int = D, vdim: int = D
) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    """The book's module and torch's, with the same weights (``MultiHeadAttention.from_torch``)."""
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(
        D, H, bias=bias, batch_first=True, kdim=kdim, vdim=vdim
    ).eval()
    return MultiHeadAttention.from_torch(ref), ref


def test_from_torch_and_to_torch_round_trip_without_drawing_random_numbers() -> (
    None
):
    for kdim in (D, 6):
        mha, ref = pair(kdim=kdim, vdim=kdim)
        state = torch.random.get_rng_state()
        back = mha.to_torch()
        assert torch.equal(torch.random.get_rng_state(), state)
        for name, tensor in ref.state_dict().items():
            assert torch.equal(back.state_dict()[name], tensor), name
    with pytest.raises(TypeError, match="MultiheadAttention"):
        MultiHeadAttention.from_torch(nn.Linear(3, 3))


def test_sizes_default_to_num_hiddens_and_lazy_is_explicit() -> None:
    mha = MultiHeadAttention(8, 2)
    assert [W.in_features for W in (mha.W_q, mha.W_k, mha.W_v)] == [8, 8, 8]
    lazy = MultiHeadAttention(8, 2, key_size="lazy", value_size=3)
    assert isinstance(lazy.W_k, nn.LazyLinear) and lazy.W_v.in_features == 3
    lazy(torch.randn(1, 2, 8), torch.randn(1, 4, 5), torch.randn(1, 4, 3))
    assert lazy.W_k.in_features == 5


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_q,n_k", [(5, 5), (3, 7)])
def test_equals_torch_with_key_padding(bias: bool, n_q: int, n_k: int) -> None:
    mha, ref = pair(bias)
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, n, D, generator=g) for n in (n_q, n_k, n_k))
    for lens in (None, torch.tensor([n_k, 2])):
        # torch's key_padding_mask: True = blocked (the opposite of SDPA's boolean mask)
        blocked = None if lens is None else torch.arange(n_k)[None] >= lens[:, None]
        out_ref, w_ref = ref(
            q, k, v, key_padding_mask=blocked, average_attn_weights=False
        )
        out = mha(q, k, v, lens)
        torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            mha.attention_weights, w_ref, atol=1e-6, rtol=1e-5
        )
        assert mha.attention_weights.shape == (2, H, n_q, n_k)


def test_equals_torch_with_per_query_lengths_and_other_key_sizes() -> None:
    mha, ref = pair(kdim=6, vdim=10)
    g = torch.Generator().manual_seed(2)
    q, k, v = (
        torch.randn(2, 4, D, generator=g),
        torch.randn(2, 4, 6, generator=g),
        torch.randn(2, 4, 10, generator=g),
    )
    lens = torch.tensor(
        [[1, 2, 3, 4], [4, 4, 1, 2]]
    )  # e.g. a causal mask for the first example
    blocked = (
        torch.arange(4)[None, None] >= lens[..., None]
    )  # (B, n_q, n_k), True = blocked
    out_ref, _ = ref(
        q, k, v, attn_mask=blocked.repeat_interleave(H, 0)
    )  # torch wants (B*h, n_q, n_k)
    torch.testing.assert_close(mha(q, k, v, lens), out_ref, atol=1e-5, rtol=1e-5)


def test_fused_path_equals_explicit_path_and_zeroes_empty_rows() -> None:
    mha, _ = pair()
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(3, 5, D, generator=g) for _ in range(3))
    lens = torch.tensor([5, 2, 0])
    explicit = mha(q, k, v, lens)
    mha.keep_weights = False
    fused = mha(q, k, v, lens)
    assert mha.attention_weights is None
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    assert not torch.isnan(fused).any()
    torch.testing.assert_close(
        fused[2], mha.W_o.bias.expand(5, D)
    )  # no valid key: zero heads, only the bias


def test_attend_softmax_in_place_equals_masked_softmax_and_its_gradients() -> None:
    """``attend`` writes its softmax over the scores and its backward over the incoming
    gradient: same weights, outputs and gradients as ``masked_softmax`` on a copy, also
    when the weights feed a second term of the loss, with an empty row (zeros) and a NaN
    query (NaN stays NaN)."""
    from attnbook import masked_softmax

    mha, _ = pair()
    g = torch.Generator().manual_seed(5)
    lens = torch.tensor(
        [[5, 1, 3, 0], [2, 2, 5, 5]]
    )  # (B, n_q): one query sees no key
    leaves = [
        torch.randn(2, H, n, 4, generator=g, dtype=torch.double) for n in (4, 5, 5)
    ]
    leaves[0][1, 2, 3, 0] = float("nan")
    go = torch.randn(2, H, 4, 4, generator=g, dtype=torch.double)

    def run(book: bool) -> list[torch.Tensor]:
        q, k, v = (t.clone().requires_grad_() for t in leaves)
        if book:
            out, weights = mha.attend(q, k, v, lens), mha.attention_weights
        else:
            scores = q @ k.transpose(-2, -1) / 2.0  # d_h = 4
            weights = masked_softmax(scores, lens)  # lengths shared by the heads
            out = weights @ v
        ((out * go).nansum() + (weights.nan_to_num() ** 2).sum()).backward()
        return [out, weights, q.grad, k.grad, v.grad]

    for name, a, b in zip(
        ("out", "weights", "dq", "dk", "dv"), run(True), run(False)
    ):
        torch.testing.assert_close(a, b, equal_nan=True, msg=name)
    weights = mha.attention_weights
    assert torch.equal(weights[0, :, 3], torch.zeros(H, 5))  # no valid key
    assert (
        torch.isnan(weights[1, 2, 3]).all()
        and not torch.isnan(weights[1, :2]).any()
    )
    with torch.no_grad():
        mha.attend(*leaves, lens)
    torch.testing.assert_close(mha.attention_weights, weights, equal_nan=True)


def test_attend_backward_leaves_a_shared_gradient_alone() -> None:
    """``w + x`` hands both terms the same gradient tensor; the softmax's backward must not
    write over it, or ``x`` (whose backward runs later: it was made first) gets a wrong one."""
    mha, _ = pair()
    g = torch.Generator().manual_seed(6)
    X = torch.randn(2, 5, D, generator=g)
    c = torch.randn(2, H, 5, 5, generator=g)
    x = torch.randn(2, H, 5, 5, generator=g, requires_grad=True)
    other = x * 2  # made before the attention
    mha(X, X, X, torch.tensor([5, 3]))
    ((mha.attention_weights + other) * c).sum().backward()
    torch.testing.assert_close(x.grad, 2 * c)


def test_no_keys_at_all_gives_the_bias_only_on_both_paths() -> None:
    """Zero keys: every query has no valid key, so every head is zero (the book's rule)."""
    from attnbook import masked_softmax

    torch.manual_seed(0)
    kept = MultiHeadAttention(D, H, bias=True)
    fused = MultiHeadAttention(D, H, bias=True, keep_weights=False)
    fused.load_state_dict(kept.state_dict())
    X, none = torch.randn(2, 3, D), torch.randn(2, 0, D)
    out = kept(X, none, none)
    assert kept.attention_weights.shape == (2, H, 3, 0)
    torch.testing.assert_close(out, kept.W_o.bias.expand(2, 3, D))
    torch.testing.assert_close(fused(X, none, none), out)
    assert masked_softmax(torch.randn(2, 3, 0), torch.tensor([0, 0])).shape == (
        2,
        3,
        0,
    )


def test_gradcheck_tiny() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(
        4, 2, bias=True, query_size=3, key_size=3, value_size=3
    ).double()
    q, k, v = (
        torch.randn(1, n, 3, dtype=torch.double, requires_grad=True)
        for n in (2, 3, 3)
    )
    assert torch.autograd.gradcheck(
        lambda q, k, v: mha(q, k, v, torch.tensor([2])), (q, k, v)
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_hiddens": 10, "num_heads": 3}, "divisible"),
        ({"num_hiddens": 8, "num_heads": 0}, "num_heads"),
    ],
)
def test_bad_construction(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_bad_inputs() -> None:
    mha, _ = pair()
    with pytest.raises(ValueError, match="queries"):
        mha(torch.randn(2, 3, D + 1), torch.randn(2, 3, D), torch.randn(2, 3, D))
    with pytest.raises(ValueError, match="pairs"):
        mha(torch.randn(2, 3, D), torch.randn(2, 4, D), torch.randn(2, 5, D))
    with pytest.raises(ValueError, match="valid_lens"):
        mha(
            torch.randn(2, 3, D),
            torch.randn(2, 4, D),
            torch.randn(2, 4, D),
            torch.tensor([5, 1]),
        )


def test_equals_a_loop_over_heads_and_sdpa_mask_polarity() -> None:
    """Head i = single-head attention on rows i*d_h:(i+1)*d_h of the stacked projections; SDPA's bool mask is True = attend."""
    import torch.nn.functional as F

    from attnbook import DotProductAttention

    mha, _ = pair()
    g = torch.Generator().manual_seed(4)
    X = torch.randn(2, 6, D, generator=g)
    lens = torch.tensor([6, 3])
    d_h, heads = mha.head_size, []
    for i in range(H):
        rows = slice(i * d_h, (i + 1) * d_h)
        q, k, v = (
            X @ W.weight[rows].T + W.bias[rows] for W in (mha.W_q, mha.W_k, mha.W_v)
        )  # (B, T, d_h)
        heads.append(DotProductAttention()(q, k, v, lens))
    expected = mha.W_o(torch.cat(heads, dim=-1))
    torch.testing.assert_close(mha(X, X, X, lens), expected, atol=1e-5, rtol=1e-5)
    attend = (torch.arange(6)[None] < lens[:, None])[
        :, None, None, :
    ]  # (B, 1, 1, T): True = attend
    qh, kh, vh = (mha.split_heads(W(X)) for W in (mha.W_q, mha.W_k, mha.W_v))
    core = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=attend)
    torch.testing.assert_close(
        mha.W_o(mha.merge_heads(core)), expected, atol=1e-5, rtol=1e-5
    )
    flipped = F.scaled_dot_product_attention(
        qh, kh, vh, attn_mask=~attend
    )  # the wrong polarity
    assert not torch.allclose(
        mha.W_o(mha.merge_heads(flipped))[1], expected[1], atol=1e-3
    )


def test_fused_attention_context_switches_every_layer_and_restores() -> None:
    from attnbook.attention import fused_attention
    from attnbook.transformer import EncoderBlock

    torch.manual_seed(0)
    stack = nn.Sequential(EncoderBlock(D, 32, H), EncoderBlock(D, 32, H)).eval()
    X, lens = (
        torch.randn(2, 5, D),
        torch.tensor([[1, 2, 3, 4, 5], [5, 5, 2, 0, 3]]),
    )  # 2-D lengths, one empty row
    explicit = stack[1](stack[0](X, lens), lens)
    with fused_attention(stack):
        assert all(not b.attention.keep_weights for b in stack)
        fused = stack[1](stack[0](X, lens), lens)
    assert all(b.attention.keep_weights for b in stack)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
