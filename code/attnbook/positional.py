"""Positional encodings (chapter 6).

Self-attention treats its input as a set: permuting the tokens permutes the
output. Positions have to be added to the tokens. This module holds the
sinusoidal encoding of Vaswani et al. (2017).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PositionalEncoding", "sinusoidal_table"]


def sinusoidal_table(max_len: int, num_hiddens: int, base: float = 10000.0) -> torch.Tensor:
    """The sinusoidal table ``P`` of shape ``(max_len, num_hiddens)`` (Vaswani et al., 2017, section 3.5).

    ``P[t, 2i] = sin(t / base^(2i/d))`` and ``P[t, 2i+1] = cos(t / base^(2i/d))``:
    column pair ``i`` turns at angular frequency ``w_i = base^(-2i/d)``.
    """
    for name, value in {"max_len": max_len, "num_hiddens": num_hiddens}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    t = torch.arange(max_len, dtype=torch.float64)[:, None]  # (T, 1)
    freqs = base ** (-torch.arange(0, num_hiddens, 2, dtype=torch.float64) / num_hiddens)  # (ceil(d/2),)
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

    def __init__(self, num_hiddens: int, dropout: float = 0.0, max_len: int = 1000) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("P", sinusoidal_table(max_len, num_hiddens)[None], persistent=False)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        _, max_len, d = self.P.shape
        if not isinstance(X, torch.Tensor) or X.dim() != 3 or X.shape[-1] != d:
            got = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
            raise ValueError(f"expected X of shape (batch, steps, {d}), got {got}")
        if X.shape[1] > max_len:
            raise ValueError(
                f"sequence of {X.shape[1]} steps is longer than the table (max_len={max_len}); "
                "build the encoding with a larger max_len"
            )
        return self.dropout(X + self.P[:, : X.shape[1]].to(X.dtype))
