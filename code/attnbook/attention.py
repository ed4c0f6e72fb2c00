"""Attention scoring functions and attention pooling (chapter 3).

Attention pooling turns *scores* ``a(q, k_i)`` into weights with a softmax over
the keys and averages the values with them. This module holds

* :func:`masked_softmax` -- the softmax that ignores padded keys;
* the scoring rules, each mapping ``queries (B, n_q, d_q)`` and
  ``keys (B, n_k, d_k)`` to ``scores (B, n_q, n_k)``: scaled dot product
  (Vaswani et al. 2017), additive (Bahdanau et al. 2015), bilinear or
  "general" and "concat" (Luong et al. 2015);
* :class:`DotProductAttention` and :class:`AdditiveAttention`, which pool the
  values with those weights and keep them in ``.attention_weights``;
* :class:`MultiHeadAttention` (chapter 5): ``h`` scaled dot-product attentions
  over learned projections, run in parallel as one batched product;
* :func:`softmax_with_mask` (chapter 6): the softmax under an arbitrary boolean
  mask -- a graph's adjacency, a local window on an image.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "masked_softmax",
    "DotProductAttention",
    "AdditiveAttention",
    "BilinearScore",
    "ConcatScore",
    "MultiHeadAttention",
    "fused_attention",
    "softmax_with_mask",
]


def _valid_mask(valid_lens: torch.Tensor, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Validate ``valid_lens`` against scores of ``shape`` ``(B, ..., n_q, n_k)``; return the boolean mask.

    The mask is True where a key exists, of shape ``(B, 1, ..., n_q or 1, n_k)``:
    it broadcasts over the dimensions between the batch and the queries (heads).
    """
    if not isinstance(valid_lens, torch.Tensor):
        raise TypeError(f"valid_lens must be a torch.Tensor or None, got {type(valid_lens).__name__}")
    shape = tuple(shape)
    if len(shape) < 3:
        raise ValueError(
            f"valid_lens needs scores with a batch dimension, (batch, ..., n_queries, n_keys); got {shape}"
        )
    batch, n_q, n_k = shape[0], shape[-2], shape[-1]
    if valid_lens.dim() == 1:
        expected = (batch,)
    elif valid_lens.dim() == 2:
        expected = (batch, n_q)
    else:
        expected = None
    if expected is None or tuple(valid_lens.shape) != expected:
        raise ValueError(
            f"valid_lens must have shape ({batch},) or ({batch}, {n_q}) for scores of shape "
            f"{shape}, got {tuple(valid_lens.shape)}"
        )
    if valid_lens.is_floating_point():
        if not torch.equal(valid_lens, valid_lens.round()):
            raise ValueError("valid_lens must hold whole numbers, got fractional values")
        valid_lens = valid_lens.long()
    elif valid_lens.dtype == torch.bool or valid_lens.is_complex():
        raise TypeError(f"valid_lens must be an integer tensor, got dtype {valid_lens.dtype}")
    if valid_lens.numel() and (valid_lens.min() < 0 or valid_lens.max() > n_k):
        raise ValueError(
            f"valid_lens must lie in [0, {n_k}] (the number of keys), "
            f"got values from {int(valid_lens.min())} to {int(valid_lens.max())}"
        )
    lens = valid_lens.to(device)
    if lens.dim() == 1:
        lens = lens[:, None]  # (B, 1): the same length for every query
    keep = torch.arange(n_k, device=device) < lens[..., None]  # (B, n_q or 1, n_k)
    return keep.reshape(batch, *([1] * (len(shape) - 3)), *keep.shape[1:])  # broadcast over heads


def softmax_with_mask(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to the keys where ``mask`` is True.

    :func:`masked_softmax` describes the keys that exist by lengths (a prefix);
    this takes any pattern: the adjacency matrix of a graph (each node attends
    along its edges, as in Velickovic et al., 2018) or a local window around
    each pixel of an image. The convention is that of
    ``F.scaled_dot_product_attention``: True = may attend.

    Args:
        scores: ``(..., n_queries, n_keys)`` floating point.
        mask: boolean, broadcastable to ``scores``.

    Returns:
        Weights of the shape of ``scores``: exactly 0 where the mask is False; a
        query that may attend to no key at all gets a row of zeros (not NaN).

    Raises:
        TypeError: a non-boolean mask or non-float scores.
        ValueError: a mask that does not broadcast to ``scores``.
    """
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise TypeError(f"scores must be a floating-point tensor, got {getattr(scores, 'dtype', type(scores).__name__)}")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor (True = may attend), got {getattr(mask, 'dtype', type(mask).__name__)}")
    try:
        keep = mask.to(scores.device).expand_as(scores)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to scores of shape {tuple(scores.shape)}"
        ) from None
    empty = ~keep.any(dim=-1, keepdim=True)  # queries that may attend to nothing
    filled = scores.masked_fill(~keep, float("-inf")).masked_fill(empty, 0.0)  # finite wherever softmax looks
    return filled.softmax(dim=-1).masked_fill(~keep, 0.0)


def masked_softmax(scores: torch.Tensor, valid_lens: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis that gives padded keys exactly zero weight.

    Args:
        scores: ``(batch, ..., n_queries, n_keys)`` (any rank >= 2 without ``valid_lens``).
        valid_lens: ``None`` (every key is valid), ``(batch,)`` (the first
            ``valid_lens[b]`` keys are valid for every query of example ``b``), or
            ``(batch, n_queries)`` (one length per query). Dimensions between the
            batch and the queries (e.g. heads) share the same lengths.

    Returns:
        Weights of the same shape as ``scores``. Masked keys get exactly 0; a
        query with no valid key (length 0) gets a row of zeros -- not NaN (what
        ``-inf`` alone gives) and not a uniform row (what a large negative fill
        such as ``-1e6`` gives).

    Raises:
        ValueError: ``scores`` of rank < 2, or ``valid_lens`` of the wrong
            shape or outside ``[0, n_keys]``.
    """
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise TypeError(f"scores must be a floating-point tensor, got {getattr(scores, 'dtype', type(scores).__name__)}")
    if scores.dim() < 2:
        raise ValueError(f"scores must have shape (..., n_queries, n_keys), got {tuple(scores.shape)}")
    if valid_lens is None:
        return scores.softmax(dim=-1)
    return softmax_with_mask(scores, _valid_mask(valid_lens, scores.shape, scores.device))


def _check_qkv(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None = None) -> None:
    """Shapes ``(B, n_q, d_q)``, ``(B, n_k, d_k)``, ``(B, n_k, d_v)`` with matching B and n_k."""
    tensors = {"queries": queries, "keys": keys} | ({"values": values} if values is not None else {})
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor) or t.dim() != 3:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must have shape (batch, n, features), got {got}")
    batches = {name: t.shape[0] for name, t in tensors.items()}
    if len(set(batches.values())) != 1:
        raise ValueError(f"queries, keys and values must share the batch size, got {batches}")
    if values is not None and values.shape[1] != keys.shape[1]:
        raise ValueError(
            f"keys and values must come in pairs: got {keys.shape[1]} keys and {values.shape[1]} values"
        )


class DotProductAttention(nn.Module):
    """Scaled dot-product attention (Vaswani et al., 2017).

    ``scores = Q K^T * scale`` with ``scale = 1/sqrt(d)`` by default (``d`` is the
    query/key size); ``scale=1.0`` gives the plain dot product (Luong et al., 2015).

    Shapes: queries ``(B, n_q, d)``, keys ``(B, n_k, d)``, values ``(B, n_k, d_v)``
    -> output ``(B, n_q, d_v)``; ``.attention_weights`` is ``(B, n_q, n_k)``.
    """

    def __init__(self, dropout: float = 0.0, scale: float | None = None) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.scale = scale
        self.attention_weights: torch.Tensor | None = None

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid_lens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_qkv(queries, keys, values)
        d = queries.shape[-1]
        if keys.shape[-1] != d:
            raise ValueError(f"queries and keys need the same size for a dot product, got {d} and {keys.shape[-1]}")
        scale = 1.0 / math.sqrt(d) if self.scale is None else self.scale
        scores = torch.bmm(queries, keys.transpose(1, 2)) * scale  # (B, n_q, d) @ (B, d, n_k) -> (B, n_q, n_k)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)  # (B, n_q, n_k) @ (B, n_k, d_v)


class AdditiveAttention(nn.Module):
    """Additive attention (Bahdanau et al., 2015): ``a(q, k) = w_v^T tanh(W_q q + W_k k)``.

    Queries and keys may have different sizes; ``num_hiddens`` is the size of
    the hidden layer. ``W_q`` and ``W_k`` are ``nn.LazyLinear`` unless
    ``query_size``/``key_size`` are given.

    Shapes: queries ``(B, n_q, d_q)``, keys ``(B, n_k, d_k)``, values ``(B, n_k, d_v)``
    -> output ``(B, n_q, d_v)``; ``.attention_weights`` is ``(B, n_q, n_k)``.
    """

    def __init__(
        self, num_hiddens: int, dropout: float = 0.0, query_size: int | None = None, key_size: int | None = None
    ) -> None:
        super().__init__()
        if not isinstance(num_hiddens, int) or num_hiddens < 1:
            raise ValueError(f"num_hiddens must be a positive int, got {num_hiddens!r}")
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False) if query_size else nn.LazyLinear(num_hiddens, bias=False)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False) if key_size else nn.LazyLinear(num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights: torch.Tensor | None = None

    def score(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``(B, n_q, d_q), (B, n_k, d_k) -> (B, n_q, n_k)``."""
        _check_qkv(queries, keys)
        q, k = self.W_q(queries), self.W_k(keys)  # (B, n_q, h), (B, n_k, h)
        features = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1))  # (B, n_q, 1, h) + (B, 1, n_k, h) -> (B, n_q, n_k, h)
        return self.w_v(features).squeeze(-1)  # (B, n_q, n_k, 1) -> (B, n_q, n_k)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid_lens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_qkv(queries, keys, values)
        self.attention_weights = masked_softmax(self.score(queries, keys), valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)  # (B, n_q, n_k) @ (B, n_k, d_v)


class BilinearScore(nn.Module):
    """The "general" score of Luong et al. (2015): ``a(q, k) = q^T W k``.

    ``(B, n_q, d_q), (B, n_k, d_k) -> (B, n_q, n_k)``. ``W`` is initialised like
    ``nn.Linear``'s weight; set it to zero for uniform attention.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.empty(query_size, key_size))
        nn.init.kaiming_uniform_(self.W, a=math.sqrt(5))

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        _check_qkv(queries, keys)
        if queries.shape[-1] != self.W.shape[0] or keys.shape[-1] != self.W.shape[1]:
            raise ValueError(
                f"expected query size {self.W.shape[0]} and key size {self.W.shape[1]}, "
                f"got {queries.shape[-1]} and {keys.shape[-1]}"
            )
        return queries @ self.W @ keys.transpose(1, 2)  # (B, n_q, d_q) @ (d_q, d_k) @ (B, d_k, n_k)


class ConcatScore(nn.Module):
    """Score by a linear layer on the concatenation ``[q; k]``: ``a(q, k) = w^T [q; k] + b``.

    The simplest "concatenate, then a linear layer" rule. Because it is linear,
    ``w^T [q; k] = w_q^T q + w_k^T k``: the query's share is the same for every
    key and cancels in the softmax, so every query ends up with *the same*
    weights. Adding a ``tanh`` layer in between fixes this -- that is additive
    attention.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.linear = nn.Linear(query_size + key_size, 1)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        _check_qkv(queries, keys)
        if queries.shape[-1] != self.query_size or keys.shape[-1] != self.key_size:
            raise ValueError(
                f"expected query size {self.query_size} and key size {self.key_size}, "
                f"got {queries.shape[-1]} and {keys.shape[-1]}"
            )
        n_q, n_k = queries.shape[1], keys.shape[1]
        pairs = torch.cat(
            [queries.unsqueeze(2).expand(-1, -1, n_k, -1), keys.unsqueeze(1).expand(-1, n_q, -1, -1)], dim=-1
        )  # (B, n_q, n_k, d_q + d_k): every query next to every key
        return self.linear(pairs).squeeze(-1)  # (B, n_q, n_k)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al., 2017, section 3.2.2).

    ``head_i = softmax(Q W_q^(i) (K W_k^(i))^T / sqrt(d_h)) V W_v^(i)`` for
    ``i = 1..h`` with ``d_h = num_hiddens / h``, and the output is
    ``[head_1; ...; head_h] W_o``. The ``h`` per-head projections are stored
    side by side in one ``nn.Linear`` each (``W_q W_k W_v``: ``num_hiddens``
    outputs = ``h`` blocks of ``d_h``), so all heads run as one batched product.

    Shapes: queries ``(B, n_q, d_q)``, keys ``(B, n_k, d_k)``, values
    ``(B, n_k, d_v)`` -> ``(B, n_q, num_hiddens)``. ``valid_lens`` as in
    :func:`masked_softmax` (``(B,)`` or ``(B, n_q)``), shared by all heads.
    ``.attention_weights`` is ``(B, h, n_q, n_k)`` after each call.

    With ``keep_weights=False`` the module calls the fused
    ``F.scaled_dot_product_attention`` instead and stores no weights: the same
    result (to rounding) without materialising the ``(B, h, n_q, n_k)`` matrix
    for the backward pass.
    """

    def __init__(
        self,
        num_hiddens: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = False,
        *,
        query_size: int | None = None,
        key_size: int | None = None,
        value_size: int | None = None,
        keep_weights: bool = True,
    ) -> None:
        super().__init__()
        for name, value in {"num_hiddens": num_hiddens, "num_heads": num_heads}.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if num_hiddens % num_heads:
            raise ValueError(
                f"num_hiddens must be divisible by num_heads to split it into equal heads, "
                f"got num_hiddens={num_hiddens}, num_heads={num_heads}"
            )
        self.num_heads = num_heads
        self.head_size = num_hiddens // num_heads

        def linear(size: int | None) -> nn.Module:
            return nn.Linear(size, num_hiddens, bias=bias) if size else nn.LazyLinear(num_hiddens, bias=bias)

        self.W_q, self.W_k, self.W_v = linear(query_size), linear(key_size), linear(value_size)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.dropout = dropout
        self.keep_weights = keep_weights
        self.attention_weights: torch.Tensor | None = None

    def split_heads(self, X: torch.Tensor) -> torch.Tensor:
        """``(B, n, h * d_h) -> (B, h, n, d_h)``: one slice of the features per head."""
        B, n, _ = X.shape
        return X.reshape(B, n, self.num_heads, self.head_size).transpose(1, 2)  # (B, n, h, d_h) -> (B, h, n, d_h)

    def merge_heads(self, X: torch.Tensor) -> torch.Tensor:
        """``(B, h, n, d_h) -> (B, n, h * d_h)``: the heads' outputs side by side (the concatenation)."""
        B, h, n, d_h = X.shape
        return X.transpose(1, 2).reshape(B, n, h * d_h)  # (B, n, h, d_h) -> (B, n, h * d_h)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid_lens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_qkv(queries, keys, values)
        for name, X, W in (("queries", queries, self.W_q), ("keys", keys, self.W_k), ("values", values, self.W_v)):
            if not isinstance(W, nn.LazyLinear) and X.shape[-1] != W.in_features:
                raise ValueError(f"{name} must have {W.in_features} features, got {X.shape[-1]}")
        q = self.split_heads(self.W_q(queries))  # (B, h, n_q, d_h)
        k = self.split_heads(self.W_k(keys))  # (B, h, n_k, d_h)
        v = self.split_heads(self.W_v(values))  # (B, h, n_k, d_h)
        p = self.dropout if self.training else 0.0
        if self.keep_weights:
            q = q / math.sqrt(self.head_size)  # scale the (B, h, n_q, d_h) queries, not the larger scores
            scores = q @ k.transpose(-2, -1)  # (B, h, n_q, d_h) @ (B, h, d_h, n_k) -> (B, h, n_q, n_k)
            self.attention_weights = masked_softmax(scores, valid_lens)  # lengths broadcast over heads
            out = F.dropout(self.attention_weights, p) @ v  # (B, h, n_q, d_h)
        else:
            self.attention_weights = None
            mask = None
            if valid_lens is not None:  # (B, 1, n_q or 1, n_k), True = attend
                mask = _valid_mask(valid_lens, (*q.shape[:3], k.shape[2]), q.device)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, h, n_q, d_h)
            if mask is not None:  # a query with no valid key outputs zeros, as masked_softmax gives
                out = out.masked_fill(~mask.any(-1, keepdim=True), 0.0)
        return self.W_o(self.merge_heads(out))  # (B, n_q, h * d_h) -> (B, n_q, num_hiddens)


@contextlib.contextmanager
def fused_attention(model: nn.Module) -> Iterator[nn.Module]:
    """Run every :class:`MultiHeadAttention` inside ``model`` on the fused kernel for the ``with`` block.

    Training does not need the weights, so ``keep_weights=False`` saves time and the
    memory of the ``(B, h, n_q, n_k)`` matrices; on leaving the block each layer gets
    its previous setting back, so the weights can be looked at again::

        with fused_attention(model):
            train(model, ...)
    """
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    before = [m.keep_weights for m in layers]
    for m in layers:
        m.keep_weights = False
    try:
        yield model
    finally:
        for m, keep in zip(layers, before):
            m.keep_weights = keep
