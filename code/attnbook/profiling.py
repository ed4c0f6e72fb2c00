"""Profiling helpers: the book's timing routines, :func:`median_seconds` and
:func:`interleaved_ms`, :func:`saved_for_backward_bytes` (what autograd keeps for the
backward pass), and the attention comparisons ``code/benchmarks/run.py`` records:
:func:`softmax_speed` (masked softmax vs the ``masked_fill`` idiom), :func:`mha_speed`
(chapter 5 prints it: book vs ``nn.MultiheadAttention`` vs
``F.scaled_dot_product_attention``) and :func:`encoder_speed` (encoder block vs
``nn.TransformerEncoderLayer``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from attnbook._checks import check_int

__all__ = [
    "encoder_speed",
    "interleaved_ms",
    "median_seconds",
    "mha_speed",
    "saved_for_backward_bytes",
    "softmax_speed",
]


def median_seconds(
    fn: Callable[[], object], repeats: int = 7, warmup: int = 1
) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if (
        not isinstance(repeats, int)
        or repeats < 1
        or not isinstance(warmup, int)
        or warmup < 0
    ):
        raise ValueError(
            f"need repeats >= 1 and warmup >= 0, got repeats={repeats!r}, warmup={warmup!r}"
        )
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


def interleaved_ms(
    rows: dict[str, Callable[[], object]], repeats: int = 21, warmup: int = 1
) -> dict[str, float]:
    """Median milliseconds of each ``rows[name]()``, the rows interleaved: every repeat calls every row once,
    so a change in machine load hits all rows alike, starting from the next row each time, so that no row
    always follows the same one (the allocator's state after a large row can favour the row after it)."""
    check_int("repeats", repeats)
    check_int("warmup", warmup, low=0)
    for fn in rows.values():
        for _ in range(warmup):
            fn()
    names = list(rows)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = rows[name]
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _fwd_and_bwd(
    rows: dict[str, Callable[[bool], torch.Tensor]],
) -> dict[str, Callable[[], object]]:
    """For each ``f(grad)``: a forward under ``no_grad`` and a forward + backward of the sum."""

    def fwd(f: Callable[[bool], torch.Tensor]) -> Callable[[], object]:
        def run() -> None:
            with torch.no_grad():
                f(False)

        return run

    def fwd_bwd(f: Callable[[bool], torch.Tensor]) -> Callable[[], object]:
        return lambda: f(True).sum().backward()

    return {
        f"{name}|{kind}": make(f)
        for name, f in rows.items()
        for kind, make in (("fwd", fwd), ("fwd_bwd", fwd_bwd))
    }


def _table(ms: dict[str, float]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for key, value in ms.items():
        name, kind = key.split("|")
        table.setdefault(name, {})[f"{kind}_ms"] = value
    return table


def softmax_speed(
    shape: tuple[int, ...] = (32, 8, 128, 128), repeats: int = 21, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Time masked softmaxes on scores of ``shape`` ``(B, h, n_q, n_k)`` with random lengths in ``[0, n_k]``.

    Rows: ``"book"`` (:func:`attnbook.masked_softmax`), ``"book, no checks"`` (the same
    computation without its input checks), ``"torch idiom"`` (``scores.masked_fill(~mask,
    -inf).softmax(-1)`` with the mask built from the lengths; NaN on rows of length 0).
    Each row holds ``fwd_ms`` (under ``no_grad``) and ``fwd_bwd_ms`` (forward + backward of
    the sum): medians of ``repeats`` interleaved calls. Report them, never assert them.
    """
    from attnbook.attention import _softmax, _valid_mask, masked_softmax

    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(shape, generator=g)
    lens = torch.randint(0, shape[-1] + 1, (shape[0],), generator=g)
    leaf = scores.clone().requires_grad_()

    def row(
        fn: Callable[[torch.Tensor], torch.Tensor],
    ) -> Callable[[bool], torch.Tensor]:
        return lambda grad: fn(leaf if grad else scores)

    def idiom(S: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(shape[-1]) < lens[:, None]  # (B, n_k), True = attend
        return S.masked_fill(
            ~mask.reshape(shape[0], *[1] * (len(shape) - 2), shape[-1]),
            float("-inf"),
        ).softmax(-1)

    rows = {
        "book": row(lambda S: masked_softmax(S, lens)),
        "book, no checks": row(lambda S: _softmax(S, _valid_mask(lens, S.shape))),
        "torch idiom": row(idiom),
    }
    return _table(interleaved_ms(_fwd_and_bwd(rows), repeats))


def mha_speed(
    batch: int = 32, length: int = 128, width: int = 256, heads: int = 8, repeats: int = 7, seed: int = 0,
    key_padding: bool = False,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Time self-attention on ``X (batch, length, width)`` in three implementations, same weights.

    Rows (keys of the result):

    * ``"book, weights"`` -- ``MultiHeadAttention(keep_weights=True)``: explicit
      ``softmax(QK^T/sqrt(d_h))V`` that keeps the ``(B, h, T, T)`` weights;
    * ``"torch, weights"`` -- ``nn.MultiheadAttention(need_weights=True, average_attn_weights=False)``;
    * ``"book, fused"`` -- ``MultiHeadAttention(keep_weights=False)`` (``F.scaled_dot_product_attention``);
    * ``"torch, fused"`` -- ``nn.MultiheadAttention(need_weights=False)``;
    * ``"SDPA core"`` -- ``F.scaled_dot_product_attention`` alone on projected ``(B, h, T, d/h)``
      tensors: no projections, a lower bound for the fused rows.

    With ``key_padding`` every example gets a random valid length in ``[1, length]``
    (book: ``valid_lens``; torch: ``key_padding_mask``; SDPA: a boolean mask).
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
    book = MultiHeadAttention(width, heads, bias=True).eval()
    ref = book.to_torch().eval()
    q, k, v = (
        torch.randn(batch, heads, length, width // heads, generator=g)
        for _ in range(3)
    )  # (B, h, T, d/h)
    lens = (
        torch.randint(1, length + 1, (batch,), generator=g) if key_padding else None
    )
    # (B, T): torch's True = padding
    blocked = None if lens is None else torch.arange(length) >= lens[:, None]

    def run_book(keep: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        def f(A: torch.Tensor) -> torch.Tensor:
            book.keep_weights = keep
            return book(A, A, A, lens)

        return f

    def run_torch(keep: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda A: ref(
            A,
            A,
            A,
            key_padding_mask=blocked,
            need_weights=keep,
            average_attn_weights=False,
        )[0]

    def run_core(A: torch.Tensor) -> torch.Tensor:
        # (B, 1, 1, T): True = attend
        mask = None if blocked is None else ~blocked[:, None, None, :]
        if (
            A.requires_grad
        ):  # differentiate through q, k, v as the other rows do through X
            return F.scaled_dot_product_attention(
                *(t.requires_grad_() for t in (q, k, v)), attn_mask=mask
            )
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    rows = {
        "book, weights": run_book(True), "torch, weights": run_torch(True),
        "book, fused": run_book(False), "torch, fused": run_torch(False), "SDPA core": run_core,
    }  # fmt: skip
    return _timed_rows(rows, X, repeats)


def encoder_speed(
    batch: int = 32, length: int = 128, width: int = 256, heads: int = 8, ffn: int = 1024, repeats: int = 7,
    seed: int = 0,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Time a post-norm encoder block on ``X (batch, length, width)`` with key padding, same weights:
    ``"book"`` (:class:`attnbook.transformer.EncoderBlock`, keeping its weights) and ``"torch"``
    (``nn.TransformerEncoderLayer``, which under ``no_grad`` in eval mode takes its nested-tensor
    fast path). Rows as in :func:`mha_speed`."""
    from attnbook.transformer import EncoderBlock

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, length, width, generator=g)
    lens = torch.randint(1, length + 1, (batch,), generator=g)
    blocked = torch.arange(length) >= lens[:, None]  # (B, T): True = padding
    torch.manual_seed(seed)
    book = EncoderBlock(width, ffn, heads).eval()
    ref = nn.TransformerEncoderLayer(
        width, heads, ffn, dropout=0.0, batch_first=True
    ).eval()
    with torch.no_grad():
        ref.self_attn.load_state_dict(book.attention.to_torch().state_dict())
        for mine, theirs in ((book.ffn.dense1, ref.linear1), (book.ffn.dense2, ref.linear2),
                             (book.norm1, ref.norm1), (book.norm2, ref.norm2)):  # fmt: skip
            theirs.load_state_dict(mine.state_dict())
    rows = {
        "book": lambda A: book(A, lens),
        "torch": lambda A: ref(A, src_key_padding_mask=blocked),
    }
    return _timed_rows(rows, X, repeats)


def _timed_rows(
    rows: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    X: torch.Tensor,
    repeats: int,
) -> dict[str, dict[str, float]]:
    """``fwd_ms`` / ``fwd_bwd_ms`` (interleaved medians) and ``saved_mb`` of each ``rows[name](X)``."""
    Xg = X.clone().requires_grad_()
    table = _table(
        interleaved_ms(
            _fwd_and_bwd({name: _on(f, X, Xg) for name, f in rows.items()}), repeats
        )
    )
    for name, f in rows.items():
        table[name]["saved_mb"] = (
            saved_for_backward_bytes(lambda f=f: f(Xg)) / 2**20
        )
    return table


def _on(
    f: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, Xg: torch.Tensor
) -> Callable[[bool], torch.Tensor]:
    return lambda grad: f(Xg if grad else X)
