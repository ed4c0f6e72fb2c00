"""Fuzzing the core modules (attention, positional, transformer) with hypothesis (issue 12, section 5).

Every input is either answered right (checked against a reference) or refused with a ValueError or
TypeError that names the problem -- never a NaN, a silent wrong answer or a bare error from inside torch.
"""

# ruff: noqa: B023  -- the lambdas given to refused() run at once, inside their loop iteration
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from attnbook import (
    AdditiveAttention,
    BilinearScore,
    ConcatScore,
    DotProductAttention,
    MultiHeadAttention,
    PositionalEncoding,
    masked_softmax,
    softmax_with_mask,
)
from attnbook.attention import fused_attention
from attnbook.positional import apply_rotary, relative_rotation, sinusoidal_table
from attnbook.pretrained import BertEmbeddings
from attnbook.transformer import (
    DecoderBlock,
    EncoderBlock,
    PositionWiseFFN,
    Transformer,
    TransformerDecoder,
    TransformerEncoder,
    attention_maps,
)

pytestmark = pytest.mark.usefixtures("one_thread")
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FLOATS = (torch.float32, torch.float64, torch.bfloat16)


def refused(call, *errors: type[Exception]) -> Exception:
    """``call()`` raises one of ``errors`` (default ValueError, TypeError) with a message."""
    with pytest.raises(errors or (ValueError, TypeError)) as info:
        call()
    assert str(info.value), "an error without a message"
    return info.value


# ------------------------------------------------------------------------------ masked softmax
@FUZZ
@given(
    batch=st.integers(0, 3), heads=st.integers(0, 2), n_q=st.integers(1, 4), n_k=st.integers(1, 6),
    per_query=st.booleans(), dtype=st.sampled_from(FLOATS), minus_inf=st.booleans(), seed=st.integers(0, 2**16),
)  # fmt: skip
def test_masked_softmax_never_nan_and_matches_the_reference(
    batch, heads, n_q, n_k, per_query, dtype, minus_inf, seed
):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, *([heads] if heads else []), n_q, n_k)
    scores = (3 * torch.randn(shape, generator=g)).to(dtype)
    if minus_inf and scores.numel():
        scores[scores < 0] = float(
            "-inf"
        )  # some rows will have every valid score -inf
    lens = torch.randint(
        0, n_k + 1, (batch, n_q) if per_query else (batch,), generator=g
    )
    leaf = scores.clone().requires_grad_()
    weights = masked_softmax(leaf, lens)
    assert weights.shape == scores.shape and weights.dtype == dtype
    assert not torch.isnan(weights).any()
    keep = (
        torch.arange(n_k) < (lens if per_query else lens[:, None])[..., None]
    ).expand(batch, n_q, n_k)
    keep = keep[:, None].expand(shape) if heads else keep  # (B, [h,] n_q, n_k)
    assert torch.all(weights[~keep] == 0)
    reference = scores.masked_fill(~keep, float("-inf")).float().softmax(-1)
    finite_row = ~torch.isnan(reference).any(
        -1
    )  # rows with at least one finite valid score
    tol = 1e-2 if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(
        weights.float()[finite_row], reference[finite_row], atol=tol, rtol=tol
    )
    assert torch.all(
        weights[~finite_row] == 0
    )  # length 0 or every valid score -inf: a zero row
    weights.float().pow(2).sum().backward()
    assert not torch.isnan(leaf.grad).any()


@pytest.mark.parametrize(
    "scores,lens,error",
    [
        (torch.ones(2, 3, dtype=torch.long), None, TypeError),
        (torch.ones(2, 3, 4), torch.tensor([1, 2]).float() + 0.5, ValueError),
        (torch.ones(2, 3, 4), torch.tensor([[1, 2]]), ValueError),
        (torch.ones(2, 3, 4), torch.tensor([1, 5]), ValueError),
        (torch.ones(2, 3, 4), torch.tensor([True, True]), TypeError),
        (torch.ones(2, 3, 4), "2", TypeError),
        ("scores", None, TypeError),
    ],
)
def test_masked_softmax_refuses_bad_input(scores, lens, error) -> None:
    refused(lambda: masked_softmax(scores, lens), error)


def test_softmax_with_mask_refuses_a_mask_that_would_grow_the_scores() -> None:
    refused(
        lambda: softmax_with_mask(
            torch.zeros(3, 3), torch.ones(2, 3, 3, dtype=torch.bool)
        ),
        ValueError,
    )


# ------------------------------------------------------------------------------ attention modules
def modules(d_q: int, d_k: int, d_v: int) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "dot": DotProductAttention(),
        "additive": AdditiveAttention(8, query_size=d_q, key_size=d_k),
        "multi-head": MultiHeadAttention(
            8, 2, query_size=d_q, key_size=d_k, value_size=d_v
        ),
    }


@FUZZ
@given(
    batch=st.integers(0, 3), n_q=st.integers(1, 4), n_k=st.integers(1, 5), d=st.integers(1, 6),
    d_v=st.integers(1, 6), seed=st.integers(0, 2**16),
)  # fmt: skip
def test_attention_modules_shapes_and_no_nan(batch, n_q, n_k, d, d_v, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    q, k, v = (
        torch.randn(batch, n_q, d, generator=g),
        torch.randn(batch, n_k, d, generator=g),
        torch.randn(batch, n_k, d_v, generator=g),
    )
    lens = torch.randint(0, n_k + 1, (batch,), generator=g)
    for name, module in modules(d, d, d_v).items():
        out = module.eval()(q, k, v, lens)
        width = 8 if name == "multi-head" else d_v
        assert out.shape == (batch, n_q, width) and not torch.isnan(out).any(), name
        empty = lens == 0
        if name != "multi-head":  # no valid key: the pooled value is 0
            assert torch.all(out[empty] == 0), name


@FUZZ
@given(
    wrong=st.sampled_from(["queries", "keys", "values"]),
    delta=st.sampled_from([-1, 1, 3]),
)
def test_attention_modules_refuse_wrong_widths(wrong: str, delta: int) -> None:
    sizes = {"queries": 4, "keys": 4, "values": 5}
    for name, module in modules(4, 4, 5).items():
        widths = dict(sizes, **{wrong: sizes[wrong] + delta})
        q, k, v = (
            torch.randn(2, 3, widths[n]) for n in ("queries", "keys", "values")
        )
        if name == "dot" and wrong == "values":
            continue  # dot-product attention takes values of any width
        if name == "additive" and wrong == "values":
            continue  # additive attention too: the values are only averaged
        error = refused(lambda: module(q, k, v), ValueError)
        assert wrong in str(error) or "same size" in str(error), (name, str(error))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.long])
def test_attention_modules_refuse_a_dtype_that_is_not_theirs_naming_both(
    dtype: torch.dtype,
) -> None:
    q = torch.ones(2, 3, 4, dtype=dtype)
    for name, module in modules(4, 4, 4).items():
        k = torch.ones(2, 3, 4)  # float32
        error = refused(lambda: module(q, k, k), TypeError)
        assert str(dtype) in str(error) and (
            "float32" in str(error) or dtype == torch.long
        ), (name, str(error))
    module = MultiHeadAttention(4, 2).double()  # cast the module instead: works
    x = torch.randn(1, 3, 4, dtype=torch.float64)
    assert module(x, x, x).dtype == torch.float64


def test_attention_modules_refuse_non_tensors_and_wrong_ranks() -> None:
    for module in modules(4, 4, 4).values():
        x = torch.ones(2, 3, 4)
        refused(lambda: module(x.numpy(), x, x), TypeError)
        refused(lambda: module(x[0], x, x), ValueError)
        refused(
            lambda: module(x, x, x, torch.tensor([4, 1])), ValueError
        )  # length beyond the 3 keys


def test_constructors_refuse_bad_sizes() -> None:
    for call in (
        lambda: MultiHeadAttention(0, 1), lambda: MultiHeadAttention(8, 3), lambda: MultiHeadAttention(8.0, 2),
        lambda: MultiHeadAttention(8, 2, query_size=-1), lambda: AdditiveAttention(-2),
        lambda: EncoderBlock(8, 16, 2, eps=0.0), lambda: DecoderBlock(8, 16, 2, eps=float("nan")),
        lambda: EncoderBlock(8, 16, 2, activation="tanh"), lambda: EncoderBlock(8, 0, 2),
    ):  # fmt: skip
        refused(call)


# ------------------------------------------------------------------------------ positional encodings
@FUZZ
@given(max_len=st.integers(1, 300), d=st.integers(1, 40), base=st.floats(1e-3, 1e8))
def test_sinusoidal_table_is_finite_for_every_valid_size_and_base(
    max_len: int, d: int, base: float
) -> None:
    P = sinusoidal_table(max_len, d, base)
    assert (
        P.shape == (max_len, d) and torch.isfinite(P).all() and P.abs().max() <= 1
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: sinusoidal_table(0, 4), lambda: sinusoidal_table(4, -1), lambda: sinusoidal_table(4, 4.0),
        lambda: sinusoidal_table(4, 4, base=0.0), lambda: sinusoidal_table(4, 4, base=-10.0),
        lambda: sinusoidal_table(4, 4, base=float("nan")), lambda: sinusoidal_table(4, 4, base=float("inf")),
        lambda: relative_rotation(1, 5), lambda: PositionalEncoding(4, max_len=0),
        lambda: PositionalEncoding(4)(torch.ones(1, 3, 4, dtype=torch.long)),
        lambda: PositionalEncoding(4, max_len=3)(torch.ones(1, 4, 4)),
        lambda: apply_rotary(torch.ones(2, 3)), lambda: apply_rotary(torch.ones(3, 4), torch.arange(2)),
        lambda: apply_rotary(torch.ones(3, 4), [0, 1, 2]), lambda: apply_rotary(torch.ones(3, 4, dtype=torch.int32)),
    ],
)  # fmt: skip
def test_positional_refuses_bad_input(call) -> None:
    refused(call)


@FUZZ
@given(dtype=st.sampled_from(FLOATS), T=st.integers(1, 9))
def test_positional_encoding_follows_the_input_dtype(
    dtype: torch.dtype, T: int
) -> None:
    X = torch.zeros(2, T, 6, dtype=dtype)
    out = PositionalEncoding(6, max_len=9)(X)
    assert out.dtype == dtype
    torch.testing.assert_close(
        out[0].float(), sinusoidal_table(T, 6), atol=1e-2, rtol=0
    )


# ------------------------------------------------------------------------------ decoder key-value cache
def _block(norm_first: bool) -> DecoderBlock:
    torch.manual_seed(0)
    return DecoderBlock(8, 16, 2, norm_first=norm_first).eval()


@FUZZ
@given(
    chunks=st.lists(st.integers(1, 3), min_size=1, max_size=4),
    norm_first=st.booleans(),
    seed=st.integers(0, 99),
)
def test_step_with_several_new_positions_is_causal_and_equals_forward(
    chunks, norm_first, seed
) -> None:
    block = _block(norm_first)
    g = torch.Generator().manual_seed(seed)
    T = sum(chunks)
    X, M = torch.randn(2, T, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    src_len = torch.tensor([5, 2])
    with torch.no_grad():
        full = block(X, M, src_len)
        cache, rows, t = (torch.zeros(2, 2, 0, 4), torch.zeros(2, 2, 0, 4)), [], 0
        for m in chunks:  # the new positions in chunks of m
            out, cache = block.step(
                X[:, t : t + m], cache, block.memory_kv(M), src_len
            )
            rows.append(out)
            t += m
    torch.testing.assert_close(torch.cat(rows, 1), full, atol=1e-5, rtol=1e-5)


def test_step_refuses_raw_memory_and_malformed_caches() -> None:
    block = _block(False)
    x, M = torch.randn(2, 1, 8), torch.randn(2, 5, 8)
    empty = (torch.zeros(2, 2, 0, 4), torch.zeros(2, 2, 0, 4))
    kv = block.memory_kv(M)
    refused(
        lambda: block.step(x, empty, M), TypeError
    )  # raw memory (2 examples: it would unpack into two rows)
    refused(
        lambda: block.step(x, empty, (M, M)), ValueError
    )  # unprojected keys and values
    refused(
        lambda: block.step(x, empty, (kv[0], kv[1][:, :, :3])), ValueError
    )  # 5 keys, 3 values
    refused(lambda: block.step(x, (torch.zeros(2, 2, 0, 4),), kv), TypeError)
    refused(lambda: block.step(x[0], empty, kv), ValueError)
    refused(lambda: block.step(x.double(), empty, kv), TypeError)


def test_empty_batches_flow_through_the_blocks() -> None:
    torch.manual_seed(0)
    enc, dec = EncoderBlock(8, 16, 2).eval(), DecoderBlock(8, 16, 2).eval()
    X, lens = torch.zeros(0, 3, 8), torch.zeros(0, dtype=torch.long)
    assert enc(X, lens).shape == (0, 3, 8)
    assert dec(X, torch.zeros(0, 4, 8), lens).shape == (0, 3, 8)
    assert math.isfinite(float(masked_softmax(torch.zeros(0, 2, 2), lens).sum()))


# ------------------------------------------------ sizes, rates and inputs of the core modules
@pytest.mark.parametrize(
    ("build", "word"),
    [
        (
            lambda: AdditiveAttention(8, query_size=0),
            "query_size",
        ),  # was a LazyLinear
        (
            lambda: AdditiveAttention(8, key_size=True),
            "key_size",
        ),  # was Linear(True, 8)
        (lambda: BilinearScore(0, 4), "query_size"),
        (lambda: ConcatScore(-1, 4), "query_size"),  # was Linear(3, 1)
        (lambda: PositionWiseFFN(0, 8), "num_hiddens"),
        (
            lambda: TransformerEncoder(10, 8, 16, 2, -1),
            "num_layers",
        ),  # was 0 blocks
        (lambda: TransformerDecoder(10, 8, 16, 2, 0), "num_layers"),
        (lambda: TransformerEncoder(0, 8, 16, 2, 1), "vocab_size"),
        (lambda: BertEmbeddings(20, 8, 6, 0, 1e-12), "num_segments"),
        (lambda: BertEmbeddings(20, 8, 6, 2, 0.0), "eps"),
        (lambda: DotProductAttention(scale="2"), "scale"),
    ],
)
def test_constructors_refuse_sizes_that_build_the_wrong_model(build, word) -> None:
    assert word in str(refused(build))


@pytest.mark.parametrize("dropout", [1.5, -0.1, math.nan, "0.1", None, True])
@pytest.mark.parametrize(
    "build",
    [
        lambda p: MultiHeadAttention(
            8, 2, dropout=p
        ),  # never checked: ignored in eval
        lambda p: DotProductAttention(p),
        lambda p: AdditiveAttention(8, p),
        lambda p: PositionWiseFFN(8, 16, dropout=p),
        lambda p: EncoderBlock(8, 16, 2, p),
        lambda p: DecoderBlock(8, 16, 2, p),
        lambda p: Transformer.build(10, 12, 8, 16, 2, 1, dropout=p),
    ],
)
def test_every_dropout_rate_is_a_number_in_0_1(build, dropout) -> None:
    assert "dropout" in str(refused(lambda: build(dropout)))


def test_attend_checks_the_split_heads() -> None:
    torch.manual_seed(0)
    q, k = torch.randn(2, 2, 3, 4), torch.randn(2, 2, 5, 4)
    bad = [
        (torch.randn(2, 3, 3, 4), k, k, ValueError),  # 3 heads, the layer has 2
        (torch.randn(2, 3, 4), k, k, ValueError),  # not split into heads
        (q[:1], k, k, ValueError),  # another batch
        (q, k, k[:, :, :4], ValueError),  # 5 keys, 4 values
        (q, k, k.double(), TypeError),
    ]
    for keep in (True, False):  # the fused path used to broadcast an unsplit q
        mha = MultiHeadAttention(8, 2, keep_weights=keep).eval()
        for q_, k_, v_, error in bad:
            refused(lambda: mha.attend(q_, k_, v_), error)
        assert mha.attend(q, k, k).shape == (2, 2, 3, 4)
    # no features: was a ZeroDivisionError
    refused(lambda: DotProductAttention()(*[torch.randn(2, 3, 0)] * 3), ValueError)


def _small_transformer() -> tuple[
    Transformer, torch.Tensor, torch.Tensor, torch.Tensor
]:
    """A tiny Transformer with a batch of two: src, its lengths and the decoder inputs."""
    torch.manual_seed(0)
    model = Transformer.build(10, 12, 8, 16, 2, 1, max_len=6).eval()
    src, y = torch.randint(3, 10, (2, 4)), torch.randint(3, 12, (2, 3))
    return model, src, torch.tensor([4, 2]), y


def test_transformer_names_the_argument_that_is_wrong() -> None:
    model, src, lens, y = _small_transformer()
    assert "same examples" in str(
        refused(lambda: model(src, lens, y[:1]), ValueError)
    )
    for dtype in (torch.bool, torch.uint8, torch.int16):  # uint8 indexes as a mask
        assert "int64" in str(
            refused(lambda: model(src, lens.to(dtype), y), TypeError)
        )
    memory, state = model.encode(src, lens)
    step = model.decoder.step
    assert "y_prev" in str(
        refused(lambda: step(torch.tensor([1, 50]), state, memory))
    )
    assert "y_prev" in str(
        refused(lambda: step(torch.tensor([[1], [2]]), state, memory))
    )
    refused(
        lambda: step(torch.tensor([1]), state, memory), ValueError
    )  # 1 of 2 examples
    refused(lambda: step(torch.tensor([1, 2]), None, memory), TypeError)
    refused(lambda: step(torch.tensor([1, 2]), state, memory.outputs), TypeError)
    refused(lambda: model.decoder.init_state(memory.outputs), TypeError)
    assert step(torch.tensor([1, 2]), state, memory)[0].shape == (2, 12)


def test_attention_maps_inside_fused_attention_still_has_the_weights() -> None:
    model, src, lens, y = _small_transformer()
    expected = attention_maps(model, src, lens, y, torch.tensor([3, 1]))
    with fused_attention(model):
        maps = attention_maps(model, src, lens, y, torch.tensor([3, 1]))
        assert not any(
            m.keep_weights
            for m in model.modules()
            if isinstance(m, MultiHeadAttention)
        )
    for part in expected:
        for a, b in zip(expected[part], maps[part]):
            torch.testing.assert_close(a, b)
    refused(lambda: fused_attention(None).__enter__(), TypeError)


def test_huge_and_non_finite_numbers_get_a_clear_error() -> None:
    huge = refused(
        lambda: EncoderBlock(8, 16, 2, eps=10**400), ValueError
    )  # was OverflowError
    assert "eps" in str(huge) and "range of a float" in str(huge)
    nan_len = refused(
        lambda: masked_softmax(torch.zeros(1, 2, 3), torch.tensor([math.nan])),
        ValueError,
    )  # was "fractional values"
    assert "NaN" in str(nan_len)


def test_to_torch_says_a_lazy_layer_needs_data_first() -> None:
    for size in ("query_size", "key_size"):  # "got 0", or a bare RuntimeError
        mha = MultiHeadAttention(8, 2, **{size: "lazy"})
        assert "lazy" in str(refused(mha.to_torch, ValueError))


def test_additive_attention_checks_the_dtype_of_values_and_projected_keys() -> None:
    torch.manual_seed(0)
    attn = AdditiveAttention(6, query_size=4, key_size=5)
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 5), torch.randn(2, 5, 7)
    refused(lambda: attn(q, k, v.double()), TypeError)  # was a RuntimeError in bmm
    refused(
        lambda: attn.score(q, k, attn.project_keys(k).long()), ValueError
    )  # accepted
    refused(lambda: attn.project_keys(k.double()), TypeError)
    lazy = AdditiveAttention(6)
    refused(lambda: lazy.project_keys(k.double()), TypeError)


def test_rotary_positions_must_be_finite() -> None:
    x = torch.randn(2, 3, 4)
    for bad in (math.nan, math.inf):  # NaN outputs before
        positions = torch.tensor([0.0, 1.0, bad])
        assert "finite" in str(
            refused(lambda: apply_rotary(x, positions), ValueError)
        )
