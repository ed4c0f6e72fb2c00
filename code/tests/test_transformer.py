"""Transformer blocks and the encoder-decoder: against torch's layers, causal masking, the key-value cache."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnbook import MultiHeadAttention
from attnbook.data import BOS, EOS, PAD
from attnbook.decoding import Memory, beam_search, decoder_inputs, greedy_decode
from attnbook.train import set_seed, train
from attnbook.transformer import (
    DecoderBlock,
    EncoderBlock,
    Transformer,
    attention_maps,
    causal_valid_lens,
)

D, H, F_ = 16, 4, 32
pytestmark = pytest.mark.usefixtures("one_thread")


def copy_encoder_layer(
    block: EncoderBlock, ref: nn.TransformerEncoderLayer
) -> None:
    block.attention = MultiHeadAttention.from_torch(ref.self_attn)
    block.ffn.dense1.load_state_dict(ref.linear1.state_dict())
    block.ffn.dense2.load_state_dict(ref.linear2.state_dict())
    block.norm1.load_state_dict(ref.norm1.state_dict())
    block.norm2.load_state_dict(ref.norm2.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation,eps", [("relu", 1e-5), ("gelu", 1e-6)])
def test_encoder_block_equals_torch(
    norm_first: bool, activation: str, eps: float
) -> None:
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(
        D,
        H,
        F_,
        dropout=0.0,
        activation=activation,
        layer_norm_eps=eps,
        batch_first=True,
        norm_first=norm_first,
    ).eval()
    with (
        torch.no_grad()
    ):  # random LayerNorm affine parameters, so that copying them matters
        for norm in (ref.norm1, ref.norm2):
            norm.weight.normal_()
            norm.bias.normal_()
    block = EncoderBlock(
        D, F_, H, norm_first=norm_first, activation=activation, eps=eps
    ).eval()
    copy_encoder_layer(block, ref)
    X = torch.randn(3, 6, D)
    lens = torch.tensor([6, 4, 1])
    padded = torch.arange(6)[None] >= lens[:, None]  # True = blocked
    # Grad mode on: under no_grad torch takes a "fast path" with nested tensors that zeroes padded rows.
    expected = ref(X, src_key_padding_mask=padded)
    torch.testing.assert_close(block(X, lens), expected, atol=1e-5, rtol=1e-5)


def test_encoder_block_rejects_wrong_width() -> None:
    with pytest.raises(ValueError, match="16"):
        EncoderBlock(D, F_, H)(torch.randn(2, 3, 8))


# ----------------------------------------------------------------------------- decoder block and the whole model


def copy_decoder_layer(
    block: DecoderBlock, ref: nn.TransformerDecoderLayer
) -> None:
    block.self_attention = MultiHeadAttention.from_torch(ref.self_attn)
    block.cross_attention = MultiHeadAttention.from_torch(ref.multihead_attn)
    block.ffn.dense1.load_state_dict(ref.linear1.state_dict())
    block.ffn.dense2.load_state_dict(ref.linear2.state_dict())
    for mine, theirs in (
        (block.norm1, ref.norm1),
        (block.norm2, ref.norm2),
        (block.norm3, ref.norm3),
    ):
        mine.load_state_dict(theirs.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation,eps", [("relu", 1e-5), ("gelu", 1e-6)])
def test_decoder_block_equals_torch(
    norm_first: bool, activation: str, eps: float
) -> None:
    torch.manual_seed(1)
    ref = nn.TransformerDecoderLayer(
        D,
        H,
        F_,
        dropout=0.0,
        activation=activation,
        layer_norm_eps=eps,
        batch_first=True,
        norm_first=norm_first,
    ).eval()
    with torch.no_grad():
        for norm in (ref.norm1, ref.norm2, ref.norm3):
            norm.weight.normal_()
            norm.bias.normal_()
    block = DecoderBlock(
        D, F_, H, norm_first=norm_first, activation=activation, eps=eps
    ).eval()
    copy_decoder_layer(block, ref)
    X, M = torch.randn(3, 5, D), torch.randn(3, 7, D)
    src_len = torch.tensor([7, 3, 1])
    causal = nn.Transformer.generate_square_subsequent_mask(
        5
    ).isinf()  # True = blocked
    src_pad = torch.arange(7)[None] >= src_len[:, None]
    expected = ref(X, M, tgt_mask=causal, memory_key_padding_mask=src_pad)
    torch.testing.assert_close(block(X, M, src_len), expected, atol=1e-5, rtol=1e-5)
    with (
        torch.no_grad()
    ):  # the decoder layer has no nested-tensor fast path: same under no_grad
        torch.testing.assert_close(block(X, M, src_len), ref(X, M, tgt_mask=causal, memory_key_padding_mask=src_pad),
                                   atol=1e-5, rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_equals_torch_under_no_grad_on_real_rows(
    norm_first: bool,
) -> None:
    """Under no_grad torch's encoder takes the nested-tensor fast path and outputs zeros at padded rows:
    compare the real rows only."""
    torch.manual_seed(2)
    ref = nn.TransformerEncoderLayer(
        D, H, F_, dropout=0.0, batch_first=True, norm_first=norm_first
    ).eval()
    block = EncoderBlock(D, F_, H, norm_first=norm_first).eval()
    copy_encoder_layer(block, ref)
    X, lens = torch.randn(3, 6, D), torch.tensor([6, 4, 2])
    padded = torch.arange(6)[None] >= lens[:, None]
    with torch.no_grad():
        mine, theirs = block(X, lens), ref(X, src_key_padding_mask=padded)
    real = ~padded
    torch.testing.assert_close(mine[real], theirs[real], atol=1e-5, rtol=1e-5)


def test_causal_valid_lens() -> None:
    assert causal_valid_lens(2, 3).tolist() == [[1, 2, 3], [1, 2, 3]]


def small_model(norm_first: bool = False, **kw) -> Transformer:
    torch.manual_seed(0)
    return Transformer.build(
        13, 11, 16, 32, 4, 2, dropout=0.0, norm_first=norm_first, max_len=12, **kw
    ).eval()


@pytest.mark.parametrize("norm_first", [False, True])
def test_causal_mask_output_at_t_ignores_later_tokens(norm_first: bool) -> None:
    m = small_model(norm_first)
    src, src_len = torch.randint(4, 13, (2, 6)), torch.tensor([6, 4])
    y = torch.randint(4, 11, (2, 8))
    with torch.no_grad():
        base = m(src, src_len, y)
        for t in range(7):
            changed = y.clone()
            changed[:, t + 1 :] = torch.randint(4, 11, changed[:, t + 1 :].shape)
            out = m(src, src_len, changed)
            torch.testing.assert_close(
                out[:, : t + 1], base[:, : t + 1], atol=1e-5, rtol=1e-5
            )
        flipped = m(src, src_len, torch.flip(y, [1]))
        assert not torch.allclose(
            flipped[:, -1], base[:, -1]
        )  # the mask is not "see nothing"
    weights = m.decoder.blocks[0].self_attention.attention_weights  # (B, h, T, T)
    assert torch.all(weights.triu(1) == 0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_cross_attention_ignores_source_padding(norm_first: bool) -> None:
    m = small_model(norm_first)
    src, src_len = torch.randint(4, 13, (3, 7)), torch.tensor([7, 3, 1])
    y = torch.randint(4, 11, (3, 5))
    with torch.no_grad():
        base = m(src, src_len, y)
        w = m.decoder.blocks[-1].cross_attention.attention_weights  # (B, h, T, S)
        noisy = src.clone()
        noisy[torch.arange(7)[None] >= src_len[:, None]] = (
            5  # change only padded positions
        )
        torch.testing.assert_close(m(src, src_len, y), base)
        torch.testing.assert_close(m(noisy, src_len, y), base, atol=1e-5, rtol=1e-5)
        # a padded example alone gives the same output as in the batch, cut to its length
        torch.testing.assert_close(
            m(src[2:, :1], src_len[2:], y[2:]), base[2:], atol=1e-5, rtol=1e-5
        )
    assert (
        float(w[1, :, :, 3:].abs().max()) == 0.0
        and float(w[2, :, :, 1:].abs().max()) == 0.0
    )


@pytest.mark.parametrize("norm_first", [False, True])
def test_kv_cache_equals_full_recomputation(norm_first: bool) -> None:
    m = small_model(norm_first)
    src, src_len = torch.randint(4, 13, (3, 6)), torch.tensor([6, 2, 4])
    y = torch.randint(4, 11, (3, 9))
    y[:, 0] = BOS
    with torch.no_grad():
        full = m(src, src_len, y)  # (B, T, V)
        memory, state = m.encode(src, src_len)
        for t in range(y.shape[1]):
            logits, state, weights = m.decoder.step(y[:, t], state, memory)
            torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-5)
            cross = m.decoder.blocks[
                -1
            ].cross_attention.attention_weights  # (B, h, 1, S)
            assert state[0].shape == (2, 3, 4, t + 1, 4) and weights.shape == (3, 6)
            torch.testing.assert_close(weights, cross.mean(1)[:, 0])


def naive_greedy(
    m: Transformer, src: torch.Tensor, src_len: torch.Tensor, steps: int
) -> torch.Tensor:
    """Greedy decoding that recomputes the whole decoder for every new token."""
    y = torch.full((src.shape[0], 1), BOS)
    with torch.no_grad():
        for _ in range(steps):
            logits = m(src, src_len, y)[:, -1]
            logits[:, PAD] = float("-inf")
            y = torch.cat([y, logits.argmax(-1, keepdim=True)], dim=1)
    return y[:, 1:]


def test_greedy_decode_with_cache_equals_recomputation() -> None:
    m = small_model()
    src, src_len = torch.randint(4, 13, (4, 5)), torch.tensor([5, 5, 3, 1])
    decoded = greedy_decode(m, src, src_len, max_len=8)
    expected = naive_greedy(m, src, src_len, decoded.tokens.shape[1])
    for row, ref in zip(decoded.tokens, expected):
        n = int((ref == EOS).nonzero()[0]) + 1 if (ref == EOS).any() else len(ref)
        assert row[:n].tolist() == ref[:n].tolist()
    assert decoded.attention.shape == (4, decoded.tokens.shape[1], 5)


def test_tiny_transformer_memorises_and_beam_search_agrees() -> None:
    set_seed(0)
    src = torch.randint(4, 13, (16, 5))
    tgt = torch.cat(
        [torch.randint(4, 11, (16, 4)), torch.full((16, 1), EOS)], dim=1
    )  # (16, 5) ending in <eos>
    src_len = torch.full((16,), 5)
    m = Transformer.build(13, 11, 32, 64, 4, 1, dropout=0.0, max_len=12)

    def forward(model, batch):
        s, n, t = batch
        return model(s, n, decoder_inputs(t)), t

    train(
        m,
        (src, src_len, tgt),
        forward,
        epochs=150,
        batch_size=16,
        lr=3e-3,
        pad_index=PAD,
        live=False,
    )
    assert greedy_decode(m, src, src_len, 6).tokens[:, :5].tolist() == tgt.tolist()
    assert (
        beam_search(m, src, src_len, 6, beam_size=3).tokens[:, :5].tolist()
        == tgt.tolist()
    )


@pytest.mark.parametrize(
    ("call", "error", "word"),
    [
        (lambda m: m(torch.randint(4, 13, (1, 13)), torch.tensor([13]), torch.ones(1, 2, dtype=torch.long)),
         ValueError, "max_len=12"),
        (lambda m: m(torch.full((1, 3), 13), torch.tensor([3]), torch.ones(1, 2, dtype=torch.long)),
         ValueError, r"src ids must lie in \[0, 12\]"),
        (lambda m: m(torch.ones(1, 3, dtype=torch.long), torch.tensor([3]), torch.full((1, 2), 11)),
         ValueError, "target ids"),
        (lambda m: m(torch.ones(0, 3, dtype=torch.long), torch.ones(0, dtype=torch.long),
                     torch.ones(0, 2, dtype=torch.long)), ValueError, "non-empty"),
        (lambda m: m(torch.ones(2, 3), torch.tensor([3, 3]), torch.ones(2, 2, dtype=torch.long)), TypeError, "int64"),
        (lambda m: m(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 0]), torch.ones(2, 2, dtype=torch.long)),
         ValueError, "lengths"),
        (lambda m: m(torch.ones(2, 3, dtype=torch.long), torch.tensor([3]), torch.ones(2, 2, dtype=torch.long)),
         ValueError, "lengths"),
        (lambda m: m(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 3]), torch.ones(3, 2, dtype=torch.long)),
         ValueError, "batch"),
        (lambda m: greedy_decode(m, torch.ones(1, 3, dtype=torch.long), torch.tensor([3]), max_len=13),
         ValueError, "cannot decode position 12"),
    ],
)  # fmt: skip
def test_transformer_bad_input(call, error: type, word: str) -> None:
    m = small_model()
    m.decoder.dense.bias.data[
        EOS
    ] = -1e4  # never stop early, so decoding runs into the positional table's end
    with pytest.raises(error, match=word):
        call(m)


def test_decoder_block_rejects_wrong_memory_width() -> None:
    with pytest.raises(ValueError, match="memory"):
        DecoderBlock(D, F_, H)(torch.randn(2, 3, D), torch.randn(2, 4, 8))


def test_memory_without_final_state_selects() -> None:
    mem = Memory(torch.randn(2, 3, 4), torch.tensor([3, 1]))
    assert mem.select(torch.tensor([1, 1, 0])).final is None


@pytest.mark.filterwarnings("ignore:The tensor attribute")
def test_encoder_exports_because_value_checks_are_skipped_while_tracing() -> None:
    """``torch.export`` cannot record a branch on tensor values: the checks of ids and lengths skip them there."""
    m = small_model()
    src, src_len = torch.randint(4, 13, (2, 6)), torch.tensor([6, 3])
    exported = torch.export.export(m.encoder, (src, src_len))
    torch.testing.assert_close(
        exported.module()(src, src_len), m.encoder(src, src_len)
    )


def test_cached_decoding_keeps_its_weights_under_fused_attention() -> None:
    from attnbook.attention import fused_attention

    m = small_model()
    src, src_len = torch.randint(4, 13, (2, 5)), torch.tensor([5, 3])
    expected = greedy_decode(m, src, src_len, max_len=6)
    with fused_attention(m):
        decoded = greedy_decode(m, src, src_len, max_len=6)
    assert decoded.tokens.tolist() == expected.tokens.tolist()
    torch.testing.assert_close(decoded.attention, expected.attention)


def test_attention_maps_are_trimmed_rows_of_one_forward_pass() -> None:
    set_seed(0)
    model = Transformer.build(9, 11, 16, 32, 4, 2, 0.0).eval()
    src = torch.tensor([[4, 5, 6, 0], [7, 8, 0, 0]])
    src_len, y_len = torch.tensor([3, 2]), torch.tensor([4, 2])
    y_in = torch.tensor([[BOS, 5, 6, 7, 8], [BOS, 9, 0, 0, 0]])
    maps = attention_maps(model, src, src_len, y_in, y_len)
    assert [m.shape for m in maps["encoder"]] == [(2, 4, 3, 3), (2, 4, 2, 2)]
    assert [m.shape for m in maps["decoder"]] == [(2, 4, 4, 4), (2, 4, 2, 2)]
    assert [m.shape for m in maps["cross"]] == [(2, 4, 4, 3), (2, 4, 2, 2)]
    # the values are those the model stored: causal rows sum to one over the past
    full = model.decoder.blocks[1].self_attention.attention_weights[1]
    torch.testing.assert_close(maps["decoder"][1][1], full[:, :2, :2])
    assert torch.allclose(maps["cross"][0].sum(-1), torch.ones(2, 4, 4))
    assert (maps["decoder"][0][..., 0, 1:] == 0).all()


def test_attention_maps_rejects_mismatched_lengths() -> None:
    model = Transformer.build(9, 11, 16, 32, 4, 1, 0.0)
    src, y_in = torch.tensor([[4, 5]]), torch.tensor([[BOS, 5]])
    with pytest.raises(ValueError, match="y_in"):
        attention_maps(model, src, torch.tensor([2]), y_in, torch.tensor([3]))
    with pytest.raises(ValueError, match="same examples"):
        attention_maps(
            model, src, torch.tensor([2]), y_in.repeat(2, 1), torch.tensor([2, 2])
        )
