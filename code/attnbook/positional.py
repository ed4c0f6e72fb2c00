"""Positional encodings (chapter 6).

Self-attention treats its input as a set: permuting the tokens permutes the
output. Positions have to be given to it. This module holds

* the sinusoidal encoding of Vaswani et al. (2017): :func:`sinusoidal_table`,
  :class:`PositionalEncoding`, and :func:`relative_rotation`, the fixed rotation
  that moves every row of the table ``delta`` positions on;
* rotary position embedding (RoPE, Su et al., 2024): :func:`apply_rotary`
  rotates queries and keys by their positions, so that their dot products
  depend only on the offset between them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attnbook._checks import (
    check_float,
    check_int,
    check_probability,
    check_rotary,
    check_sequence,
)

__all__ = [
    "PositionalEncoding",
    "apply_rotary",
    "relative_rotation",
    "sinusoidal_table",
]


def _frequencies(num_hiddens: int, base: float) -> torch.Tensor:
    """``w_i = base^(-2i/d)`` for ``i = 0 .. ceil(d/2) - 1``, in float64 (``base`` checked: finite, > 0)."""
    check_float("base", base)
    return base ** (
        -torch.arange(0, num_hiddens, 2, dtype=torch.float64) / num_hiddens
    )


def sinusoidal_table(
    max_len: int, num_hiddens: int, base: float = 10000.0
) -> torch.Tensor:
    """The sinusoidal table ``P`` of shape ``(max_len, num_hiddens)`` (Vaswani et
    al., 2017, section 3.5).

    ``P[t, 2i] = sin(t / base^(2i/d))`` and ``P[t, 2i+1] = cos(t / base^(2i/d))``:
    column pair ``i`` turns at angular frequency ``w_i = base^(-2i/d)``.
    """
    check_int("max_len", max_len)
    check_int("num_hiddens", num_hiddens)
    t = torch.arange(max_len, dtype=torch.float64)[:, None]  # (T, 1)
    freqs = _frequencies(num_hiddens, base)  # (ceil(d/2),)
    angles = t * freqs  # (T, ceil(d/2))
    P = torch.zeros(max_len, num_hiddens, dtype=torch.float64)
    P[:, 0::2] = torch.sin(angles)
    P[:, 1::2] = torch.cos(angles[:, : num_hiddens // 2])
    return P.to(torch.get_default_dtype())


class PositionalEncoding(nn.Module):
    """Add the sinusoidal table to a batch of token vectors: ``dropout(X + P[:, :T])``.

    Shapes: ``X`` ``(B, T, num_hiddens)`` with ``T <= max_len`` -> the same shape.
    The table is the buffer ``.P`` of shape ``(1, max_len, num_hiddens)``.
    """

    def __init__(
        self, num_hiddens: int, dropout: float = 0.0, max_len: int = 1000
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(check_probability("dropout", dropout))
        self.register_buffer(
            "P", sinusoidal_table(max_len, num_hiddens)[None], persistent=False
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``(B, T, d)`` float -> the same; the table is cast to ``X``'s dtype."""
        _, max_len, d = self.P.shape
        check_sequence(X, d, max_len)
        return self.dropout(X + self.P[:, : X.shape[1]].to(X.dtype))


def relative_rotation(
    delta: int, num_hiddens: int, base: float = 10000.0
) -> torch.Tensor:
    """The ``(d, d)`` matrix ``M`` with ``P[t + delta] = M @ P[t]`` for *every*
    ``t`` (Vaswani et al., 2017, 3.5).

    Each column pair ``(2i, 2i+1) = (sin(t w_i), cos(t w_i))`` of the sinusoidal
    table is a point on a circle turning at angular frequency ``w_i``; moving on
    by ``delta`` positions turns it by ``delta * w_i``. So ``M`` is block diagonal,
    one 2x2 rotation per pair, and does not depend on ``t``:
    ``[[cos(delta w_i), sin(delta w_i)], [-sin(delta w_i), cos(delta w_i)]]``.
    ``num_hiddens`` must be even (every column needs its partner); ``delta`` is
    an int or a finite float (a Python number, not a tensor or a bool).
    """
    check_int("num_hiddens", num_hiddens, even=True)
    delta = check_float("delta", delta, -math.inf)  # a finite real number
    angle = delta * _frequencies(num_hiddens, base)  # (d/2,)
    c, s = torch.cos(angle), torch.sin(angle)
    # (d/2, 2, 2)
    blocks = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)
    return torch.block_diag(*blocks).to(torch.get_default_dtype())  # (d, d)


def apply_rotary(
    x: torch.Tensor, positions: torch.Tensor | None = None, base: float = 10000.0
) -> torch.Tensor:
    """Rotary position embedding (RoPE; Su et al., 2024, section 3.2): rotate each
    feature pair by its position.

    Feature pair ``(2i, 2i+1)`` of the vector at position ``t`` is turned by the
    angle ``t * w_i`` with ``w_i = base^(-2i/d)`` -- the frequencies of the
    sinusoidal table. Applied to queries *and* keys (after their projections,
    per head), it makes ``<rope(q, m), rope(k, n)>`` a function of ``q``, ``k``
    and the offset ``n - m`` only, and it leaves every vector's norm unchanged.

    Args:
        x: ``(..., T, d)`` with ``d`` even, e.g. ``(B, h, T, d_h)``.
        positions: ``(T,)`` positions of the ``T`` rows (default ``0 .. T-1``);
            they may be any numbers, e.g. an offset for a continued sequence.

    Returns:
        A tensor of the shape and dtype of ``x``.

    Raises:
        TypeError: ``x`` not a floating-point tensor.
        ValueError: ``x`` with fewer than 2 dimensions or an odd last dimension;
            ``positions`` of the wrong shape; ``base`` not finite and > 0.
    """
    check_rotary(x, positions)
    T, d = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T)
    angles = positions.to(torch.float64)[:, None] * _frequencies(d, base).to(
        positions.device
    )  # (T, d/2), float64 for large t
    cos, sin = angles.cos().to(x), angles.sin().to(x)
    pairs = x.unflatten(-1, (d // 2, 2))  # (..., T, d/2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]  # (..., T, d/2) each
    # (..., T, d/2, 2)
    rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return rotated.flatten(-2)  # (..., T, d)
