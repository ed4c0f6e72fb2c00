"""Squeeze-and-excitation and CBAM (chapter 8), against the papers' equations and maintained implementations.

``torchvision`` and ``timm`` cannot be imported next to this project's torch build, so the reference tests
that always run use explicit implementations written here from the equations of Hu et al. (2018) and Woo
et al. (2018) -- loops over channels and pixels, sharing no code with ``attnbook.channel_spatial``. The tests against
``torchvision.ops.SqueezeExcitation`` and timm's ``SEModule``/``CbamModule`` run wherever those import.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnbook.channel_spatial import (
    CBAM,
    AttentionCNN,
    ChannelAttention,
    ResidualCNN,
    SpatialAttention,
    SqueezeExcitation,
    se_gate_explorer,
    spatial_gate_explorer,
)

torch.set_default_dtype(torch.float32)


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def dense(W: torch.Tensor, b: torch.Tensor | None, v: list[float]) -> list[float]:
    """``W v + b`` written out as sums."""
    return [
        sum(W[o, i].item() * v[i] for i in range(len(v)))
        + (b[o].item() if b is not None else 0.0)
        for o in range(W.shape[0])
    ]


def relu(v: list[float]) -> list[float]:
    return [max(0.0, t) for t in v]


# ------------------------------------------------------------------ explicit references
def se_reference(
    x: torch.Tensor,
    W1: torch.Tensor,
    b1: torch.Tensor,
    W2: torch.Tensor,
    b2: torch.Tensor,
) -> torch.Tensor:
    """Hu et al. (2018), eqs. (2)-(4), plus the biases torchvision and timm add: s = sigmoid(W2 relu(W1 z + b1) + b2)."""
    B, C, H, W = x.shape
    out = torch.empty_like(x)
    for b in range(B):
        z = [
            sum(x[b, c, i, j].item() for i in range(H) for j in range(W)) / (H * W)
            for c in range(C)
        ]
        s = [sigmoid(t) for t in dense(W2, b2, relu(dense(W1, b1, z)))]
        for c in range(C):
            out[b, c] = x[b, c] * s[c]
    return out


def cbam_reference(
    x: torch.Tensor,
    W0: torch.Tensor,
    W1: torch.Tensor,
    conv: torch.Tensor,
    bn: tuple[float, float, float, float, float] | None,
    conv_bias: float = 0.0,
) -> torch.Tensor:
    """Woo et al. (2018), eqs. (1)-(3), with [mean, max] stacking and an optional eval-mode BatchNorm
    ``(gamma, beta, running_mean, running_var, eps)`` after the k x k convolution (timm's CbamModule)."""
    B, C, H, W = x.shape
    k = conv.shape[-1]
    p = k // 2
    out = torch.empty_like(x)
    for b in range(B):
        # channel attention: one shared MLP (no biases) on the average- and max-pooled descriptors
        avg = [
            sum(x[b, c, i, j].item() for i in range(H) for j in range(W)) / (H * W)
            for c in range(C)
        ]
        mx = [
            max(x[b, c, i, j].item() for i in range(H) for j in range(W))
            for c in range(C)
        ]
        a, m = (
            dense(W1, None, relu(dense(W0, None, avg))),
            dense(W1, None, relu(dense(W0, None, mx))),
        )
        Mc = [sigmoid(a[c] + m[c]) for c in range(C)]
        f1 = torch.stack(
            [x[b, c] * Mc[c] for c in range(C)]
        )  # F' = M_c * F, (C, H, W)
        # spatial attention: per-pixel mean and max over channels, k x k convolution with zero padding
        maps = [
            [
                [sum(f1[c, i, j].item() for c in range(C)) / C for j in range(W)]
                for i in range(H)
            ],
            [
                [max(f1[c, i, j].item() for c in range(C)) for j in range(W)]
                for i in range(H)
            ],
        ]
        Ms = torch.empty(H, W)
        for i in range(H):
            for j in range(W):
                acc = conv_bias
                for ch in range(2):
                    for u in range(k):
                        for v in range(k):
                            r, s = i + u - p, j + v - p
                            if 0 <= r < H and 0 <= s < W:
                                acc += conv[0, ch, u, v].item() * maps[ch][r][s]
                if bn is not None:
                    gamma, beta, mean, var, eps = bn
                    acc = (acc - mean) / math.sqrt(var + eps) * gamma + beta
                Ms[i, j] = sigmoid(acc)
        out[b] = f1 * Ms  # F'' = M_s * F'
    return out


def randomise_batchnorm(bn: nn.BatchNorm2d, g: torch.Generator) -> None:
    """Non-trivial affine parameters and running statistics, so that eval mode really tests them."""
    with torch.no_grad():
        bn.weight.copy_(1 + 0.5 * torch.randn(bn.weight.shape, generator=g))
        bn.bias.copy_(0.3 * torch.randn(bn.bias.shape, generator=g))
        bn.running_mean.copy_(0.2 * torch.randn(bn.running_mean.shape, generator=g))
        bn.running_var.copy_(0.5 + torch.rand(bn.running_var.shape, generator=g))


@pytest.mark.parametrize("seed", [0, 1])
def test_se_matches_the_papers_equations(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    se = SqueezeExcitation(8, reduction=4).eval()
    with torch.no_grad():
        for p in se.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    x = torch.randn(2, 8, 5, 6, generator=g)
    expected = se_reference(
        x, se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias
    )
    torch.testing.assert_close(se(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel_size", [7, 3])
def test_cbam_matches_the_papers_equations_in_eval_mode(kernel_size: int) -> None:
    g = torch.Generator().manual_seed(kernel_size)
    cbam = CBAM(8, reduction=2, kernel_size=kernel_size)
    with torch.no_grad():
        for p in (
            cbam.channel.fc1.weight,
            cbam.channel.fc2.weight,
            cbam.spatial.conv.weight,
        ):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    randomise_batchnorm(cbam.spatial.norm, g)
    cbam.eval()
    x = torch.randn(2, 8, 6, 7, generator=g)
    n = cbam.spatial.norm
    bn = (
        n.weight.item(),
        n.bias.item(),
        n.running_mean.item(),
        n.running_var.item(),
        n.eps,
    )
    expected = cbam_reference(
        x,
        cbam.channel.fc1.weight,
        cbam.channel.fc2.weight,
        cbam.spatial.conv.weight,
        bn,
    )
    torch.testing.assert_close(cbam(x), expected, atol=1e-5, rtol=1e-5)


def test_cbam_without_norm_is_the_bare_equation_with_a_conv_bias() -> None:
    g = torch.Generator().manual_seed(3)
    cbam = CBAM(4, reduction=2, norm_layer=None).eval()
    assert (
        isinstance(cbam.spatial.norm, nn.Identity)
        and cbam.spatial.conv.bias is not None
    )
    with torch.no_grad():
        for p in cbam.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.randn(1, 4, 5, 5, generator=g)
    expected = cbam_reference(
        x,
        cbam.channel.fc1.weight,
        cbam.channel.fc2.weight,
        cbam.spatial.conv.weight,
        None,
        conv_bias=cbam.spatial.conv.bias.item(),
    )
    torch.testing.assert_close(cbam(x), expected, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ properties
@pytest.mark.parametrize("shape", [(3, 16, 7, 5), (2, 16, 1, 1), (2, 16, 12, 12)])
def test_shapes_are_preserved(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    for module in (
        SqueezeExcitation(16),
        ChannelAttention(16, 4),
        SpatialAttention(),
        CBAM(16, 4),
    ):
        assert module(x).shape == x.shape


def test_se_weights_are_in_0_1_and_constant_over_space() -> None:
    se = SqueezeExcitation(12, reduction=3)
    x = torch.rand(4, 12, 6, 5) + 0.5  # positive, so that out / x is well defined
    ratio = se(x) / x  # (B, C, H, W)
    s = se.attention_weights
    assert s.shape == (4, 12) and torch.all((s > 0) & (s < 1))
    torch.testing.assert_close(
        ratio, s[:, :, None, None].expand_as(ratio)
    )  # one factor per (example, channel)
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))


def test_cbam_spatial_map_is_in_0_1_and_constant_over_channels() -> None:
    torch.manual_seed(0)
    cbam = CBAM(12, reduction=3)
    x = torch.rand(4, 12, 6, 5) + 0.5
    out = cbam(x)
    channel_refined = x * cbam.channel.attention_weights[:, :, None, None]  # F'
    ratio = (
        out / channel_refined
    )  # (B, C, H, W): should be M_s, the same for every channel
    m = cbam.spatial.attention_weights
    assert m.shape == (4, 6, 5) and torch.all((m > 0) & (m < 1))
    torch.testing.assert_close(ratio, m[:, None].expand_as(ratio))
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    mc = cbam.channel.attention_weights
    assert mc.shape == (4, 12) and torch.all((mc > 0) & (mc < 1))


def test_gradcheck_on_a_tiny_input() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 3, dtype=torch.double, requires_grad=True)
    for module in (
        SqueezeExcitation(4, reduction=2),
        CBAM(4, reduction=2, kernel_size=3),
    ):
        module = (
            module.double().eval()
        )  # eval: BatchNorm uses running statistics, a fixed function
        assert torch.autograd.gradcheck(module, (x,), eps=1e-6, atol=1e-5)
    train_mode = (
        CBAM(4, reduction=2, kernel_size=3).double().train()
    )  # batch statistics are differentiable too
    assert torch.autograd.gradcheck(train_mode, (x,), eps=1e-6, atol=1e-5)


def test_parameters_are_where_the_paper_says() -> None:
    C, r = 32, 8
    se, cbam = SqueezeExcitation(C, r), CBAM(C, r)
    assert (
        sum(p.numel() for p in se.parameters()) == 2 * C * (C // r) + C // r + C
    )  # two linear maps with bias
    bn = 2  # gamma, beta of the one-channel BatchNorm
    assert (
        sum(p.numel() for p in cbam.parameters())
        == 2 * C * (C // r) + 2 * 7 * 7 + bn
    )


def test_attention_cnn_variants_share_the_same_convolutions() -> None:
    torch.manual_seed(0)
    plain = AttentionCNN()
    torch.manual_seed(0)
    with_se = AttentionCNN(lambda c: SqueezeExcitation(c, 4))
    assert len(plain.attention) == 0 and len(with_se.attention) == 3
    for a, b in zip(
        plain.blocks.parameters(), with_se.blocks.parameters(), strict=True
    ):
        assert torch.equal(
            a, b
        )  # attention is built after the convolutions: same initialisation per seed
    assert plain(torch.randn(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("net", ["AttentionCNN", "ResidualCNN"])
def test_classifiers_are_channels_last_with_the_same_outputs(net: str) -> None:
    """The classifiers keep their convolutions channels-last (faster on a CPU); the
    layout must not change what they compute."""
    import copy

    from attnbook import channel_spatial

    torch.manual_seed(0)
    model = getattr(channel_spatial, net)(lambda c: CBAM(c, 4)).eval()
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(
        w.is_contiguous(memory_format=torch.channels_last) for w in convs
    )
    # where the two layouts differ (several input channels, a kernel wider than 1)
    assert any(w.shape[1] > 1 and w.shape[2] > 1 for w in convs)
    assert not any(
        w.is_contiguous() for w in convs if w.shape[1] > 1 and w.shape[2] > 1
    )
    plain = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    assert all(
        m.weight.is_contiguous()
        for m in plain.modules()
        if isinstance(m, nn.Conv2d)
    )
    x = torch.rand(3, 1, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ bad input
def test_channels_below_reduction_is_a_clear_error() -> None:
    for make in (
        lambda: SqueezeExcitation(8, reduction=16),
        lambda: CBAM(8, reduction=16),
    ):
        with pytest.raises(
            ValueError,
            match=r"channels must be >= reduction .*got channels=8, reduction=16",
        ):
            make()
    assert (
        SqueezeExcitation(8, reduction=16, hidden_channels=2).fc1.out_features == 2
    )  # explicit width is fine


@pytest.mark.parametrize(
    "module",
    [SqueezeExcitation(4, 2), CBAM(4, 2), SpatialAttention()],
    ids=lambda m: type(m).__name__,
)
def test_wrong_rank_is_a_clear_error(module: nn.Module) -> None:
    with pytest.raises(
        ValueError,
        match=r"expects a 4-D feature map \(B, C, H, W\), got shape \(4, 5, 5\) \(3-D\)",
    ):
        module(torch.randn(4, 5, 5))


def test_wrong_channels_and_types_are_clear_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"built for 4 channels, got input of shape \(1, 3, 5, 5\) with 3",
    ):
        SqueezeExcitation(4, 2)(torch.randn(1, 3, 5, 5))
    with pytest.raises(
        TypeError, match="floating-point tensor, got dtype torch.int64"
    ):
        CBAM(4, 2)(torch.ones(1, 4, 5, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="channels must be an int, got float"):
        SqueezeExcitation(4.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        SpatialAttention(4)


def test_empty_and_too_small_maps_are_clear_errors() -> None:
    for module in (
        SqueezeExcitation(4, 2),
        ChannelAttention(4, 2),
        SpatialAttention(),
    ):
        with pytest.raises(
            ValueError, match="H, W >= 1"
        ):  # NaN weights or IndexError
            module(torch.randn(2, 4, 0, 3))
    with pytest.raises(ValueError, match="H, W >= 2"):  # the stem's max-pool
        ResidualCNN(widths=(4, 8)).eval()(torch.randn(2, 1, 1, 1))
    assert ResidualCNN(widths=(4, 8)).eval()(torch.randn(2, 1, 2, 2)).shape == (
        2,
        10,
    )


# ------------------------------------------------------------------ maintained implementations, where they import
def _reference_module(name: str):
    try:
        if name == "torchvision":
            import torchvision.ops

            return torchvision.ops
        import timm.layers.cbam
        import timm.layers.squeeze_excite

        return timm.layers
    except Exception as exc:  # noqa: BLE001 -- ImportError, or torchvision's operator registration failing against this torch
        pytest.skip(f"{name} is not importable here ({type(exc).__name__}: {exc})")


def _copy_mlp(dst: nn.Module, ours: nn.Module) -> None:
    """Our nn.Linear weights into a reference's 1 x 1 convolutions fc1 / fc2."""
    with torch.no_grad():
        for name in ("fc1", "fc2"):
            src, tgt = getattr(ours, name), getattr(dst, name)
            tgt.weight.copy_(src.weight[:, :, None, None])
            if src.bias is not None:
                tgt.bias.copy_(src.bias)


def test_se_equals_torchvision_squeeze_excitation() -> None:
    ops = _reference_module("torchvision")
    torch.manual_seed(0)
    ours = SqueezeExcitation(16, reduction=4).eval()
    ref = ops.SqueezeExcitation(16, 4).eval()
    _copy_mlp(ref, ours)
    x = torch.randn(3, 16, 7, 9)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_se_equals_timm_se_module() -> None:
    layers = _reference_module("timm")
    torch.manual_seed(1)
    ours = SqueezeExcitation(16, reduction=4).eval()
    ref = layers.squeeze_excite.SEModule(16, rd_channels=4).eval()
    _copy_mlp(ref, ours)
    x = torch.randn(3, 16, 7, 9)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_cbam_equals_timm_cbam_module() -> None:
    layers = _reference_module("timm")
    torch.manual_seed(2)
    g = torch.Generator().manual_seed(2)
    ours = CBAM(16, reduction=4)
    randomise_batchnorm(ours.spatial.norm, g)
    ours.eval()
    ref = layers.cbam.CbamModule(16, rd_channels=4).eval()
    _copy_mlp(ref.channel, ours.channel)
    with torch.no_grad():
        ref.spatial.conv.conv.weight.copy_(ours.spatial.conv.weight)
    ref.spatial.conv.bn.load_state_dict(ours.spatial.norm.state_dict())
    x = torch.randn(3, 16, 7, 9)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_se_gate_explorer_shows_class_means_and_masks_missing_channels() -> None:
    torch.manual_seed(0)
    labels = torch.arange(3).repeat(4)  # 3 classes, 4 inputs each
    gates = [torch.rand(12, 2), torch.rand(12, 5)]
    ex = se_gate_explorer(gates, labels, per_class=2)
    frames = torch.from_numpy(ex._array).float()  # (block, view, rows, channels)
    assert tuple(ex.shape) == (2, 4, 3, 5)
    assert frames[0, :, :, 2:].isnan().all()  # block 1 has two channels
    torch.testing.assert_close(frames[1, 0, 2], gates[1][labels == 2].mean(0))
    torch.testing.assert_close(frames[0, 2, :2, :2], gates[0][labels == 1][:2])
    with pytest.raises(ValueError, match="labels"):
        se_gate_explorer(gates, labels[:5])
    with pytest.raises(ValueError, match="needs 5 inputs"):
        se_gate_explorer(gates, labels, per_class=5)
    with pytest.raises(TypeError, match="integer tensor"):  # float labels: named
        se_gate_explorer(gates, labels.float())
    with pytest.raises(TypeError, match="list of float"):  # was "ambiguous"
        se_gate_explorer(torch.stack([gates[0], gates[0]]), labels)
    with pytest.raises(ValueError, match="N >= 1"):  # was "empty sequence"
        se_gate_explorer([g[:0] for g in gates], labels[:0])


def test_spatial_gate_explorer_puts_the_gate_beside_the_image() -> None:
    images = torch.rand(2, 1, 8, 8)
    gates = [torch.rand(2, 4, 4), torch.rand(2, 2, 2)]
    inside = torch.zeros(2, 8, 8, dtype=torch.bool)
    inside[:, 2:5, 2:5] = True
    ex = spatial_gate_explorer(images, gates, inside, ["a", "b"])
    frames = torch.from_numpy(
        ex._array
    ).float()  # (example, block, 8, 17), NaN: masked
    assert tuple(ex.shape) == (2, 2, 8, 17)
    torch.testing.assert_close(
        frames[1, 0, 0, :8], images[1, 0, 0]
    )  # above the outline
    assert frames[1, 0, 1, 1].isnan() and frames[1, 0, 3, 3] == images[1, 0, 3, 3]
    assert frames[:, :, :, 8].isnan().all()  # the gap
    torch.testing.assert_close(
        frames[0, 1, 0, 9:], gates[1][0, 0].repeat_interleave(4)
    )
    with pytest.raises(ValueError, match="names"):
        spatial_gate_explorer(images, gates, inside, ["a"])
    with pytest.raises(TypeError, match="boolean"):  # was a bare TypeError from ~
        spatial_gate_explorer(images, gates, inside.float(), ["a", "b"])
    with pytest.raises(TypeError, match="list of float"):  # int gates
        spatial_gate_explorer(images, [g.long() for g in gates], inside, ["a", "b"])
    with pytest.raises(ValueError, match="gate"):  # 3 examples' gates for 2 images
        spatial_gate_explorer(images, [torch.rand(3, 4, 4)], inside, ["a", "b"])
