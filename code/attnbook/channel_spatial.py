"""Channel and spatial attention for convolutional networks (chapter 8).

* :class:`SqueezeExcitation` -- channel attention of Hu et al. (2018): global
  average pooling ("squeeze"), a bottleneck MLP and a sigmoid ("excitation")
  give one weight in (0, 1) per channel, which rescales that channel.
* :class:`ChannelAttention`, :class:`SpatialAttention` and :class:`CBAM` -- the
  Convolutional Block Attention Module of Woo et al. (2018): channel attention
  from average- *and* max-pooled descriptors through one shared MLP, then
  spatial attention from the channel-wise average and maximum maps through a
  ``k x k`` convolution.
* :class:`AttentionCNN` -- the small convolutional classifier the chapter
  trains with no attention, with SE and with CBAM after every conv block.

Every module keeps the weights of its last forward pass (``.attention_weights``)
for plotting, as the attention layers of the other chapters do. Layers are
passed as arguments (timm style), so that e.g. the gate or the normalisation
can be swapped without copying the module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from attnbook._checks import _describe
from attnbook._checks import check_int as _check_int

__all__ = [
    "CBAM",
    "AttentionCNN",
    "ChannelAttention",
    "ResidualCNN",
    "SpatialAttention",
    "SqueezeExcitation",
    "se_gate_explorer",
    "spatial_gate_explorer",
]

#: Builds a layer from no arguments (an activation or gate), e.g. ``nn.ReLU`` or ``nn.Sigmoid``.
LayerFactory = Callable[[], nn.Module]


def _hidden_channels(
    channels: int, reduction: int, hidden_channels: int | None
) -> int:
    """Width of the bottleneck: ``channels // reduction`` unless given explicitly."""
    _check_int("channels", channels)
    if hidden_channels is not None:
        return _check_int("hidden_channels", hidden_channels)
    _check_int("reduction", reduction)
    if channels < reduction:
        raise ValueError(
            f"channels must be >= reduction so that the bottleneck keeps at least one unit: got channels={channels}, "
            f"reduction={reduction} (channels // reduction = 0); lower reduction or pass hidden_channels"
        )
    return channels // reduction


def _check_feature_map(
    x: torch.Tensor,
    channels: int | None,
    who: str,
    module: nn.Module | None = None,
    min_size: int = 1,
) -> None:
    """Raise unless ``x`` is a float tensor ``(B, C, H, W)`` with ``channels`` channels (and ``module``'s
    dtype), ``H, W >= min_size``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{who} expects a torch.Tensor (B, C, H, W), got {type(x).__name__}"
        )
    if x.dim() != 4:
        raise ValueError(
            f"{who} expects a 4-D feature map (B, C, H, W), got shape {tuple(x.shape)} ({x.dim()}-D)"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{who} was built for {channels} channels, got input of shape {tuple(x.shape)} with {x.shape[1]}"
        )
    if min(x.shape[-2:]) < min_size:
        raise ValueError(
            f"{who} expects H, W >= {min_size}, got a feature map of shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{who} expects a floating-point tensor, got dtype {x.dtype}"
        )
    weight = next(module.parameters(), None) if module is not None else None
    if weight is not None and x.dtype != weight.dtype:
        raise TypeError(
            f"{who} has {weight.dtype} weights but got a {x.dtype} input; convert one to the other"
        )


class SqueezeExcitation(nn.Module):
    r"""Squeeze-and-excitation channel attention (Hu et al., 2018).

    For a feature map :math:`\mathbf{X}` with :math:`C` channels,

    .. math::
        z_c = \frac{1}{HW} \sum_{i,j} x_{c,i,j}, \qquad
        \mathbf{s} = \sigma\big(\mathbf{W}_2 \delta(\mathbf{W}_1 \mathbf{z})\big), \qquad
        \tilde{x}_{c,i,j} = s_c\, x_{c,i,j},

    with :math:`\mathbf{W}_1 \in \mathbb{R}^{C/r \times C}`, :math:`\mathbf{W}_2 \in \mathbb{R}^{C \times C/r}`,
    :math:`\delta` = ReLU and :math:`\sigma` = sigmoid. The same computation as
    ``torchvision.ops.SqueezeExcitation(C, C // r)`` and timm's ``SEModule(C, rd_channels=C // r)``
    (which store :math:`\mathbf{W}_1, \mathbf{W}_2` as 1 x 1 convolutions). The paper writes the
    excitation without biases; with ``bias=True`` (the default, as in torchvision's and timm's
    modules) both linear maps get one.

    Args:
        channels: :math:`C`, the number of input channels.
        reduction: :math:`r`; the bottleneck has ``channels // reduction`` units.
        hidden_channels: the bottleneck width, overriding ``reduction``.
        act_layer: :math:`\delta`; gate_layer: :math:`\sigma`.
        bias: whether the two linear maps have biases (the paper's equation has none; torchvision and timm add them).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``; ``.attention_weights`` is ``(B, C)``,
    the :math:`s_c` of the last forward pass.

    Raises:
        ValueError: ``channels < reduction`` (an empty bottleneck); input that is
            not ``(B, C, H, W)`` with ``C = channels``.
        TypeError: non-integer sizes, non-tensor or non-float input.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        *,
        hidden_channels: int | None = None,
        act_layer: LayerFactory = nn.ReLU,
        gate_layer: LayerFactory = nn.Sigmoid,
        bias: bool = True,
    ) -> None:
        super().__init__()
        hidden = _hidden_channels(channels, reduction, hidden_channels)
        self.channels = channels
        self.fc1 = nn.Linear(channels, hidden, bias=bias)  # W_1: C -> C/r
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden, channels, bias=bias)  # W_2: C/r -> C
        self.gate = gate_layer()
        self.attention_weights: torch.Tensor | None = None

    def mlp(self, z: torch.Tensor) -> torch.Tensor:
        """The bottleneck MLP on a batch of channel descriptors, ``(B, C) -> (B, C)``."""
        return self.fc2(self.act(self.fc1(z)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map(x, self.channels, "SqueezeExcitation", self)
        z = x.mean(dim=(2, 3))  # squeeze: (B, C, H, W) -> (B, C)
        s = self.gate(self.mlp(z))  # excitation: (B, C), each in (0, 1)
        self.attention_weights = s
        # rescale every channel: (B, C, 1, 1) broadcasts over H, W
        return x * s[:, :, None, None]


class ChannelAttention(SqueezeExcitation):
    r"""CBAM's channel attention (Woo et al., 2018): average- and max-pooled descriptors, one shared MLP.

    .. math::
        \mathbf{M}_c = \sigma\big(\mathrm{MLP}(\mathrm{AvgPool}(\mathbf{F}))
                       + \mathrm{MLP}(\mathrm{MaxPool}(\mathbf{F}))\big),
        \qquad \mathrm{MLP}(\mathbf{z}) = \mathbf{W}_1\, \delta(\mathbf{W}_0 \mathbf{z}),

    pooling over all positions of each channel. Without biases, as the paper writes
    the MLP and as timm's ``ChannelAttn`` does by default (the authors' code has them:
    ``mlp_bias=True``). It is :class:`SqueezeExcitation` with a second, max-pooled
    descriptor through the same MLP, and takes its arguments (``mlp_bias`` for ``bias``).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``; ``.attention_weights`` is ``(B, C)``.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        *,
        hidden_channels: int | None = None,
        act_layer: LayerFactory = nn.ReLU,
        gate_layer: LayerFactory = nn.Sigmoid,
        mlp_bias: bool = False,
    ) -> None:
        super().__init__(
            channels,
            reduction,
            hidden_channels=hidden_channels,
            act_layer=act_layer,
            gate_layer=gate_layer,
            bias=mlp_bias,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map(x, self.channels, "ChannelAttention", self)
        avg = x.mean(dim=(2, 3))  # (B, C)
        # (B, C); max() backpropagates faster than amax()
        mx = x.flatten(2).max(dim=-1).values
        m = self.gate(self.mlp(avg) + self.mlp(mx))  # (B, C)
        self.attention_weights = m
        return x * m[:, :, None, None]


class SpatialAttention(nn.Module):
    r"""CBAM's spatial attention (Woo et al., 2018): one weight per position from channel-pooled maps.

    .. math::
        \mathbf{M}_s = \sigma\big(f^{k \times k}([\mathrm{AvgPool}_c(\mathbf{F});
                       \mathrm{MaxPool}_c(\mathbf{F})])\big),

    where the pools run over the channels at each position, giving two ``(H, W)``
    maps that are stacked -- average first, as in the paper's equation and in timm;
    the authors' code stacks the maximum first -- and :math:`f^{k \times k}` is a
    ``k x k`` convolution from 2 channels to 1 with zero padding ``k // 2``.
    ``norm_layer`` (default ``nn.BatchNorm2d``, as in the authors' code and timm's
    ``ConvNormAct``) follows the convolution; pass ``None`` for the bare equation,
    in which case the convolution gets a bias instead.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``; ``.attention_weights`` is ``(B, H, W)``.
    """

    def __init__(
        self,
        kernel_size: int = 7,
        *,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        gate_layer: LayerFactory = nn.Sigmoid,
    ) -> None:
        super().__init__()
        _check_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd so that the map keeps its size, got {kernel_size}"
            )
        self.conv = nn.Conv2d(
            2, 1, kernel_size, padding=kernel_size // 2, bias=norm_layer is None
        )
        self.norm = norm_layer(1) if norm_layer is not None else nn.Identity()
        self.gate = gate_layer()
        self.attention_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map(x, None, "SpatialAttention", self)
        pooled = torch.cat(
            [x.mean(dim=1, keepdim=True), x.max(dim=1, keepdim=True).values], dim=1
        )  # (B, 2, H, W)
        m = self.gate(self.norm(self.conv(pooled)))  # (B, 1, H, W)
        self.attention_weights = m[:, 0]  # (B, H, W)
        return x * m  # (B, 1, H, W) broadcasts over the channels


class CBAM(nn.Module):
    r"""Convolutional Block Attention Module (Woo et al., 2018): channel attention, then spatial attention.

    :math:`\mathbf{F}' = \mathbf{M}_c(\mathbf{F}) \odot \mathbf{F}`, then
    :math:`\mathbf{F}'' = \mathbf{M}_s(\mathbf{F}') \odot \mathbf{F}'` -- the sequential,
    channel-first order the paper found best. Defaults match timm's ``CbamModule``
    (MLP without bias, BatchNorm after the spatial convolution, pools stacked as
    [mean, max]).

    Args:
        channels, reduction, hidden_channels, act_layer, mlp_bias: of :class:`ChannelAttention`.
        kernel_size, norm_layer: of :class:`SpatialAttention`.
        gate_layer: the gate of both.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``; the weights of the last pass are in
    ``.channel.attention_weights (B, C)`` and ``.spatial.attention_weights (B, H, W)``.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        *,
        hidden_channels: int | None = None,
        kernel_size: int = 7,
        act_layer: LayerFactory = nn.ReLU,
        gate_layer: LayerFactory = nn.Sigmoid,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        mlp_bias: bool = False,
    ) -> None:
        super().__init__()
        self.channel = ChannelAttention(
            channels,
            reduction,
            hidden_channels=hidden_channels,
            act_layer=act_layer,
            gate_layer=gate_layer,
            mlp_bias=mlp_bias,
        )
        self.spatial = SpatialAttention(
            kernel_size, norm_layer=norm_layer, gate_layer=gate_layer
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


def _check_classifier_sizes(
    widths: object, in_channels: object, num_classes: object, block: str
) -> None:
    """The sizes both CNN classifiers take: one positive int width per ``block``, input channels, classes."""
    if (
        isinstance(widths, (str, int))
        or not isinstance(widths, Sequence)
        or not widths
    ):
        raise ValueError(f"widths must name at least one {block}, got {widths!r}")
    for i, width in enumerate(widths):
        _check_int(f"widths[{i}]", width)
    _check_int("in_channels", in_channels)
    _check_int("num_classes", num_classes)


class AttentionCNN(nn.Module):
    """A small CNN classifier with an optional attention module after every conv block.

    Block ``i``: 3 x 3 convolution -> BatchNorm -> ReLU -> 2 x 2 max pooling ->
    ``attention(width_i)``; then global average pooling and a linear layer to the
    classes. With ``attention=None`` it is the plain baseline. The attention modules
    are built after everything else, so for a given ``torch.manual_seed`` every
    variant starts from the same convolutions and head. (Attention comes after the
    pooling so that it runs on a quarter of the positions: CBAM's 7 x 7 spatial
    convolution is slow on a CPU.)

    Args:
        attention: builds the module inserted after block ``i`` from its number of
            channels, e.g. ``lambda c: SqueezeExcitation(c, reduction=4)``; ``None``
            for no attention.
        widths: output channels of the conv blocks.
        in_channels, num_classes: input channels and number of classes.

    Shapes: ``(B, in_channels, H, W) -> (B, num_classes)`` logits (``H, W >= 2^len(widths)``). ``.attention``
    is the ``nn.ModuleList`` of the inserted modules (empty without attention).
    """

    def __init__(
        self,
        attention: Callable[[int], nn.Module] | None = None,
        *,
        widths: Sequence[int] = (16, 32, 32),
        in_channels: int = 1,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        _check_classifier_sizes(widths, in_channels, num_classes, "conv block")
        ins = [in_channels, *widths[:-1]]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            for c_in, c_out in zip(ins, widths, strict=True)
        )
        self.head = nn.Linear(widths[-1], num_classes)
        # built last: a given seed initialises the convolutions and the head identically with or without attention
        self.attention = (
            nn.ModuleList(attention(c) for c in widths)
            if attention is not None
            else nn.ModuleList()
        )
        # channels-last convolution weights make every feature map (B, C, H, W) channels-last
        # in memory: the same maths, and a CPU trains these small networks ~15-40 % faster
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map(x, self.blocks[0][0].in_channels, "AttentionCNN", self)
        if min(x.shape[-2:]) < 2 ** len(self.blocks):
            raise ValueError(
                f"AttentionCNN halves the image {len(self.blocks)} times: expected "
                f"H, W >= {2 ** len(self.blocks)}, got {tuple(x.shape[-2:])}"
            )
        for i, block in enumerate(self.blocks):
            x = block(x)  # (B, width_i, H / 2^(i+1), W / 2^(i+1))
            if len(self.attention):
                x = self.attention[i](x)  # same shape
        # global average pooling: (B, width) -> (B, num_classes)
        return self.head(x.mean(dim=(2, 3)))


class ResidualCNN(nn.Module):
    """A small residual CNN with an optional attention module inside every residual branch, before the addition.

    This is where Hu et al. (2018, SE-ResNet) and Woo et al. (2018, CBAM in a
    ResNet) place their modules: the block computes
    ``ReLU(shortcut(x) + attention(branch(x)))``, so the identity (or projection)
    shortcut carries the signal past every gate. :class:`AttentionCNN`, in
    contrast, puts the module on the main path with no shortcut.

    Stem: 3 x 3 convolution -> BatchNorm -> ReLU -> 2 x 2 max pooling. Residual block
    ``i`` (width ``widths[i]``, stride 1 for the first block, 2 after it):
    ``branch`` = 3 x 3 convolution (stride) -> BatchNorm -> ReLU -> 3 x 3 convolution
    -> BatchNorm; ``shortcut`` = identity, or a strided 1 x 1 convolution and
    BatchNorm when the shape changes. Then global average pooling and a linear
    layer. On a 24 x 24 input the blocks see 12 x 12, 6 x 6 and 3 x 3 positions, as
    :class:`AttentionCNN`'s modules do. The attention modules are built last, so for
    a given ``torch.manual_seed`` every variant starts from the same convolutions.

    Args:
        attention: builds the module placed in block ``i``'s branch from its number
            of channels, e.g. ``lambda c: CBAM(c, reduction=4)``; ``None`` for none.
        widths: output channels of the stem and the residual blocks (the stem
            has ``widths[0]``).
        in_channels, num_classes: input channels and number of classes.

    Shapes: ``(B, in_channels, H, W) -> (B, num_classes)`` logits. ``.attention``
    is the ``nn.ModuleList`` of the inserted modules (empty without attention).
    """

    def __init__(
        self,
        attention: Callable[[int], nn.Module] | None = None,
        *,
        widths: Sequence[int] = (16, 32, 32),
        in_channels: int = 1,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        _check_classifier_sizes(widths, in_channels, num_classes, "residual block")

        def conv_bn(
            c_in: int, c_out: int, k: int, stride: int = 1
        ) -> list[nn.Module]:
            return [
                nn.Conv2d(
                    c_in, c_out, k, stride=stride, padding=k // 2, bias=False
                ),
                nn.BatchNorm2d(c_out),
            ]

        self.stem = nn.Sequential(
            *conv_bn(in_channels, widths[0], 3), nn.ReLU(), nn.MaxPool2d(2)
        )
        ins = [widths[0], *widths[:-1]]
        strides = [1] + [2] * (len(widths) - 1)
        self.branches = nn.ModuleList(
            nn.Sequential(
                *conv_bn(c_in, c_out, 3, s), nn.ReLU(), *conv_bn(c_out, c_out, 3)
            )
            for c_in, c_out, s in zip(ins, widths, strides, strict=True)
        )
        self.shortcuts = nn.ModuleList(
            nn.Identity()
            if (c_in, s) == (c_out, 1)
            else nn.Sequential(*conv_bn(c_in, c_out, 1, s))
            for c_in, c_out, s in zip(ins, widths, strides, strict=True)
        )
        self.head = nn.Linear(widths[-1], num_classes)
        # built last: a given seed initialises the convolutions and the head identically with or without attention
        self.attention = (
            nn.ModuleList(attention(c) for c in widths)
            if attention is not None
            else nn.ModuleList()
        )
        # channels-last convolution weights make every feature map (B, C, H, W) channels-last
        # in memory: the same maths, and a CPU trains these small networks ~15-40 % faster
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # H, W >= 2: the stem halves the image
        _check_feature_map(x, self.stem[0].in_channels, "ResidualCNN", self, 2)
        x = self.stem(x)  # (B, widths[0], H / 2, W / 2)
        for i, (branch, shortcut) in enumerate(zip(self.branches, self.shortcuts)):
            f = branch(x)
            if len(self.attention):
                # the gate re-weights the residual branch only
                f = self.attention[i](f)
            x = torch.relu(shortcut(x) + f)
        # global average pooling: (B, width) -> (B, num_classes)
        return self.head(x.mean(dim=(2, 3)))


def se_gate_explorer(
    gates: Sequence[torch.Tensor],
    labels: torch.Tensor,
    *,
    per_class: int = 10,
    title: str = "SE gates",
):
    """A :class:`~attnbook.viz.HeatmapExplorer` of SE gates per block and class.

    Args:
        gates: one ``(N, C_b)`` tensor of gates per block (``C_b`` may differ).
        labels: ``(N,)`` integer classes of the ``N`` inputs.
        per_class: inputs shown one by one for each class.

    The "rows show" slider picks the mean gate per class (one row per class) or
    the first ``per_class`` inputs of one class; the "block" slider picks the
    block. Columns a block does not have are masked.
    """
    from attnbook.viz import HeatmapExplorer

    if (
        not isinstance(gates, (list, tuple))
        or not gates
        or any(
            not isinstance(g, torch.Tensor)
            or g.dim() != 2
            or not g.is_floating_point()
            for g in gates
        )
    ):
        raise TypeError(
            f"gates must be a non-empty list of float (N, C) tensors, got {_describe(gates)}"
        )
    n = gates[0].shape[0]
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point():
        raise TypeError(
            f"labels must be an integer tensor (N,), got {_describe(labels)}"
        )
    if labels.shape != (n,) or n == 0 or any(g.shape[0] != n for g in gates):
        raise ValueError(
            f"labels must be (N,) for gates of N >= 1 inputs each, got labels "
            f"{tuple(labels.shape)} and gates {[tuple(g.shape) for g in gates]}"
        )
    _check_int("per_class", per_class)
    classes = labels.unique().tolist()
    picks = [torch.nonzero(labels == k).flatten()[:per_class] for k in classes]
    if min(len(p) for p in picks) < per_class:
        raise ValueError(f"every class needs {per_class} inputs to show")
    rows = max(len(classes), per_class)
    widest = max(g.shape[1] for g in gates)
    frames = torch.zeros(len(gates), 1 + len(classes), rows, widest)
    for b, g in enumerate(gates):
        means = torch.stack([g[labels == k].mean(0) for k in classes])
        frames[b, 0, : len(classes), : g.shape[1]] = means
        for v, idx in enumerate(picks, start=1):
            frames[b, v, :per_class, : g.shape[1]] = g[idx]
    mask = torch.zeros(len(gates), 1 + len(classes), rows, widest, dtype=torch.bool)
    for b, g in enumerate(gates):
        mask[b, :, :, g.shape[1] :] = True
    mask[:, 0, len(classes) :] = True
    mask[:, 1:, per_class:] = True
    pad = [""] * rows
    row_labels = [([f"class {k}" for k in classes] + pad)[:rows]] + [
        ([f"test #{i}" for i in idx.tolist()] + pad)[:rows] for idx in picks
    ]
    views = ["mean per class"] + [f"inputs of class {k}" for k in classes]
    blocks = [f"{b + 1} ({g.shape[1]} channels)" for b, g in enumerate(gates)]
    return HeatmapExplorer(
        frames,
        axes={"block": blocks, "rows show": views},
        row_labels=row_labels,
        col_labels=[f"c{c + 1}" for c in range(widest)],
        labels_by="rows show",
        row_title="class / test input",
        col_title="channel",
        mask=mask,
        title=title,
        vmin=0.0,
        vmax=1.0,
        digits=3,
    )


def spatial_gate_explorer(
    images: torch.Tensor,
    gates: Sequence[torch.Tensor],
    inside: torch.Tensor,
    names: Sequence[str],
    *,
    title: str = "Spatial gates",
):
    """A :class:`~attnbook.viz.HeatmapExplorer`: each image beside its spatial gates.

    Args:
        images: ``(E, 1, H, W)`` one-channel images with values in ``[0, 1]``.
        gates: one ``(E, h_b, w_b)`` spatial gate per block, enlarged to
            ``H x W`` (nearest neighbour) for the picture.
        inside: ``(E, H, W)`` boolean, ``True`` on the object; its one-pixel
            outline is drawn grey (masked) on the image.
        names: one slider label per image.

    Each frame is the image, a one-column gap and the gate of one block, on one
    colour scale from 0 to 1; sliders "example" and "block".
    """
    from attnbook.viz import HeatmapExplorer

    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise TypeError(
            f"images must be an (E, 1, H, W) tensor, got {images!r:.60}"
        )
    E, _, H, W = images.shape
    if not isinstance(inside, torch.Tensor) or inside.dtype != torch.bool:
        raise TypeError(
            f"inside must be a boolean (E, H, W) tensor, got {_describe(inside)}"
        )
    if not isinstance(gates, (list, tuple)) or any(
        not isinstance(g, torch.Tensor) or not g.is_floating_point() for g in gates
    ):
        raise TypeError(
            f"gates must be a list of float (E, h, w) tensors, got {_describe(gates)}"
        )
    if (
        inside.shape != (E, H, W)
        or len(names) != E
        or not gates
        or any(g.dim() != 3 or g.shape[0] != E for g in gates)
    ):
        raise ValueError(
            f"expected inside (E, H, W) = {(E, H, W)}, {E} names and at least one "
            f"gate ({E}, h, w), got {tuple(inside.shape)}, {len(names)} and "
            f"{[tuple(g.shape) for g in gates]}"
        )
    big = torch.stack(
        [nn.functional.interpolate(g[:, None], size=(H, W))[:, 0] for g in gates], 1
    )  # (E, blocks, H, W)
    canvas = images[:, :1].expand(-1, len(gates), -1, -1)
    gap = torch.zeros(E, len(gates), H, 1)
    frames = torch.cat([canvas, gap, big], dim=-1)  # (E, blocks, H, 2W + 1)
    box = inside[:, None].float()
    ring = nn.functional.max_pool2d(box, 3, stride=1, padding=1)[:, 0].bool()
    mask = torch.zeros(E, H, 2 * W + 1, dtype=torch.bool)
    mask[:, :, :W] = ring & ~inside  # the object's outline, on the image
    mask[:, :, W] = True  # the gap between the two panels
    cols = [str(c) for c in range(W)]
    return HeatmapExplorer(
        frames,
        axes={
            "example": list(names),
            "block": [str(b + 1) for b in range(len(gates))],
        },
        row_labels=range(H),
        col_labels=cols + [""] + cols,
        row_title="row",
        col_title="column — left: image, right: spatial gate (enlarged)",
        mask=mask[:, None],
        title=title,
        vmin=0.0,
        vmax=1.0,
    )
