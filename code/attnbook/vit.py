"""The Vision Transformer (chapter 9).

:func:`patchify`, :class:`PatchEmbedding`, :class:`VisionTransformer` and
:func:`attention_rollout` -- the ViT of Dosovitskiy et al. (2021), built from
the book's pre-norm :class:`~attnbook.transformer.EncoderBlock`, and the
rollout of Abnar & Zuidema (2020).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import nn

from attnbook._checks import check_int as _check_int
from attnbook._checks import check_probability, tracing
from attnbook.transformer import EncoderBlock

__all__ = [
    "PatchEmbedding",
    "VisionTransformer",
    "attention_rollout",
    "class_token_maps",
    "patchify",
]


def _check_images(
    x: object,
    channels: int,
    image_size: int,
    who: str,
    dtype: torch.dtype | None = None,
) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``x`` is a float ``(B, channels, image_size, image_size)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{who} expects a torch.Tensor (B, C, H, W), got {type(x).__name__}"
        )
    if x.dim() != 4:
        raise ValueError(
            f"{who} expects images of shape (B, C, H, W), got shape {tuple(x.shape)} ({x.dim()}-D)"
        )
    expected = (channels, image_size, image_size)
    if tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"{who} was built for images (B, {channels}, {image_size}, {image_size}), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{who} expects a floating-point tensor, got dtype {x.dtype}"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{who} has {dtype} weights but got a {x.dtype} input; convert one to the other"
        )


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping square patches and flatten each one (Dosovitskiy et al., 2021, eq. 1).

    ``(B, C, H, W) -> (B, N, C * p * p)`` with ``N = (H / p) * (W / p)`` patches in row-major order (left to
    right, then top to bottom); each patch is flattened channel first, then rows, then columns -- the order in
    which ``nn.Conv2d`` stores its kernel, so ``patchify(x, p) @ conv.weight.reshape(d, -1).T`` is the
    convolution with kernel = stride = ``p``.
    """
    _check_int("patch_size", patch_size)
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        got = (
            tuple(images.shape)
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ValueError(
            f"patchify expects images of shape (B, C, H, W), got {got}"
        )
    B, C, H, W = images.shape
    if H % patch_size or W % patch_size:
        raise ValueError(
            f"image size {H} x {W} is not divisible by the patch size {patch_size}"
        )
    x = images.reshape(
        B, C, H // patch_size, patch_size, W // patch_size, patch_size
    )  # (B, C, H/p, p, W/p, p)
    # (B, H/p, W/p, C, p, p): patch grid first, patch contents last
    x = x.permute(0, 2, 4, 1, 3, 5)
    return x.reshape(
        B, (H // patch_size) * (W // patch_size), C * patch_size * patch_size
    )  # (B, N, C p p)


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

    def __init__(
        self, image_size: int, patch_size: int, in_channels: int, num_hiddens: int
    ) -> None:
        super().__init__()
        for name, value in (("image_size", image_size), ("patch_size", patch_size), ("in_channels", in_channels),
                            ("num_hiddens", num_hiddens)):  # fmt: skip
            _check_int(name, value)
        if image_size % patch_size:
            raise ValueError(
                f"image_size must be divisible by patch_size, got image_size={image_size}, patch_size={patch_size}"
            )
        self.image_size, self.patch_size, self.in_channels = (
            image_size,
            patch_size,
            in_channels,
        )
        self.grid = image_size // patch_size  # patches per side
        self.num_patches = self.grid**2
        self.proj = nn.Conv2d(
            in_channels, num_hiddens, kernel_size=patch_size, stride=patch_size
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(
            x,
            self.in_channels,
            self.image_size,
            "PatchEmbedding",
            self.proj.weight.dtype,
        )
        x = self.proj(x)  # (B, d, H/p, W/p): one d-vector per patch
        return x.flatten(2).transpose(1, 2)  # (B, d, N) -> (B, N, d)

    def forward_linear(self, x: torch.Tensor) -> torch.Tensor:
        """The same map written as patchify + linear: ``patchify(x) W^T + b`` with
        ``W`` the conv kernel."""
        _check_images(
            x,
            self.in_channels,
            self.image_size,
            "PatchEmbedding",
            self.proj.weight.dtype,
        )
        W = self.proj.weight.reshape(self.proj.out_channels, -1)  # (d, C p p)
        # (B, N, C p p) @ (C p p, d) -> (B, N, d)
        return patchify(x, self.patch_size) @ W.T + self.proj.bias


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
        pos_std: standard deviation of the position embeddings' (truncated normal)
            initialisation: 0.02 as in the paper's code and timm. On a small data
            set and a short budget a larger start (e.g. 1) makes the positions
            distinct from the first step instead of after many.

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
        pos_std: float = 0.02,
    ) -> None:
        super().__init__()
        if (
            not isinstance(pos_std, (int, float))
            or isinstance(pos_std, bool)
            or not 0 < pos_std < float("inf")
        ):
            raise ValueError(f"pos_std must be a positive number, got {pos_std!r}")
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        check_probability("dropout", dropout)
        for name, value in (
            ("num_classes", num_classes),
            ("num_layers", num_layers),
            ("mlp_hiddens", mlp_hiddens),
        ):
            _check_int(name, value)
        self.pool = pool
        self.patch_embedding = PatchEmbedding(
            image_size, patch_size, in_channels, num_hiddens
        )
        n_tokens = self.patch_embedding.num_patches + (pool == "cls")
        self.cls_token = (
            nn.Parameter(torch.zeros(1, 1, num_hiddens)) if pool == "cls" else None
        )
        self.pos_embedding = (
            nn.Parameter(torch.zeros(1, n_tokens, num_hiddens))
            if position
            else None
        )
        if self.pos_embedding is not None:
            # as in the paper's code and timm (cut at -2 and 2)
            nn.init.trunc_normal_(self.pos_embedding, std=pos_std)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(
                num_hiddens,
                mlp_hiddens,
                num_heads,
                dropout,
                norm_first=True,
                activation="gelu",
                eps=1e-6,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(num_hiddens, eps=1e-6)
        if head_hiddens is None:
            self.head: nn.Module = nn.Linear(num_hiddens, num_classes)
        else:
            _check_int("head_hiddens", head_hiddens)
            self.head = nn.Sequential(
                nn.Linear(num_hiddens, head_hiddens),
                nn.Tanh(),
                nn.Linear(head_hiddens, num_classes),
            )

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Every token's output after the final LayerNorm, ``(B, T, d)`` (class
        token first if there is one)."""
        X = self.patch_embedding(x)  # (B, N, d)
        if self.cls_token is not None:
            X = torch.cat(
                [self.cls_token.expand(X.shape[0], *self.cls_token.shape[1:]), X],
                dim=1,
            )  # (B, 1 + N, d)
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


def _is_distribution(A: torch.Tensor) -> bool:
    """Every row non-negative, finite, summing to 1 (loosely: half-precision
    weights round)."""
    total = A.sum(dim=-1, dtype=torch.float32)
    finite, nonneg = torch.isfinite(A).all(), (A >= 0).all()
    return bool(finite and nonneg and ((total - 1).abs() <= 1e-2).all())


def _check_rollout_inputs(
    attention_weights: object, residual_weight: object
) -> list[torch.Tensor]:
    """The checked weights as a list (a generator is read once: here, not again by the rollout)."""
    if not isinstance(attention_weights, Iterable):
        raise TypeError(
            "attention_weights must be a sequence of per-layer tensors (B, h, T, T), "
            f"got {type(attention_weights).__name__}"
        )
    if isinstance(attention_weights, torch.Tensor) or not (
        attention_weights := list(attention_weights)
    ):
        raise ValueError(
            "attention_weights must be a non-empty sequence of per-layer tensors "
            "(B, h, T, T)"
        )
    if not isinstance(residual_weight, (int, float)) or isinstance(
        residual_weight, bool
    ):
        raise TypeError(
            f"residual_weight must be a number, got {type(residual_weight).__name__}"
        )
    if not 0.0 <= residual_weight < 1.0:
        raise ValueError(
            f"residual_weight must lie in [0, 1), got {residual_weight!r}"
        )
    shape = None
    for layer, A in enumerate(attention_weights):
        ok = isinstance(A, torch.Tensor) and A.dim() in (3, 4)
        if not ok or A.shape[-1] != A.shape[-2]:
            got = (
                tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__
            )
            raise ValueError(
                f"layer {layer}: expected attention weights (B, h, T, T) or "
                f"(B, T, T), got {got}"
            )
        if not A.is_floating_point():
            raise TypeError(
                f"layer {layer}: attention weights must be floating point, got {A.dtype}"
            )
        if A.dtype != attention_weights[0].dtype:  # the product would not mix them
            raise TypeError(
                f"layer {layer}: all layers' weights must share one dtype, got {A.dtype} "
                f"after {attention_weights[0].dtype}"
            )
        if not tracing() and not _is_distribution(A):
            raise ValueError(
                f"layer {layer}: expected attention weights (non-negative rows summing "
                "to 1, e.g. softmax outputs), got logits, NaN or rows that do not sum "
                "to 1 (a fully masked query has no rollout)"
            )
        this = (A.shape[0], A.shape[-2], A.shape[-1])
        if shape is not None and this != shape:
            raise ValueError(
                f"layer {layer}: expected weights of shape {shape}, got {this}"
            )
        shape = this
    return attention_weights


def attention_rollout(
    attention_weights: Sequence[torch.Tensor], residual_weight: float = 0.5
) -> torch.Tensor:
    r"""Attention rollout (Abnar & Zuidema, 2020): how much each output token draws
    on each *input* token.

    Per layer :math:`\ell`, average the heads, account for the residual connection
    with :math:`\hat A_\ell = (1 - r)\,\bar A_\ell + r I` (:math:`r` =
    ``residual_weight``, 0.5 in the paper), renormalise the rows to sum to 1, and
    multiply through the layers: :math:`\tilde A_L = \hat A_L \cdots \hat A_1`.

    Args:
        attention_weights: one ``(B, h, T, T)`` (or ``(B, T, T)``, a single head)
            tensor per layer, first layer first, e.g.
            :attr:`VisionTransformer.attention_weights`.
        residual_weight: :math:`r` in ``[0, 1)``.

    Returns:
        ``(B, T, T)``; row ``i`` is a distribution over the input tokens for
        output token ``i``.
    """
    attention_weights = _check_rollout_inputs(attention_weights, residual_weight)
    rollout = None
    for A in attention_weights:
        A = A.mean(dim=1) if A.dim() == 4 else A  # (B, T, T): average over heads
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        A = (
            1 - residual_weight
        ) * A + residual_weight * eye  # residual = self-attention
        A = A / A.sum(dim=-1, keepdim=True)  # rows sum to 1 again
        # later layers mix earlier ones
        rollout = A if rollout is None else A @ rollout
    return rollout


def class_token_maps(
    model: VisionTransformer, images: torch.Tensor, residual_weight: float = 0.5
) -> torch.Tensor:
    """What the class token reads, as maps over the image: the frames of chapter 9's explorer.

    Runs ``model`` on ``images`` (no gradients, keeping the attention weights) and,
    for every layer, takes the class token's attention to the ``N`` patches for
    each of the ``h`` heads, their mean, and the :func:`attention_rollout` up to
    that layer. Each weight is painted over its patch's ``p x p`` pixels, and each
    map is divided by its largest weight (1 = the patch read most in that map).

    Returns:
        ``(B, L, h + 2, H, W)``: layer ``l``, then heads ``0..h-1``, the mean of
        the heads, the rollout through layers ``1..l``.

    Raises:
        ValueError: a model without a class token (``pool="mean"``) or bad images.
    """
    if not isinstance(model, VisionTransformer):
        raise TypeError(
            f"class_token_maps expects a VisionTransformer, got {type(model).__name__}"
        )
    if model.cls_token is None:
        raise ValueError(
            "the model has no class token (pool='mean'): nothing to map"
        )
    keep = [block.attention.keep_weights for block in model.blocks]
    for block in model.blocks:
        block.attention.keep_weights = True
    try:
        with torch.inference_mode():
            model(images)  # checks the images
    finally:
        for block, k in zip(model.blocks, keep):
            block.attention.keep_weights = k
    weights = model.attention_weights  # per layer (B, h, T, T)
    heads = torch.stack([w[:, :, 0, 1:] for w in weights], 1)  # (B, L, h, N)
    rollout = torch.stack(
        [
            attention_rollout(weights[: layer + 1], residual_weight)[:, 0, 1:]
            for layer in range(len(weights))
        ],
        1,
    )  # (B, L, N)
    maps = torch.cat([heads, heads.mean(2, keepdim=True), rollout[:, :, None]], 2)
    maps = maps / maps.amax(-1, keepdim=True)  # (B, L, h + 2, N), largest = 1
    g, p = model.patch_embedding.grid, model.patch_embedding.patch_size
    maps = maps.reshape(*maps.shape[:3], g, g)  # patches back on their grid
    return maps.repeat_interleave(p, -2).repeat_interleave(p, -1)  # (.., H, W)
