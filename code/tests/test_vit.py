"""The Vision Transformer of chapter 9 against torch's own layers, its symmetries, rollout and bad input.

timm and torchvision cannot be imported next to this book's torch build, so the reference is a composition
of ``nn.TransformerEncoderLayer(norm_first=True, activation="gelu", layer_norm_eps=1e-6, batch_first=True)``
per block -- the block timm's ``VisionTransformer`` uses -- after copying the weights, with an explicit
patchify (reshape + matrix product) for the stem and the same class token, position embeddings, final
LayerNorm and head.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from attnbook.vit import (
    PatchEmbedding,
    VisionTransformer,
    attention_rollout,
    class_token_maps,
    patchify,
)


def test_patchify_matches_unfold() -> None:
    x = torch.randn(2, 3, 8, 12)
    # F.unfold gives (B, C p p, N) with the same (C, row, col) order inside a patch and row-major patches
    torch.testing.assert_close(
        patchify(x, 4), F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)
    )


@pytest.mark.parametrize("patch,channels", [(1, 1), (2, 1), (4, 3)])
def test_patch_embedding_conv_equals_unfold_plus_linear(
    patch: int, channels: int
) -> None:
    torch.manual_seed(0)
    embed = PatchEmbedding(8, patch, channels, 16)
    x = torch.randn(3, channels, 8, 8)
    out = embed(x)
    assert out.shape == (3, (8 // patch) ** 2, 16)
    torch.testing.assert_close(out, embed.forward_linear(x), atol=1e-5, rtol=1e-5)
    # and against a plain nn.Linear holding the flattened kernel
    linear = nn.Linear(channels * patch * patch, 16)
    with torch.no_grad():
        linear.weight.copy_(embed.proj.weight.reshape(16, -1))
        linear.bias.copy_(embed.proj.bias)
    torch.testing.assert_close(
        out,
        linear(F.unfold(x, patch, stride=patch).transpose(1, 2)),
        atol=1e-5,
        rtol=1e-5,
    )


def reference_vit(vit: VisionTransformer) -> nn.ModuleList:
    """torch encoder layers holding copies of the ViT's block weights."""
    layers = nn.ModuleList()
    for block in vit.blocks:
        a = block.attention
        d = a.W_q.in_features
        ref = nn.TransformerEncoderLayer(
            d, a.num_heads, block.ffn.dense1.out_features, dropout=0.0, activation="gelu",
            layer_norm_eps=1e-6, batch_first=True, norm_first=True,
        )  # fmt: skip
        with torch.no_grad():
            ref.self_attn.in_proj_weight.copy_(
                torch.cat([a.W_q.weight, a.W_k.weight, a.W_v.weight])
            )
            ref.self_attn.in_proj_bias.copy_(
                torch.cat([a.W_q.bias, a.W_k.bias, a.W_v.bias])
            )
            ref.self_attn.out_proj.load_state_dict(a.W_o.state_dict())
            ref.linear1.load_state_dict(block.ffn.dense1.state_dict())
            ref.linear2.load_state_dict(block.ffn.dense2.state_dict())
            ref.norm1.load_state_dict(block.norm1.state_dict())
            ref.norm2.load_state_dict(block.norm2.state_dict())
        layers.append(ref.eval())
    return layers


def randomise(vit: VisionTransformer) -> None:
    """Random class token, position embeddings and LayerNorm affine parameters, so that copying them matters."""
    with torch.no_grad():
        for name, p in vit.named_parameters():
            if "norm" in name or name in ("cls_token", "pos_embedding"):
                p.normal_()


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_vit_equals_torch_encoder_layers(pool: str) -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(8, 2, 10, in_channels=3, num_hiddens=32, num_heads=4, num_layers=3, mlp_hiddens=48,
                            pool=pool).eval()  # fmt: skip
    randomise(vit)
    layers = reference_vit(vit)
    x = torch.randn(5, 3, 8, 8)
    # the stem written out: patches by reshape, the conv kernel as a matrix
    patches = (
        x.reshape(5, 3, 4, 2, 4, 2).permute(0, 2, 4, 1, 3, 5).reshape(5, 16, 12)
    )  # (B, N, C p p)
    W, b = (
        vit.patch_embedding.proj.weight.reshape(32, 12),
        vit.patch_embedding.proj.bias,
    )
    Z = patches @ W.T + b
    if pool == "cls":
        Z = torch.cat([vit.cls_token.expand(5, -1, -1), Z], dim=1)
    Z = Z + vit.pos_embedding
    with torch.enable_grad():  # grad mode avoids torch's nested-tensor fast path, as in test_transformer.py
        for layer in layers:
            Z = layer(Z)
    Z = F.layer_norm(Z, (32,), vit.norm.weight, vit.norm.bias, eps=1e-6)
    expected = vit.head(Z[:, 0] if pool == "cls" else Z.mean(1))
    torch.testing.assert_close(vit(x), expected, atol=1e-5, rtol=1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), pool=st.sampled_from(["cls", "mean"]))
def test_without_positions_the_model_is_permutation_equivariant_over_patches(
    seed: int, pool: str
) -> None:
    torch.manual_seed(seed)
    vit = VisionTransformer(8, 2, 10, num_hiddens=16, num_heads=2, num_layers=2, mlp_hiddens=24, pool=pool,
                            position=False).eval()  # fmt: skip
    randomise(vit)
    x = torch.randn(2, 1, 8, 8)
    perm = torch.randperm(16)
    grid = (
        x.reshape(2, 1, 4, 2, 4, 2)
        .permute(0, 2, 4, 1, 3, 5)
        .reshape(2, 16, 1, 2, 2)
    )  # (B, N, C, p, p)
    moved = (
        grid[:, perm]
        .reshape(2, 4, 4, 1, 2, 2)
        .permute(0, 3, 1, 4, 2, 5)
        .reshape(2, 1, 8, 8)
    )  # patches moved
    with torch.no_grad():
        t, t_moved = vit.tokens(x), vit.tokens(moved)
        logits, logits_moved = vit(x), vit(moved)
    offset = 1 if pool == "cls" else 0
    torch.testing.assert_close(
        t_moved[:, offset:], t[:, offset:][:, perm], atol=1e-5, rtol=1e-4
    )
    if pool == "cls":
        torch.testing.assert_close(
            t_moved[:, 0], t[:, 0], atol=1e-5, rtol=1e-4
        )  # the class token does not move
    torch.testing.assert_close(logits_moved, logits, atol=1e-5, rtol=1e-4)


def test_position_embeddings_break_the_symmetry() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(
        8, 2, 10, num_hiddens=16, num_heads=2, num_layers=2, mlp_hiddens=24
    ).eval()
    randomise(vit)
    x = torch.randn(1, 1, 8, 8)
    flipped = x.flip(
        -1
    )  # moves the patches (and mirrors each one); without positions only the latter would matter
    assert not torch.allclose(vit(x), vit(flipped), atol=1e-3)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    layers=st.integers(1, 4),
    heads=st.integers(1, 3),
    r=st.floats(0.0, 0.9),
)
def test_rollout_rows_are_distributions(
    seed: int, layers: int, heads: int, r: float
) -> None:
    g = torch.Generator().manual_seed(seed)
    weights = [
        torch.rand(2, heads, 5, 5, generator=g).softmax(-1) for _ in range(layers)
    ]
    R = attention_rollout(weights, residual_weight=r)
    assert R.shape == (2, 5, 5) and (R >= 0).all()
    torch.testing.assert_close(R.sum(-1), torch.ones(2, 5))


def test_rollout_formula_on_two_layers() -> None:
    g = torch.Generator().manual_seed(0)
    A1, A2 = (torch.rand(1, 3, 4, 4, generator=g).softmax(-1) for _ in range(2))
    eye = torch.eye(4)
    expected = (0.5 * A2.mean(1) + 0.5 * eye) @ (
        0.5 * A1.mean(1) + 0.5 * eye
    )  # rows already sum to 1
    torch.testing.assert_close(attention_rollout([A1, A2]), expected)


def test_rollout_of_trained_model_shapes() -> None:
    vit = VisionTransformer(
        8, 4, 3, num_hiddens=8, num_heads=2, num_layers=2, mlp_hiddens=8
    ).eval()
    with pytest.raises(RuntimeError, match="forward pass"):
        _ = vit.attention_weights
    vit(torch.randn(3, 1, 8, 8))
    assert attention_rollout(vit.attention_weights).shape == (3, 5, 5)


@pytest.mark.parametrize(
    "x,match",
    [
        (
            torch.randn(2, 3, 8, 8),
            r"expected|built for images \(B, 1, 8, 8\), got \(2, 3, 8, 8\)",
        ),
        (torch.randn(1, 8, 8), r"\(B, C, H, W\), got shape \(1, 8, 8\)"),
        (
            torch.randn(2, 1, 6, 6),
            r"built for images \(B, 1, 8, 8\), got \(2, 1, 6, 6\)",
        ),
    ],
)
def test_vit_rejects_bad_images(x: torch.Tensor, match: str) -> None:
    vit = VisionTransformer(
        8, 2, 10, num_hiddens=8, num_heads=2, num_layers=1, mlp_hiddens=8
    )
    with pytest.raises(ValueError, match=match):
        vit(x)


def test_image_size_must_be_divisible_by_patch() -> None:
    with pytest.raises(ValueError, match="image_size=8, patch_size=3"):
        VisionTransformer(8, 3, 10)
    with pytest.raises(
        ValueError, match=r"10 x 10 is not divisible by the patch size 4"
    ):
        patchify(torch.randn(1, 1, 10, 10), 4)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="pool must be 'cls' or 'mean', got 'max'"):
        VisionTransformer(8, 2, 10, pool="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty sequence"):
        attention_rollout([])
    with pytest.raises(
        ValueError,
        match=r"layer 1: expected weights of shape \(1, 4, 4\), got \(1, 5, 5\)",
    ):
        attention_rollout(
            [torch.rand(1, 2, 4, 4).softmax(-1), torch.rand(1, 2, 5, 5).softmax(-1)]
        )


def test_class_token_maps_paint_each_patch_weight_over_its_pixels() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(
        8, 2, 10, num_hiddens=16, num_heads=2, num_layers=3, mlp_hiddens=16
    ).eval()
    randomise(vit)
    x = torch.randn(4, 1, 8, 8)
    maps = class_token_maps(vit, x)
    assert maps.shape == (4, 3, 2 + 2, 8, 8)
    weights = vit.attention_weights  # kept by the helper's forward pass
    layer, head = 1, 1
    row = weights[layer][:, head, 0, 1:]  # (4, 16): class token -> patches
    expected = (row / row.amax(-1, keepdim=True)).reshape(4, 4, 4)
    # patch (i, j) covers pixels 2i..2i+1, 2j..2j+1
    torch.testing.assert_close(maps[:, layer, head, ::2, ::2], expected)
    torch.testing.assert_close(maps[:, layer, head, 1::2, 1::2], expected)
    mean = weights[layer].mean(1)[:, 0, 1:]
    torch.testing.assert_close(
        maps[:, layer, 2, ::2, ::2],
        (mean / mean.amax(-1, keepdim=True)).reshape(4, 4, 4),
    )
    roll = attention_rollout(weights[: layer + 1])[:, 0, 1:]
    torch.testing.assert_close(
        maps[:, layer, 3, ::2, ::2],
        (roll / roll.amax(-1, keepdim=True)).reshape(4, 4, 4),
    )
    assert (maps.amax((-2, -1)) == 1).all()


def test_class_token_maps_keeps_the_layers_setting_and_checks_input() -> None:
    from attnbook.attention import fused_attention

    vit = VisionTransformer(
        8, 4, 3, num_hiddens=8, num_heads=2, num_layers=2, mlp_hiddens=8
    ).eval()
    with fused_attention(vit):
        assert class_token_maps(vit, torch.randn(2, 1, 8, 8)).shape == (
            2, 2, 4, 8, 8,
        )  # fmt: skip
        assert not any(b.attention.keep_weights for b in vit.blocks)
    mean = VisionTransformer(8, 4, 3, num_hiddens=8, num_heads=2, pool="mean")
    with pytest.raises(ValueError, match="no class token"):
        class_token_maps(mean, torch.randn(2, 1, 8, 8))
    with pytest.raises(TypeError, match="expects a VisionTransformer"):
        class_token_maps(nn.Linear(2, 2), torch.randn(2, 1, 8, 8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"built for images \(B, 1, 8, 8\)"):
        class_token_maps(vit, torch.randn(2, 1, 6, 6))


def test_pos_std_sets_the_position_embeddings_scale() -> None:
    torch.manual_seed(0)
    small = VisionTransformer(16, 2, 10, num_hiddens=64, num_heads=4).pos_embedding
    large = VisionTransformer(
        16, 2, 10, num_hiddens=64, num_heads=4, pos_std=1.0
    ).pos_embedding
    assert 0.015 < small.std().item() < 0.025
    assert 0.8 < large.std().item() < 1.0  # truncated at 2 standard deviations
    for bad in (0.0, -1.0, float("nan"), "1"):
        with pytest.raises(ValueError, match="pos_std must be a positive number"):
            VisionTransformer(8, 2, 10, pos_std=bad)  # type: ignore[arg-type]
