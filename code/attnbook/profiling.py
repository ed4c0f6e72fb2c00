"""Profiling helpers: the book's one timing routine, :func:`median_seconds`,
:func:`saved_for_backward_bytes` (what autograd keeps for the backward pass), and
:func:`mha_speed`, the multi-head attention comparison that chapter 5 prints and
``code/benchmarks/run.py`` records (book vs ``nn.MultiheadAttention`` vs
``F.scaled_dot_product_attention``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["median_seconds", "mha_speed", "saved_for_backward_bytes"]


def median_seconds(fn: Callable[[], object], repeats: int = 7, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not isinstance(repeats, int) or repeats < 1 or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats!r}, warmup={warmup!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def saved_for_backward_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``fn()`` (parameters excluded).

    Counted with ``torch.autograd.graph.saved_tensors_hooks``; tensors sharing storage count once.
    """
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, nn.Parameter):
            s = t.untyped_storage()
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def _copy_into_torch(book: nn.Module, ref: nn.MultiheadAttention) -> None:
    """Give ``ref`` the weights of the book's ``MultiHeadAttention`` (torch stacks W_q, W_k, W_v)."""
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([book.W_q.weight, book.W_k.weight, book.W_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([book.W_q.bias, book.W_k.bias, book.W_v.bias]))
        ref.out_proj.weight.copy_(book.W_o.weight)
        ref.out_proj.bias.copy_(book.W_o.bias)


def mha_speed(
    batch: int = 32, length: int = 128, width: int = 256, heads: int = 8, repeats: int = 7, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Time self-attention on ``X (batch, length, width)`` in three implementations, same weights.

    Rows (keys of the result):

    * ``"book, weights"`` -- ``MultiHeadAttention(keep_weights=True)``: explicit
      ``softmax(QK^T/sqrt(d_h))V`` that keeps the ``(B, h, T, T)`` weights;
    * ``"torch, weights"`` -- ``nn.MultiheadAttention(need_weights=True, average_attn_weights=False)``;
    * ``"book, fused"`` -- ``MultiHeadAttention(keep_weights=False)`` (``F.scaled_dot_product_attention``);
    * ``"torch, fused"`` -- ``nn.MultiheadAttention(need_weights=False)``;
    * ``"SDPA core"`` -- ``F.scaled_dot_product_attention`` alone on projected ``(B, h, T, d/h)``
      tensors: no projections, a lower bound for the fused rows.

    Each row holds ``fwd_ms`` (forward under ``torch.no_grad``, eval mode),
    ``fwd_bwd_ms`` (forward with autograd + backward of the sum) -- medians of
    ``repeats`` calls, the rows interleaved -- and ``saved_mb``, the MB autograd keeps for the backward
    pass. In eval mode under ``no_grad``, ``nn.MultiheadAttention`` takes its native "fast path"
    (one fused C++ op); with autograd on it runs ``F.multi_head_attention_forward``.
    Timings depend on the machine and its load: report them, never assert them.
    """
    from attnbook.attention import MultiHeadAttention

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, length, width, generator=g)
    torch.manual_seed(seed)
    book = MultiHeadAttention(width, heads, bias=True, query_size=width, key_size=width, value_size=width).eval()
    ref = nn.MultiheadAttention(width, heads, batch_first=True).eval()
    _copy_into_torch(book, ref)
    q, k, v = (torch.randn(batch, heads, length, width // heads, generator=g) for _ in range(3))  # (B, h, T, d/h)

    def run_book(keep: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        def f(A: torch.Tensor) -> torch.Tensor:
            book.keep_weights = keep
            return book(A, A, A)
        return f

    def run_torch(keep: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda A: ref(A, A, A, need_weights=keep, average_attn_weights=False)[0]

    def run_core(A: torch.Tensor) -> torch.Tensor:
        if A.requires_grad:  # differentiate through q, k, v as the other rows do through X
            return F.scaled_dot_product_attention(*(t.requires_grad_() for t in (q, k, v)))
        return F.scaled_dot_product_attention(q, k, v)

    rows = {
        "book, weights": run_book(True), "torch, weights": run_torch(True),
        "book, fused": run_book(False), "torch, fused": run_torch(False), "SDPA core": run_core,
    }  # fmt: skip
    Xg = X.clone().requires_grad_()

    def fwd(f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        with torch.no_grad():
            f(X)

    def fwd_bwd(f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        f(Xg).sum().backward()

    # Interleaved: every repeat times every row once, so a change in machine load hits all rows alike.
    times: dict[tuple[str, str], list[float]] = {(name, kind): [] for name in rows for kind in ("fwd", "fwd_bwd")}
    try:
        for _ in range(repeats):
            for name, f in rows.items():
                for kind, step in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
                    times[name, kind].append(median_seconds(lambda: step(f), repeats=1, warmup=0 if times[name, kind] else 1))
        result = {
            name: {
                "fwd_ms": 1e3 * statistics.median(times[name, "fwd"]),
                "fwd_bwd_ms": 1e3 * statistics.median(times[name, "fwd_bwd"]),
                "saved_mb": saved_for_backward_bytes(lambda: f(Xg)) / 2**20,
            }
            for name, f in rows.items()
        }
    finally:
        for t in (q, k, v):
            t.requires_grad_(False)
    return result
