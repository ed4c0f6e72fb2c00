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
  over learned projections, run in parallel as one batched product
  (:meth:`~MultiHeadAttention.attend` on already-split heads, shared with the
  decoder's key-value cache; ``from_torch``/``to_torch`` convert from and to
  ``nn.MultiheadAttention``);
* :func:`softmax_with_mask` (chapter 6): the softmax under an arbitrary boolean
  mask -- a graph's adjacency, a local window on an image.

Input checks live in :mod:`attnbook._checks`; public entry points call them once,
inner paths (``_softmax``, ``attend``'s core) do not.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from attnbook._checks import (
    _describe,
    check_float,
    check_heads,
    check_instance,
    check_int,
    check_mask,
    check_probability,
    check_qkv,
    check_tensor,
    check_valid_lens,
    tracing,
)

__all__ = [
    "AdditiveAttention",
    "BilinearScore",
    "ConcatScore",
    "DotProductAttention",
    "MultiHeadAttention",
    "fused_attention",
    "masked_softmax",
    "softmax_with_mask",
]


def _valid_mask(
    valid_lens: torch.Tensor, shape: torch.Size | tuple[int, ...]
) -> torch.Tensor:
    """The keys that exist for scores of ``shape`` ``(B, ..., n_q, n_k)``: True =
    attend.

    Shape ``(B, 1, ..., n_q or 1, n_k)``, so it broadcasts over the dimensions
    between the batch and the queries (heads). ``valid_lens`` is checked by the
    caller.
    """
    # (B, n_q or 1)
    lens = valid_lens[:, None] if valid_lens.dim() == 1 else valid_lens
    # (B, n_q or 1, n_k)
    keep = torch.arange(shape[-1], device=valid_lens.device) < lens[..., None]
    # broadcast over heads
    return keep.reshape(shape[0], *([1] * (len(shape) - 3)), *keep.shape[1:])


def _softmax_filled(
    scores: torch.Tensor, keep: torch.Tensor | None
) -> torch.Tensor:
    """``softmax(where(keep, scores, -inf))``, with zeros on rows that have no
    finite score.

    ``keep=None``: the masked scores are already ``-inf``. Only rows without a
    finite score need the extra rule (their softmax is NaN), so only they are fixed.
    """
    # (..., n_q, n_k)
    filled = scores if keep is None else torch.where(keep, scores, float("-inf"))
    weights = filled.softmax(dim=-1)  # masked keys: exactly 0
    if weights.shape[-1] == 0:  # no keys at all: nothing to normalise
        return weights
    nan_rows = weights[
        ..., 0
    ].isnan()  # (..., n_q): a NaN row is NaN in every column
    if tracing():  # a recorded graph (export, compile) cannot branch on values
        return weights.masked_fill(nan_rows[..., None], 0.0)
    if (
        nan_rows.any()
    ):  # rare: no valid key, or every valid score -inf (a NaN score stays NaN)
        rows = nan_rows.nonzero(as_tuple=True)
        empty = (filled[rows] == float("-inf")).all(-1)
        weights[tuple(r[empty] for r in rows)] = 0.0
    return weights


class _MaskedSoftmax(torch.autograd.Function):
    """:func:`_softmax_filled` with the softmax's own backward: masked keys and empty rows have
    weight 0, so their gradient is 0 without another pass over the scores.

    ``in_place``: :func:`_softmax_over` instead (``keep`` is ``None``), the weights written
    over the scores. The backward never writes over the incoming gradient: another branch of
    the graph may hold the same tensor (``w + x`` hands both terms one gradient)."""

    @staticmethod
    def forward(
        ctx, scores: torch.Tensor, keep: torch.Tensor | None, in_place: bool
    ) -> torch.Tensor:  # type: ignore[override]
        if in_place:
            weights = _softmax_over(scores)
            ctx.mark_dirty(scores)
        else:
            weights = _softmax_filled(scores, keep)
        ctx.save_for_backward(weights)
        return weights

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (weights,) = ctx.saved_tensors
        return (
            torch._softmax_backward_data(grad, weights, -1, weights.dtype),
            None,
            None,
        )  # alpha * (g - sum(g * alpha))


def _softmax(scores: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """The masked softmax without input checks (inner paths)."""
    if scores.requires_grad and torch.is_grad_enabled() and not tracing():
        return _MaskedSoftmax.apply(scores, keep, False)
    return _softmax_filled(scores, keep)


def _softmax_over(scores: torch.Tensor) -> torch.Tensor:
    """:func:`_softmax_filled` with ``keep=None``, written over ``scores`` (a contiguous
    tensor, not a view), which it returns."""
    if scores.shape[-1] == 0:  # no keys at all: nothing to normalise
        return scores
    # a row with no finite score starts with -inf: look for such rows before the
    # scores are overwritten (a row whose softmax is NaN for another reason stays NaN)
    starts_inf = scores[..., 0] == float("-inf")
    empty = None
    if starts_inf.any():  # rare: a query with no valid key
        rows = starts_inf.nonzero(as_tuple=True)
        empty = tuple(r[(scores[rows] == float("-inf")).all(-1)] for r in rows)
    torch.softmax(scores, -1, out=scores)  # row by row: safe in place
    if empty is not None:
        scores[empty] = 0.0
    return scores


def _softmax_in_place(scores: torch.Tensor) -> torch.Tensor:
    """The softmax of scores that nothing else uses (``attend``'s ``Q K^T``, masked
    keys already ``-inf``), written over them: the same weights as ``_softmax(scores,
    None)`` without a second tensor of their size. ``scores`` must not be a view."""
    if tracing():  # a recorded graph keeps the out-of-place softmax
        return _softmax(scores, None)
    if scores.requires_grad and torch.is_grad_enabled():
        return _MaskedSoftmax.apply(scores, None, True)
    return _softmax_over(scores)


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
        query that may attend to no key at all (or whose allowed scores are all
        ``-inf``) gets a row of zeros, not NaN.

    Raises:
        TypeError: a non-boolean mask or non-float scores.
        ValueError: a mask that does not broadcast to ``scores``.
    """
    check_mask(scores, mask)
    return _softmax(scores, mask.to(scores.device))


def masked_softmax(
    scores: torch.Tensor, valid_lens: torch.Tensor | None = None
) -> torch.Tensor:
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
        TypeError: non-float ``scores``, ``valid_lens`` not an integer tensor.
        ValueError: ``scores`` of rank < 2, or ``valid_lens`` of the wrong
            shape or outside ``[0, n_keys]``.
    """
    check_tensor("scores", scores, "(..., n_queries, n_keys)")
    if valid_lens is None:
        return scores.softmax(dim=-1)
    check_valid_lens(valid_lens, scores.shape)
    return _softmax(scores, _valid_mask(valid_lens, scores.shape).to(scores.device))


def _in(linear: nn.Module) -> int | None:
    """The input width of an ``nn.Linear``; ``None`` for an ``nn.LazyLinear`` that has not seen data."""
    return linear.in_features or None


class DotProductAttention(nn.Module):
    """Scaled dot-product attention (Vaswani et al., 2017).

    ``scores = Q K^T * scale`` with ``scale = 1/sqrt(d)`` by default (``d`` is the
    query/key size); ``scale=1.0`` gives the plain dot product (Luong et al., 2015).

    Shapes: queries ``(B, n_q, d)``, keys ``(B, n_k, d)``, values ``(B, n_k, d_v)``
    -> output ``(B, n_q, d_v)``; ``.attention_weights`` is ``(B, n_q, n_k)``.
    """

    def __init__(self, dropout: float = 0.0, scale: float | None = None) -> None:
        super().__init__()
        self.dropout = nn.Dropout(check_probability("dropout", dropout))
        self.scale = None if scale is None else check_float("scale", scale)
        self.attention_weights: torch.Tensor | None = None

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid_lens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_qkv(queries, keys, values, same_size=True)
        d = queries.shape[-1]
        scale = 1.0 / math.sqrt(d) if self.scale is None else self.scale
        # (B, n_q, d) @ (B, d, n_k) -> (B, n_q, n_k)
        scores = torch.bmm(queries, keys.transpose(1, 2)) * scale
        self.attention_weights = masked_softmax(scores, valid_lens)
        # (B, n_q, n_k) @ (B, n_k, d_v)
        return torch.bmm(self.dropout(self.attention_weights), values)


def _check_projected_keys(projected: object, keys: torch.Tensor, d_a: int) -> None:
    expected = (*keys.shape[:2], d_a)
    if (
        not isinstance(projected, torch.Tensor)
        or tuple(projected.shape) != expected
        or projected.dtype != keys.dtype
    ):
        raise ValueError(
            f"projected_keys must be project_keys(keys), shape {expected} and dtype "
            f"{keys.dtype}, got {_describe(projected)}"
        )


class AdditiveAttention(nn.Module):
    """Additive attention (Bahdanau et al., 2015): ``a(q, k) = w_v^T tanh(W_q q + W_k k)``.

    Queries and keys may have different sizes; ``num_hiddens`` is the size of
    the hidden layer. ``W_q`` and ``W_k`` are ``nn.LazyLinear`` unless
    ``query_size``/``key_size`` are given.

    Shapes: queries ``(B, n_q, d_q)``, keys ``(B, n_k, d_k)``, values ``(B, n_k, d_v)``
    -> output ``(B, n_q, d_v)``; ``.attention_weights`` is ``(B, n_q, n_k)``.
    """

    def __init__(
        self,
        num_hiddens: int,
        dropout: float = 0.0,
        query_size: int | None = None,
        key_size: int | None = None,
    ) -> None:
        super().__init__()
        check_int("num_hiddens", num_hiddens)
        self.W_q = (
            nn.Linear(check_int("query_size", query_size), num_hiddens, bias=False)
            if query_size is not None
            else nn.LazyLinear(num_hiddens, bias=False)
        )
        self.W_k = (
            nn.Linear(check_int("key_size", key_size), num_hiddens, bias=False)
            if key_size is not None
            else nn.LazyLinear(num_hiddens, bias=False)
        )
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(check_probability("dropout", dropout))
        self.attention_weights: torch.Tensor | None = None

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """``W_k k`` for every key, ``(B, n_k, d_k) -> (B, n_k, d_a)``: it does not
        depend on the query, so a decoder can compute it once per input and pass it
        to every step as ``projected_keys`` (Bahdanau et al., 2015, appendix A)."""
        check_qkv(
            keys,
            keys,
            sizes=(_in(self.W_k), _in(self.W_k)),
            dtype=self.w_v.weight.dtype,
        )
        return self.W_k(keys)

    def score(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        projected_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, n_q, d_q), (B, n_k, d_k) -> (B, n_q, n_k)``; ``projected_keys``:
        :meth:`project_keys` of these ``keys``, if already computed."""
        check_qkv(
            queries,
            keys,
            sizes=(_in(self.W_q), _in(self.W_k)),
            dtype=self.w_v.weight.dtype,
        )
        if projected_keys is None:
            projected_keys = self.W_k(keys)  # (B, n_k, d_a)
        else:
            _check_projected_keys(projected_keys, keys, self.W_k.out_features)
        q, k = self.W_q(queries), projected_keys  # (B, n_q, d_a), (B, n_k, d_a)
        # (B, n_q, 1, d_a) + (B, 1, n_k, d_a) -> (B, n_q, n_k, d_a)
        features = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1))
        return self.w_v(features).squeeze(-1)  # (B, n_q, n_k, 1) -> (B, n_q, n_k)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid_lens: torch.Tensor | None = None,
        projected_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        scores = self.score(
            queries, keys, projected_keys
        )  # checks queries and keys
        check_qkv(queries, keys, values, dtype=self.w_v.weight.dtype)  # and values
        self.attention_weights = masked_softmax(scores, valid_lens)
        # (B, n_q, n_k) @ (B, n_k, d_v)
        return torch.bmm(self.dropout(self.attention_weights), values)


class BilinearScore(nn.Module):
    """The "general" score of Luong et al. (2015): ``a(q, k) = q^T W k``.

    ``(B, n_q, d_q), (B, n_k, d_k) -> (B, n_q, n_k)``. ``W`` is initialised like
    ``nn.Linear``'s weight; set it to zero for uniform attention.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        check_int("query_size", query_size)
        check_int("key_size", key_size)
        self.W = nn.Parameter(torch.empty(query_size, key_size))
        nn.init.kaiming_uniform_(self.W, a=math.sqrt(5))

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        check_qkv(queries, keys, sizes=tuple(self.W.shape), dtype=self.W.dtype)
        # (B, n_q, d_q) @ (d_q, d_k) @ (B, d_k, n_k)
        return queries @ self.W @ keys.transpose(1, 2)


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
        self.query_size = check_int("query_size", query_size)
        self.key_size = check_int("key_size", key_size)
        self.linear = nn.Linear(query_size + key_size, 1)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        check_qkv(
            queries,
            keys,
            sizes=(self.query_size, self.key_size),
            dtype=self.linear.weight.dtype,
        )
        n_q, n_k = queries.shape[1], keys.shape[1]
        pairs = torch.cat(
            [
                queries.unsqueeze(2).expand(-1, -1, n_k, -1),
                keys.unsqueeze(1).expand(-1, n_q, -1, -1),
            ],
            dim=-1,
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

    ``query_size``, ``key_size`` and ``value_size`` default to ``num_hiddens``
    (as ``nn.MultiheadAttention``'s ``kdim``/``vdim`` do); ``"lazy"`` makes that
    projection an ``nn.LazyLinear`` that takes its input width from the first call.

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
        query_size: int | Literal["lazy"] | None = None,
        key_size: int | Literal["lazy"] | None = None,
        value_size: int | Literal["lazy"] | None = None,
        keep_weights: bool = True,
    ) -> None:
        super().__init__()
        check_int("num_hiddens", num_hiddens)
        check_int("num_heads", num_heads)
        if num_hiddens % num_heads:
            raise ValueError(
                f"num_hiddens must be divisible by num_heads to split it into equal heads, "
                f"got num_hiddens={num_hiddens}, num_heads={num_heads}"
            )
        self.num_heads = num_heads
        self.head_size = num_hiddens // num_heads

        def linear(name: str, size: int | str | None) -> nn.Module:
            if size == "lazy":
                return nn.LazyLinear(num_hiddens, bias=bias)
            return nn.Linear(
                num_hiddens if size is None else check_int(name, size),
                num_hiddens,
                bias=bias,
            )

        self.W_q, self.W_k = (
            linear("query_size", query_size),
            linear("key_size", key_size),
        )
        self.W_v = linear("value_size", value_size)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.dropout = check_probability("dropout", dropout)
        self.keep_weights = keep_weights
        self.attention_weights: torch.Tensor | None = None

    @classmethod
    def from_torch(
        cls, ref: nn.MultiheadAttention, keep_weights: bool = True
    ) -> MultiHeadAttention:
        """The layer ``ref`` computes, as a book layer with its weights (called with ``(B, n, d)`` inputs).

        ``nn.MultiheadAttention`` stacks ``W_q, W_k, W_v`` in ``in_proj_weight`` (or
        keeps ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ) and calls ``W_o``
        ``out_proj``. Draws no random numbers.
        """
        if (
            not isinstance(ref, nn.MultiheadAttention)
            or ref.bias_k is not None
            or ref.add_zero_attn
        ):
            raise TypeError(
                f"expected an nn.MultiheadAttention without bias_k/add_zero_attn, got {ref!r}"
            )
        bias = ref.in_proj_bias is not None
        sizes = {
            "query_size": ref.embed_dim,
            "key_size": ref.kdim,
            "value_size": ref.vdim,
        }
        with torch.device(
            "meta"
        ):  # no initialisation: every parameter is copied below
            mha = cls(
                ref.embed_dim,
                ref.num_heads,
                ref.dropout,
                bias,
                **sizes,
                keep_weights=keep_weights,
            )
        mha = mha.to_empty(device=ref.out_proj.weight.device).to(
            ref.out_proj.weight.dtype
        )
        mha.load_state_dict(_torch_state(ref, to_book=True))
        return mha.train(ref.training)

    def to_torch(self) -> nn.MultiheadAttention:
        """``nn.MultiheadAttention(batch_first=True)`` with this layer's weights; draws no random numbers."""
        d, (q, k, v) = self.W_o.out_features, (self.W_q, self.W_k, self.W_v)
        if any(_in(lin) is None for lin in (q, k, v)):
            raise ValueError(
                "the layer's lazy projections have no size yet: call it once on data before to_torch()"
            )
        if q.in_features != d:
            raise ValueError(
                f"nn.MultiheadAttention needs query_size = num_hiddens = {d}, got {q.in_features}"
            )
        with torch.device("meta"):
            ref = nn.MultiheadAttention(
                d, self.num_heads, self.dropout, bias=self.W_o.bias is not None,
                kdim=k.in_features, vdim=v.in_features, batch_first=True,
            )  # fmt: skip
        ref = ref.to_empty(device=self.W_o.weight.device).to(self.W_o.weight.dtype)
        ref.load_state_dict(_torch_state(self, to_book=False))
        return ref.train(self.training)

    def split_heads(self, X: torch.Tensor) -> torch.Tensor:
        """``(B, n, h * d_h) -> (B, h, n, d_h)``: one slice of the features per
        head."""
        B, n, _ = X.shape
        # (B, n, h, d_h) -> (B, h, n, d_h)
        return X.reshape(B, n, self.num_heads, self.head_size).transpose(1, 2)

    def merge_heads(self, X: torch.Tensor) -> torch.Tensor:
        """``(B, h, n, d_h) -> (B, n, h * d_h)``: the heads' outputs side by side
        (the concatenation)."""
        B, h, n, d_h = X.shape
        # (B, n, h, d_h) -> (B, n, h * d_h)
        return X.transpose(1, 2).reshape(B, n, h * d_h)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid_lens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        sizes = (_in(self.W_q), _in(self.W_k), _in(self.W_v))
        check_qkv(queries, keys, values, sizes, dtype=self.W_o.weight.dtype)
        q = self.split_heads(self.W_q(queries))  # (B, h, n_q, d_h)
        k = self.split_heads(self.W_k(keys))  # (B, h, n_k, d_h)
        v = self.split_heads(self.W_v(values))  # (B, h, n_k, d_h)
        # (B, n_q, h * d_h) -> (B, n_q, d)
        return self.W_o(self.merge_heads(self.attend(q, k, v, valid_lens)))

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        valid_lens: torch.Tensor | None = None,
        keep_weights: bool | None = None,
    ) -> torch.Tensor:
        """Scaled dot-product attention of every head at once, on projected, split
        heads.

        ``q (B, h, n_q, d_h)``, ``k`` and ``v`` ``(B, h, n_k, d_h)`` ->
        ``(B, h, n_q, d_h)``;
        :meth:`forward` and a key-value cache (``DecoderBlock.step``) both end here.
        ``keep_weights`` overrides the layer's setting for this call (``None``: keep
        it).
        """
        check_heads(q, k, v, self.num_heads, self.head_size)
        p = self.dropout if self.training else 0.0
        keep = None  # (B, 1, n_q or 1, n_k), True = attend
        if valid_lens is not None:
            check_valid_lens(valid_lens, (*q.shape[:3], k.shape[2]))
            keep = _valid_mask(valid_lens, (*q.shape[:3], k.shape[2])).to(q.device)
        if not (self.keep_weights if keep_weights is None else keep_weights):
            self.attention_weights = None
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=keep, dropout_p=p
            )  # (B, h, n_q, d_h)
            return (
                out
                if keep is None
                else out.masked_fill(~keep.any(-1, keepdim=True), 0.0)
            )  # no key: zeros
        (B, h, n_q, d_h), n_k = q.shape, k.shape[2]
        # added to Q K^T inside the product (no pass of its own): -inf on padded keys
        bias = q.new_zeros(())
        if keep is not None:
            m = keep.shape[2]  # n_q or 1
            bias = (
                q.new_zeros(keep.shape)
                .masked_fill_(~keep, float("-inf"))
                .expand(B, h, m, n_k)
                .reshape(B * h, m, n_k)
            )
        # the B * h heads as one batch
        q2 = q.reshape(B * h, n_q, d_h)
        kT = k.transpose(-2, -1).reshape(B * h, d_h, n_k)
        # bias + Q K^T / sqrt(d_h), scaled inside the product (no pass of its own)
        scores = torch.baddbmm(
            bias, q2, kT, beta=float(keep is not None), alpha=1 / math.sqrt(d_h)
        )  # (B * h, n_q, n_k)
        # masked keys are -inf already; the weights overwrite the scores
        weights = _softmax_in_place(scores)
        self.attention_weights = weights.view(B, h, n_q, n_k)
        # (B, h, n_q, n_k) @ (B, h, n_k, d_h)
        return F.dropout(self.attention_weights, p) @ v


def _torch_state(layer: nn.Module, to_book: bool) -> dict[str, torch.Tensor]:
    """The state dict of the other layer: ``nn.MultiheadAttention`` -> book (``to_book``) or book -> torch."""
    if to_book:
        ref = layer
        if ref._qkv_same_embed_dim:
            weights = ref.in_proj_weight.chunk(3)
        else:
            weights = (ref.q_proj_weight, ref.k_proj_weight, ref.v_proj_weight)
        state = {f"W_{n}.weight": w for n, w in zip("qkv", weights)} | {
            "W_o.weight": ref.out_proj.weight
        }
        if ref.in_proj_bias is not None:
            state |= {
                f"W_{n}.bias": b for n, b in zip("qkv", ref.in_proj_bias.chunk(3))
            } | {"W_o.bias": ref.out_proj.bias}
        return state
    book = layer
    weights = [book.W_q.weight, book.W_k.weight, book.W_v.weight]
    if len({w.shape for w in weights}) == 1:  # torch stacks them: (3d, d)
        state = {
            "in_proj_weight": torch.cat(weights),
            "out_proj.weight": book.W_o.weight,
        }
    else:
        state = {f"{n}_proj_weight": w for n, w in zip("qkv", weights)} | {
            "out_proj.weight": book.W_o.weight
        }
    if book.W_o.bias is not None:
        state |= {
            "in_proj_bias": torch.cat(
                [book.W_q.bias, book.W_k.bias, book.W_v.bias]
            ),
            "out_proj.bias": book.W_o.bias,
        }
    return state


@contextlib.contextmanager
def _weights_kept(model: nn.Module, keep: bool) -> Iterator[nn.Module]:
    """Every :class:`MultiHeadAttention` inside ``model`` with ``keep_weights=keep`` for the ``with``
    block; on leaving it each layer gets its previous setting back."""
    check_instance("model", model)
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    before = [m.keep_weights for m in layers]
    for m in layers:
        m.keep_weights = keep
    try:
        yield model
    finally:
        for m, kept in zip(layers, before):
            m.keep_weights = kept


def fused_attention(
    model: nn.Module,
) -> contextlib.AbstractContextManager[nn.Module]:
    """Run every :class:`MultiHeadAttention` inside ``model`` on the fused kernel for the ``with`` block.

    Training does not need the weights, so ``keep_weights=False`` saves time and the
    memory of the ``(B, h, n_q, n_k)`` matrices; on leaving the block each layer gets
    its previous setting back, so the weights can be looked at again::

        with fused_attention(model):
            train(model, ...)
    """
    return _weights_kept(model, False)
