"""Transformer blocks against torch's layers; the sinusoidal encoding against its closed form."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnbook import PositionalEncoding
from attnbook.transformer import EncoderBlock

D, H, F_ = 16, 4, 32


def copy_encoder_layer(block: EncoderBlock, ref: nn.TransformerEncoderLayer) -> None:
    a = block.attention
    with torch.no_grad():
        for mine, w, b in zip((a.W_q, a.W_k, a.W_v), ref.self_attn.in_proj_weight.chunk(3), ref.self_attn.in_proj_bias.chunk(3)):
            mine.weight.copy_(w)
            mine.bias.copy_(b)
        a.W_o.load_state_dict(ref.self_attn.out_proj.state_dict())
        block.ffn.dense1.load_state_dict(ref.linear1.state_dict())
        block.ffn.dense2.load_state_dict(ref.linear2.state_dict())
        block.norm1.load_state_dict(ref.norm1.state_dict())
        block.norm2.load_state_dict(ref.norm2.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation,eps", [("relu", 1e-5), ("gelu", 1e-6)])
def test_encoder_block_equals_torch(norm_first: bool, activation: str, eps: float) -> None:
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(
        D, H, F_, dropout=0.0, activation=activation, layer_norm_eps=eps, batch_first=True, norm_first=norm_first
    ).eval()
    with torch.no_grad():  # random LayerNorm affine parameters, so that copying them matters
        for norm in (ref.norm1, ref.norm2):
            norm.weight.normal_()
            norm.bias.normal_()
    block = EncoderBlock(D, F_, H, norm_first=norm_first, activation=activation, eps=eps).eval()
    copy_encoder_layer(block, ref)
    X = torch.randn(3, 6, D)
    lens = torch.tensor([6, 4, 1])
    padded = torch.arange(6)[None] >= lens[:, None]  # True = blocked
    # Grad mode on: under no_grad torch takes a "fast path" with nested tensors that zeroes padded rows.
    expected = ref(X, src_key_padding_mask=padded)
    torch.testing.assert_close(block(X, lens), expected, atol=1e-5, rtol=1e-5)


def test_encoder_block_rejects_wrong_width() -> None:
    with pytest.raises(ValueError, match=r"\(batch, steps, 16\)"):
        EncoderBlock(D, F_, H)(torch.randn(2, 3, 8))


def test_positional_encoding_closed_form() -> None:
    d, T = 10, 50
    pe = PositionalEncoding(d, max_len=T)
    assert pe.P.shape == (1, T, d)
    for t in (0, 1, 7, 49):
        for j in range(d):
            angle = t / 10000 ** (2 * (j // 2) / d)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(pe.P[0, t, j].item() - expected) < 1e-6
    X = torch.randn(2, 7, d)
    torch.testing.assert_close(pe(X), X + pe.P[:, :7])


def test_positional_encoding_rejects_long_input() -> None:
    with pytest.raises(ValueError, match="longer than the table"):
        PositionalEncoding(8, max_len=128)(torch.zeros(1, 129, 8))
