"""Attention for images: squeeze-and-excitation and CBAM (chapter 8), the Vision Transformer (chapter 9).

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
* :func:`patchify`, :class:`PatchEmbedding`, :class:`VisionTransformer` and
  :func:`attention_rollout` -- the ViT of Dosovitskiy et al. (2021), built from
  the book's pre-norm :class:`~attnbook.transformer.EncoderBlock`, and the
  rollout of Abnar & Zuidema (2020).

Every module keeps the weights of its last forward pass (``.attention_weights``)
for plotting, as the attention layers of the other chapters do. Layers are
passed as arguments (timm style), so that e.g. the gate or the normalisation
can be swapped without copying the module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from attnbook.transformer import EncoderBlock

__all__ = [
    "SqueezeExcitation",
    "ChannelAttention",
    "SpatialAttention",
    "CBAM",
    "AttentionCNN",
    "patchify",
    "PatchEmbedding",
    "VisionTransformer",
    "attention_rollout",
]

#: Builds a layer from no arguments (an activation or gate), e.g. ``nn.ReLU`` or ``nn.Sigmoid``.
LayerFactory = Callable[[], nn.Module]


def _check_int(name: str, value: object, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def _hidden_channels(channels: int, reduction: int, hidden_channels: int | None) -> int:
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


def _check_feature_map(x: torch.Tensor, channels: int | None, who: str) -> None:
    """Raise unless ``x`` is a float tensor ``(B, C, H, W)`` with ``channels`` channels."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{who} expects a 4-D feature map (B, C, H, W), got shape {tuple(x.shape)} ({x.dim()}-D)")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{who} was built for {channels} channels, got input of shape {tuple(x.shape)} with {x.shape[1]}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{who} expects a floating-point tensor, got dtype {x.dtype}")


class SqueezeExcitation(nn.Module):
    r"""Squeeze-and-excitation channel attention (Hu et al., 2018).

    For a feature map :math:`\mathbf{X}` with :math:`C` channels,

    .. math::
        z_c = \frac{1}{HW} \sum_{i,j} x_{c,i,j}, \qquad
        \mathbf{s} = \sigma\big(\mathbf{W}_2 \delta(\mathbf{W}_1 \mathbf{z} + \mathbf{b}_1) + \mathbf{b}_2\big), \qquad
        \tilde{x}_{c,i,j} = s_c\, x_{c,i,j},

    with :math:`\mathbf{W}_1 \in \mathbb{R}^{C/r \times C}`, :math:`\mathbf{W}_2 \in \mathbb{R}^{C \times C/r}`,
    :math:`\delta` = ReLU and :math:`\sigma` = sigmoid. The same computation as
    ``torchvision.ops.SqueezeExcitation(C, C // r)`` and timm's ``SEModule(C, rd_channels=C // r)``
    (which store :math:`\mathbf{W}_1, \mathbf{W}_2` as 1 x 1 convolutions).

    Args:
        channels: :math:`C`, the number of input channels.
        reduction: :math:`r`; the bottleneck has ``channels // reduction`` units.
        hidden_channels: the bottleneck width, overriding ``reduction``.
        act_layer: :math:`\delta`; gate_layer: :math:`\sigma`.
        bias: whether the two linear maps have biases (they do in the paper).

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
        _check_feature_map(x, self.channels, "SqueezeExcitation")
        z = x.mean(dim=(2, 3))  # squeeze: (B, C, H, W) -> (B, C)
        s = self.gate(self.mlp(z))  # excitation: (B, C), each in (0, 1)
        self.attention_weights = s
        return x * s[:, :, None, None]  # rescale every channel: (B, C, 1, 1) broadcasts over H, W


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
            channels, reduction, hidden_channels=hidden_channels, act_layer=act_layer, gate_layer=gate_layer, bias=mlp_bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map(x, self.channels, "ChannelAttention")
        avg = x.mean(dim=(2, 3))  # (B, C)
        mx = x.flatten(2).max(dim=-1).values  # (B, C); max() backpropagates faster than amax()
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
            raise ValueError(f"kernel_size must be odd so that the map keeps its size, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=norm_layer is None)
        self.norm = norm_layer(1) if norm_layer is not None else nn.Identity()
        self.gate = gate_layer()
        self.attention_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map(x, None, "SpatialAttention")
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.max(dim=1, keepdim=True).values], dim=1)  # (B, 2, H, W)
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
            channels, reduction, hidden_channels=hidden_channels, act_layer=act_layer, gate_layer=gate_layer,
            mlp_bias=mlp_bias,
        )
        self.spatial = SpatialAttention(kernel_size, norm_layer=norm_layer, gate_layer=gate_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


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
        in_channels, n_classes: input channels and number of classes.

    Shapes: ``(B, in_channels, H, W) -> (B, n_classes)`` logits. ``.attention``
    is the ``nn.ModuleList`` of the inserted modules (empty without attention).
    """

    def __init__(
        self,
        attention: Callable[[int], nn.Module] | None = None,
        *,
        widths: Sequence[int] = (16, 32, 32),
        in_channels: int = 1,
        n_classes: int = 10,
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("widths must name at least one conv block, got an empty sequence")
        ins = [in_channels, *widths[:-1]]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)
            )
            for c_in, c_out in zip(ins, widths, strict=True)
        )
        self.head = nn.Linear(widths[-1], n_classes)
        # built last: a given seed initialises the convolutions and the head identically with or without attention
        self.attention = nn.ModuleList(attention(c) for c in widths) if attention is not None else nn.ModuleList()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_feature_map(x, self.blocks[0][0].in_channels, "AttentionCNN")
        for i, block in enumerate(self.blocks):
            x = block(x)  # (B, width_i, H / 2^(i+1), W / 2^(i+1))
            if len(self.attention):
                x = self.attention[i](x)  # same shape
        return self.head(x.mean(dim=(2, 3)))  # global average pooling: (B, width) -> (B, n_classes)


# ---------------------------------------------------------------------------------------------------------------
# Chapter 9: the Vision Transformer (Dosovitskiy et al., 2021) and attention rollout (Abnar & Zuidema, 2020).
# ---------------------------------------------------------------------------------------------------------------




def _check_images(x: object, channels: int, image_size: int, who: str) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``x`` is a float ``(B, channels, image_size, image_size)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{who} expects images of shape (B, C, H, W), got shape {tuple(x.shape)} ({x.dim()}-D)")
    expected = (channels, image_size, image_size)
    if tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"{who} was built for images (B, {channels}, {image_size}, {image_size}), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{who} expects a floating-point tensor, got dtype {x.dtype}")


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping square patches and flatten each one (Dosovitskiy et al., 2021, eq. 1).

    ``(B, C, H, W) -> (B, N, C * p * p)`` with ``N = (H / p) * (W / p)`` patches in row-major order (left to
    right, then top to bottom); each patch is flattened channel first, then rows, then columns -- the order in
    which ``nn.Conv2d`` stores its kernel, so ``patchify(x, p) @ conv.weight.reshape(d, -1).T`` is the
    convolution with kernel = stride = ``p``.
    """
    _check_int("patch_size", patch_size)
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"patchify expects images of shape (B, C, H, W), got {got}")
    B, C, H, W = images.shape
    if H % patch_size or W % patch_size:
        raise ValueError(f"image size {H} x {W} is not divisible by the patch size {patch_size}")
    x = images.reshape(B, C, H // patch_size, patch_size, W // patch_size, patch_size)  # (B, C, H/p, p, W/p, p)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/p, W/p, C, p, p): patch grid first, patch contents last
    return x.reshape(B, (H // patch_size) * (W // patch_size), C * patch_size * patch_size)  # (B, N, C p p)


class PatchEmbedding(nn.Module):
    """Split an image into ``p x p`` patches and map each linearly to a ``num_hiddens`` vector (ViT's stem).

    A convolution whose kernel and stride both equal the patch size sees every patch exactly once, so it *is*
    one shared linear map per patch; :meth:`forward_linear` computes the same thing as
    :func:`patchify` followed by a matrix product with the convolution's weights.

    Shapes: ``(B, in_channels, image_size, image_size) -> (B, N, num_hiddens)`` with
    ``N = (image_size / patch_size) ** 2`` tokens in row-major order.

    Raises:
        ValueError: ``image_size`` not divisible by ``patch_size``; input of the wrong rank, channels or size.
    """

    def __init__(self, image_size: int, patch_size: int, in_channels: int, num_hiddens: int) -> None:
        super().__init__()
        for name, value in (("image_size", image_size), ("patch_size", patch_size), ("in_channels", in_channels),
                            ("num_hiddens", num_hiddens)):  # fmt: skip
            _check_int(name, value)
        if image_size % patch_size:
            raise ValueError(
                f"image_size must be divisible by patch_size, got image_size={image_size}, patch_size={patch_size}"
            )
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.grid = image_size // patch_size  # patches per side
        self.num_patches = self.grid**2
        self.proj = nn.Conv2d(in_channels, num_hiddens, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.in_channels, self.image_size, "PatchEmbedding")
        x = self.proj(x)  # (B, d, H/p, W/p): one d-vector per patch
        return x.flatten(2).transpose(1, 2)  # (B, d, N) -> (B, N, d)

    def forward_linear(self, x: torch.Tensor) -> torch.Tensor:
        """The same map written as patchify + linear: ``patchify(x) W^T + b`` with ``W`` the conv kernel."""
        _check_images(x, self.in_channels, self.image_size, "PatchEmbedding")
        W = self.proj.weight.reshape(self.proj.out_channels, -1)  # (d, C p p)
        return patchify(x, self.patch_size) @ W.T + self.proj.bias  # (B, N, C p p) @ (C p p, d) -> (B, N, d)


class VisionTransformer(nn.Module):
    """The Vision Transformer (ViT) of Dosovitskiy et al. (2021) for small images.

    ``z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos`` (patch embedding, a learned class token and learned
    position embeddings), then ``num_layers`` pre-norm encoder blocks (:class:`attnbook.transformer.EncoderBlock`
    with ``norm_first=True``, exact GELU, LayerNorm eps ``1e-6`` -- the settings of the paper's code and timm),
    a final LayerNorm, and a head on the class token's output (``pool="cls"``) or on the mean of the patch
    tokens' outputs (``pool="mean"``, in which case no class token is made).

    Args:
        image_size, patch_size, in_channels: square images of ``image_size`` pixels, cut into ``patch_size``
            patches; ``image_size`` must be divisible by ``patch_size``.
        num_classes: outputs of the head.
        num_hiddens, num_heads, num_layers, mlp_hiddens: width ``d``, heads ``h``, depth and the hidden width
            of each block's MLP.
        dropout: dropout in the blocks and after adding the position embeddings.
        pool: ``"cls"`` or ``"mean"``.
        position: ``False`` leaves out the position embeddings (the model then sees a *set* of patches).
        head_hiddens: ``None`` for a linear head (as when fine-tuning in the paper, and in timm); an int
            for the pre-training head with one tanh hidden layer of that width.

    Shapes: ``(B, in_channels, image_size, image_size) -> (B, num_classes)`` logits;
    :meth:`tokens` gives ``(B, T, d)`` with ``T = N + 1`` (class token first) or ``N``. After a forward pass,
    :attr:`attention_weights` holds one ``(B, h, T, T)`` tensor per layer.
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        num_classes: int,
        *,
        in_channels: int = 1,
        num_hiddens: int = 64,
        num_heads: int = 4,
        num_layers: int = 4,
        mlp_hiddens: int = 128,
        dropout: float = 0.0,
        pool: Literal["cls", "mean"] = "cls",
        position: bool = True,
        head_hiddens: int | None = None,
    ) -> None:
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        for name, value in (("num_classes", num_classes), ("num_layers", num_layers), ("mlp_hiddens", mlp_hiddens)):
            _check_int(name, value)
        self.pool = pool
        self.patch_embedding = PatchEmbedding(image_size, patch_size, in_channels, num_hiddens)
        n_tokens = self.patch_embedding.num_patches + (pool == "cls")
        self.cls_token = nn.Parameter(torch.zeros(1, 1, num_hiddens)) if pool == "cls" else None
        self.pos_embedding = nn.Parameter(torch.zeros(1, n_tokens, num_hiddens)) if position else None
        if self.pos_embedding is not None:
            nn.init.trunc_normal_(self.pos_embedding, std=0.02)  # as in the paper's code and timm
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(num_hiddens, mlp_hiddens, num_heads, dropout, norm_first=True, activation="gelu", eps=1e-6)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(num_hiddens, eps=1e-6)
        if head_hiddens is None:
            self.head: nn.Module = nn.Linear(num_hiddens, num_classes)
        else:
            _check_int("head_hiddens", head_hiddens)
            self.head = nn.Sequential(nn.Linear(num_hiddens, head_hiddens), nn.Tanh(), nn.Linear(head_hiddens, num_classes))

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Every token's output after the final LayerNorm, ``(B, T, d)`` (class token first if there is one)."""
        X = self.patch_embedding(x)  # (B, N, d)
        if self.cls_token is not None:
            X = torch.cat([self.cls_token.expand(X.shape[0], -1, -1), X], dim=1)  # (B, 1 + N, d)
        if self.pos_embedding is not None:
            X = X + self.pos_embedding  # (1, T, d) broadcasts over the batch
        X = self.dropout(X)
        for block in self.blocks:
            X = block(X)  # (B, T, d)
        return self.norm(X)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Z = self.tokens(x)  # (B, T, d)
        pooled = Z[:, 0] if self.pool == "cls" else Z.mean(dim=1)  # (B, d)
        return self.head(pooled)  # (B, num_classes)

    @property
    def attention_weights(self) -> list[torch.Tensor]:
        """Per layer, the ``(B, h, T, T)`` attention weights of the last forward pass."""
        weights = [block.attention.attention_weights for block in self.blocks]
        if any(w is None for w in weights):
            raise RuntimeError("no attention weights yet: run a forward pass first")
        return weights


def attention_rollout(attention_weights: Sequence[torch.Tensor], residual_weight: float = 0.5) -> torch.Tensor:
    r"""Attention rollout (Abnar & Zuidema, 2020): how much each output token draws on each *input* token.

    Per layer :math:`\ell`, average the heads and account for the residual connection,
    :math:`\hat A_\ell = (1 - r)\,\bar A_\ell + r I` with :math:`r` = ``residual_weight`` (0.5 in the paper),
    renormalise the rows to sum to 1, and multiply through the layers:
    :math:`\tilde A_L = \hat A_L \hat A_{L-1} \cdots \hat A_1`.

    Args:
        attention_weights: one ``(B, h, T, T)`` (or ``(B, T, T)``, a single head) tensor per layer, first
            layer first, e.g. :attr:`VisionTransformer.attention_weights`.
        residual_weight: :math:`r` in ``[0, 1)``.

    Returns:
        ``(B, T, T)``; row ``i`` is a distribution over the input tokens for output token ``i``.
    """
    if isinstance(attention_weights, torch.Tensor) or not attention_weights:
        raise ValueError("attention_weights must be a non-empty sequence of per-layer tensors (B, h, T, T)")
    if not 0.0 <= residual_weight < 1.0:
        raise ValueError(f"residual_weight must lie in [0, 1), got {residual_weight!r}")
    rollout = None
    for layer, A in enumerate(attention_weights):
        if not isinstance(A, torch.Tensor) or A.dim() not in (3, 4) or A.shape[-1] != A.shape[-2]:
            got = tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__
            raise ValueError(f"layer {layer}: expected attention weights (B, h, T, T) or (B, T, T), got {got}")
        A = A.mean(dim=1) if A.dim() == 4 else A  # (B, T, T): average over heads
        if rollout is not None and A.shape != rollout.shape:
            raise ValueError(f"layer {layer}: expected weights of shape {tuple(rollout.shape)}, got {tuple(A.shape)}")
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        A = (1.0 - residual_weight) * A + residual_weight * eye  # the residual path as attention to oneself
        A = A / A.sum(dim=-1, keepdim=True)  # rows sum to 1 again
        rollout = A if rollout is None else A @ rollout  # (B, T, T): later layers act on earlier mixtures
    return rollout
