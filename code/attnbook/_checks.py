"""Input checks shared by the package's public entry points (one place for each rule)."""

from __future__ import annotations

__all__ = ["check_int"]


def check_int(name: str, value: object, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


# ---- appended by the "api" helper: checks shared by seq2seq, decoding, transformer, kernels, data ----


def checking_values() -> bool:
    """Whether checks that *read tensor values* (``.min()``, ``.max()``, ``.all()``) should run.

    They force a device sync and cannot be traced, so they are skipped while
    ``torch.onnx.export``/``torch.export`` traces a model or ``torch.compile``
    compiles it. Shape and dtype checks always run.
    """
    import torch

    return not (torch.compiler.is_exporting() or torch.compiler.is_compiling())


def check_float(name: str, value: object, low: float = 0.0, *, inclusive: bool = False) -> float:
    """A finite real number ``> low`` (``>= low`` with ``inclusive``); returns it as a ``float``."""
    import math

    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    ok = value >= low if inclusive else value > low
    if not (math.isfinite(value) and ok):
        raise ValueError(f"{name} must be a finite number {'>=' if inclusive else '>'} {low}, got {value!r}")
    return float(value)


def check_token_ids(
    ids: object, lengths: object, *, vocab_size: int | None = None, max_len: int | None = None, what: str = "src"
) -> None:
    """Token ids ``(B, S)`` int64 with ``B, S >= 1`` and lengths ``(B,)`` (integer) in ``[1, S]``.

    With ``vocab_size``, every id must lie in ``[0, vocab_size)``; with ``max_len``,
    ``S <= max_len``. ``lengths=None`` skips the length checks (e.g. a decoder's
    inputs). ``TypeError`` for a wrong type or dtype, ``ValueError`` for a wrong
    shape or value; value checks are skipped under :func:`checking_values`.
    """
    import torch

    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long:
        got = f"a {ids.dtype} tensor" if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise TypeError(f"{what} must be an int64 tensor of token ids, got {got}")
    if ids.dim() != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty (batch, length) tensor of token ids, got shape {tuple(ids.shape)}")
    if max_len is not None and ids.shape[1] > max_len:
        raise ValueError(
            f"{what} has {ids.shape[1]} positions but the model accepts at most max_len={max_len}; "
            "shorten the input or build the model with a larger max_len"
        )
    if lengths is not None:
        check_lengths(lengths, ids.shape[0], ids.shape[1], what=what)
    if vocab_size is not None and checking_values():
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{what} ids must lie in [0, {vocab_size - 1}] (the vocabulary), got {lo}..{hi}")


def check_lengths(lengths: object, batch: int, length: int, *, what: str = "src") -> None:
    """Valid lengths: an integer tensor ``(batch,)`` with values in ``[1, length]`` (values unchecked while exporting)."""
    import torch

    if not isinstance(lengths, torch.Tensor) or lengths.is_floating_point() or lengths.is_complex():
        got = f"a {lengths.dtype} tensor" if isinstance(lengths, torch.Tensor) else type(lengths).__name__
        raise TypeError(f"{what} lengths must be an integer tensor, got {got}")
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"{what} lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    if checking_values():
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > length:
            raise ValueError(f"{what} lengths must lie in [1, {length}] (1 to the padded length), got {lo}..{hi}")
