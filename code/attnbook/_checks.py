"""Input checks shared by the package's public entry points (one place for each rule).

Constructors and public ``forward``/functions call these once per call; a module
checks in its ``forward`` also when a block calls it (a few comparisons of sizes),
but helpers on an already checked path (the attention calling the softmax, the
split of the heads) do not check again. Every message says what was expected and
what came. Checks that read tensor *values* (``min``/``max`` of lengths or ids)
are skipped while tracing (``torch.export``/``torch.onnx.export``,
``torch.compile``, ``torch.jit``), where a data-dependent branch cannot be
recorded and would force a device sync.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "check_choice",
    "check_float",
    "check_heads",
    "check_instance",
    "check_int",
    "check_kv_cache",
    "check_lengths",
    "check_mask",
    "check_pairs",
    "check_probability",
    "check_qkv",
    "check_rotary",
    "check_sequence",
    "check_step_ids",
    "check_tensor",
    "check_token_ids",
    "check_valid_lens",
    "tracing",
]  # fmt: skip


def tracing() -> bool:
    """True while torch records a graph (export, compile, jit) rather than running eagerly."""
    return (
        torch.compiler.is_exporting()
        or torch.compiler.is_compiling()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
    )


def check_int(
    name: str, value: object, low: int | None = 1, even: bool = False
) -> int:
    """An ``int`` (not a bool) ``>= low`` (``None``: any), even if ``even``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if even and value % 2:
        raise ValueError(
            f"{name} must be even (sin/cos or rotation pairs), got {value}"
        )
    return value


def check_instance(name: str, value: object, kind: type = torch.nn.Module) -> None:
    """``value`` is an instance of ``kind`` (by default a model): not ``None``, a class or a function."""
    if not isinstance(value, kind):
        if kind is torch.nn.Module:
            want = "an nn.Module"
        else:
            want = ("an " if kind.__name__[0] in "AEIOU" else "a ") + kind.__name__
        raise TypeError(f"{name} must be {want}, got {type(value).__name__}")


def check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def check_tensor(
    name: str,
    x: object,
    shape: str,
    dim: int | None = None,
    size: int | None = None,
    floating: bool = True,
    dtype: torch.dtype | None = None,
) -> None:
    """``x`` is a tensor with ``dim`` dimensions (``None``: at least 2), last size ``size``, float if ``floating``,
    of ``dtype`` if given (a module's parameter dtype: inputs are never cast silently).

    ``shape`` describes the expected shape in the message, e.g. ``"(batch, steps, 16)"``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {shape}, got {_describe(x)}"
        )
    if (x.dim() != dim if dim is not None else x.dim() < 2) or (
        size is not None and x.shape[-1] != size
    ):
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if floating and not x.dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {x.dtype}"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{name} must have the dtype of the module's parameters ({dtype}), got {x.dtype}; "
            "cast it with .to(dtype) (or the module)"
        )


def check_qkv(
    queries: object,
    keys: object,
    values: object = None,
    sizes: tuple[int | None, ...] = (None, None, None),
    dtype: torch.dtype | None = None,
    same_size: bool = False,
) -> None:
    """Shapes ``(B, n_q, d_q)``, ``(B, n_k, d_k)``, ``(B, n_k, d_v)``: same ``B``, same ``n_k``, one float dtype.

    ``sizes`` gives the expected ``(d_q, d_k, d_v)`` (``None`` = any), ``dtype``
    the module's parameter dtype: inputs are never cast silently. ``same_size``:
    ``d_q = d_k`` (a dot product).
    """
    check_tensor(
        "queries",
        queries,
        f"(batch, n_queries, {sizes[0] or 'features'})",
        dim=3,
        size=sizes[0],
    )
    check_tensor(
        "keys",
        keys,
        f"(batch, n_keys, {sizes[1] or 'features'})",
        dim=3,
        size=sizes[1],
    )
    if queries.shape[0] != keys.shape[0]:
        raise ValueError(
            f"queries and keys must share the batch size, got {queries.shape[0]} and {keys.shape[0]}"
        )
    if same_size and not queries.shape[-1] == keys.shape[-1] > 0:
        raise ValueError(
            f"queries and keys need the same size (at least 1) for a dot product, got {queries.shape[-1]} "
            f"and {keys.shape[-1]}"
        )
    tensors = {"queries": queries, "keys": keys}
    if values is not None:
        check_pairs(keys, values, sizes[2])
        tensors["values"] = values
    if (
        len(
            {t.dtype for t in tensors.values()}
            | ({dtype} if dtype is not None else set())
        )
        > 1
    ):
        got = ", ".join(f"{name} {t.dtype}" for name, t in tensors.items())
        want = (
            f"the dtype of the module's parameters ({dtype})"
            if dtype is not None
            else "one dtype"
        )
        raise TypeError(
            f"inputs must all have {want}, got {got}; cast them with .to(dtype) (or the module)"
        )


def check_sequence(X: object, d: int, max_len: int) -> None:
    """``X`` float ``(B, T, d)`` with ``T <= max_len`` (a positional table's length)."""
    check_tensor("X", X, f"(batch, steps <= {max_len}, {d})", dim=3, size=d)
    if X.shape[1] > max_len:
        raise ValueError(
            f"sequence of {X.shape[1]} steps is longer than the table (max_len={max_len}); "
            "build the encoding with a larger max_len"
        )


def check_rotary(x: object, positions: object) -> None:
    """``x`` float ``(..., T, d)`` with ``d`` even; ``positions`` ``None`` or ``(T,)``."""
    check_tensor("x", x, "(..., T, d) with d even")
    check_int("the last dimension of x", x.shape[-1], low=None, even=True)
    if positions is not None:
        check_tensor(
            "positions",
            positions,
            f"({x.shape[-2]},): one per row of x",
            dim=1,
            size=x.shape[-2],
            floating=False,
        )
        if (
            positions.is_floating_point()
            and not tracing()
            and not bool(torch.isfinite(positions).all())
        ):
            raise ValueError("positions must be finite, got NaN or infinity")


def check_kv_cache(
    x: object, cache: object, memory_kv: object, d: int, h: int
) -> None:
    """A decoding step: ``x (B, m, d)``; ``cache`` and ``memory_kv`` pairs of ``(B, h, n, d/h)`` (not raw memory)."""
    check_tensor("x", x, f"(batch, new positions, {d})", dim=3, size=d)
    shape = f"(batch={x.shape[0]}, heads={h}, n, {d // h})"
    for name, pair in (("cache", cache), ("memory_kv", memory_kv)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(
                f"{name} must be a pair (keys, values) of tensors {shape}, got {_describe(pair)}"
            )
        for t in pair:
            check_tensor(name, t, shape, dim=4, size=d // h)
            if t.shape[:3] != (x.shape[0], h, pair[0].shape[2]):
                raise ValueError(
                    f"{name} must hold two tensors of shape {shape}, got {[tuple(p.shape) for p in pair]}"
                )
        if pair[0].dtype != x.dtype or pair[1].dtype != x.dtype:
            raise TypeError(
                f"{name} must have the dtype of x ({x.dtype}), got {pair[0].dtype} and {pair[1].dtype}"
            )


def check_heads(
    q: object, k: object, v: object, heads: int, head_size: int
) -> None:
    """Split heads: ``q (B, heads, n_q, head_size)``, ``k`` and ``v`` ``(B, heads, n_k, head_size)``, one dtype."""
    shape = f"(batch, {heads}, n, {head_size})"
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t, shape, dim=4, size=head_size)
    if not (
        q.shape[:2] == k.shape[:2] == v.shape[:2] == (q.shape[0], heads)
        and k.shape[2] == v.shape[2]
    ):
        raise ValueError(
            f"q, k and v must be split heads {shape} with one batch, and as many keys as values; "
            f"got {tuple(q.shape)}, {tuple(k.shape)} and {tuple(v.shape)}"
        )
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(
            f"q, k and v must share one dtype, got {q.dtype}, {k.dtype} and {v.dtype}"
        )


def check_pairs(
    keys: torch.Tensor, values: object, size: int | None = None
) -> None:
    """``values`` ``(B, n_k, d_v)`` for ``keys`` ``(B, n_k, d_k)``: one value per key."""
    check_tensor(
        "values", values, f"(batch, n_keys, {size or 'features'})", dim=3, size=size
    )
    if values.shape[:2] != keys.shape[:2]:
        raise ValueError(
            f"keys and values must come in pairs: got {keys.shape[1]} keys and {values.shape[1]} values "
            f"(batch sizes {keys.shape[0]} and {values.shape[0]})"
        )


def check_mask(scores: object, mask: object) -> None:
    """Float ``scores`` and a boolean ``mask`` that broadcasts to their shape."""
    check_tensor("scores", scores, "(..., n_queries, n_keys)")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be a boolean tensor (True = may attend), got {_describe(mask)}"
        )
    try:
        ok = torch.broadcast_shapes(mask.shape, scores.shape) == scores.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to scores of shape {tuple(scores.shape)}"
        )


def check_valid_lens(valid_lens: object, shape: tuple[int, ...]) -> None:
    """``valid_lens`` ``(B,)`` or ``(B, n_q)``, whole numbers in ``[0, n_k]``, for scores of ``shape`` ``(B, ..., n_q, n_k)``."""
    if not isinstance(valid_lens, torch.Tensor):
        raise TypeError(
            f"valid_lens must be a torch.Tensor or None, got {type(valid_lens).__name__}"
        )
    if len(shape) < 3:
        raise ValueError(
            f"valid_lens needs scores with a batch dimension, (batch, ..., n_queries, n_keys); got {tuple(shape)}"
        )
    batch, n_q, n_k = shape[0], shape[-2], shape[-1]
    if tuple(valid_lens.shape) not in ((batch,), (batch, n_q)):
        raise ValueError(
            f"valid_lens must have shape ({batch},) or ({batch}, {n_q}) for scores of shape {tuple(shape)}, "
            f"got {tuple(valid_lens.shape)}"
        )
    if valid_lens.dtype == torch.bool or valid_lens.dtype.is_complex:
        raise TypeError(
            f"valid_lens must be an integer tensor, got dtype {valid_lens.dtype}"
        )
    if tracing() or valid_lens.numel() == 0:
        return
    floating = valid_lens.dtype.is_floating_point
    if (
        valid_lens.numel() <= 64
    ):  # a few numbers: cheaper in Python than two reductions
        values = valid_lens.tolist()
        values = (
            [v for row in values for v in row] if valid_lens.dim() == 2 else values
        )
        lo, hi = min(values), max(values)
        whole = not floating or all(float(v).is_integer() for v in values)
    else:
        lo, hi = (v.item() for v in torch.aminmax(valid_lens))
        whole = not floating or torch.equal(valid_lens, valid_lens.round())
    if not whole:
        raise ValueError(
            "valid_lens must hold whole numbers, got fractional values, NaN or infinity"
        )
    if lo < 0 or hi > n_k:
        raise ValueError(
            f"valid_lens must lie in [0, {n_k}] (the number of keys), got values from {lo:g} to {hi:g}"
        )


def check_float(
    name: str, value: object, low: float = 0.0, *, inclusive: bool = False
) -> float:
    """A finite real number ``> low`` (``>= low`` with ``inclusive``); returns it as a ``float``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the range of a float
        number = math.inf
    ok = number >= low if inclusive else number > low
    if not (math.isfinite(number) and ok):
        got = (
            repr(value)
            if len(repr(value)) < 30
            else "a number beyond the range of a float"
        )
        raise ValueError(
            f"{name} must be a finite number {'>=' if inclusive else '>'} {low}, got {got}"
        )
    return number


def check_probability(name: str, value: object) -> float:
    """A real number in ``[0, 1]`` (a dropout rate); returns it as a ``float``."""
    p = check_float(name, value, 0.0, inclusive=True)
    if p > 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {p!r}")
    return p


def check_token_ids(
    ids: object,
    lengths: object,
    *,
    vocab_size: int | None = None,
    max_len: int | None = None,
    what: str = "src",
) -> None:
    """Token ids ``(B, S)`` int64 with ``B, S >= 1`` and lengths ``(B,)`` (integer) in ``[1, S]``.

    With ``vocab_size``, every id must lie in ``[0, vocab_size)``; with ``max_len``,
    ``S <= max_len``. ``lengths=None`` skips the length checks (e.g. a decoder's
    inputs). ``TypeError`` for a wrong type or dtype, ``ValueError`` for a wrong
    shape or value; value checks are skipped under :func:`tracing`.
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long:
        got = (
            f"a {ids.dtype} tensor"
            if isinstance(ids, torch.Tensor)
            else type(ids).__name__
        )
        raise TypeError(f"{what} must be an int64 tensor of token ids, got {got}")
    if ids.dim() != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(
            f"{what} must be a non-empty (batch, length) tensor of token ids, got shape {tuple(ids.shape)}"
        )
    if max_len is not None and ids.shape[1] > max_len:
        raise ValueError(
            f"{what} has {ids.shape[1]} positions but the model accepts at most max_len={max_len}; "
            "shorten the input or build the model with a larger max_len"
        )
    if lengths is not None:
        check_lengths(lengths, ids.shape[0], ids.shape[1], what=what)
    if vocab_size is not None and not tracing():
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(
                f"{what} ids must lie in [0, {vocab_size - 1}] (the vocabulary), got {lo}..{hi}"
            )


def check_step_ids(y_prev: object, batch: int, vocab_size: int) -> None:
    """A decoding step's previous tokens: int64 ids ``(batch,)``, one per example of the decoding
    state, each in ``[0, vocab_size)``."""
    if not isinstance(y_prev, torch.Tensor) or y_prev.dim() != 1:
        error = ValueError if isinstance(y_prev, torch.Tensor) else TypeError
        raise error(
            f"y_prev must hold one token id per example, shape ({batch},), "
            f"got {_describe(y_prev)}"
        )
    check_token_ids(y_prev[:, None], None, vocab_size=vocab_size, what="y_prev")
    if y_prev.shape[0] != batch:
        raise ValueError(
            f"y_prev has {y_prev.shape[0]} examples but the decoding state holds {batch}"
        )


def check_lengths(
    lengths: object, batch: int, length: int, *, what: str = "src"
) -> None:
    """Valid lengths: an int64 or int32 tensor ``(batch,)`` with values in ``[1, length]`` (values
    unchecked while exporting). Narrower integer types are refused: a uint8 tensor used as an index
    is a mask to torch, not a list of positions."""
    if not isinstance(lengths, torch.Tensor) or lengths.dtype not in (
        torch.int64,
        torch.int32,
    ):
        got = (
            f"a {lengths.dtype} tensor"
            if isinstance(lengths, torch.Tensor)
            else type(lengths).__name__
        )
        raise TypeError(
            f"{what} lengths must be an int64 or int32 tensor, got {got}"
        )
    if tuple(lengths.shape) != (batch,):
        raise ValueError(
            f"{what} lengths must have shape ({batch},), got {tuple(lengths.shape)}"
        )
    if not tracing():
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > length:
            raise ValueError(
                f"{what} lengths must lie in [1, {length}] (1 to the padded length), got {lo}..{hi}"
            )
