"""Transformer building blocks (chapter 7; the encoder block is reused by the ViT of chapter 9).

Vaswani et al. (2017) put LayerNorm *after* each residual addition ("post-norm",
``x = LN(x + f(x))``); most models since put it *before* the sublayer
("pre-norm", ``x = x + f(LN(x))``, Xiong et al. 2020), which keeps an
un-normalised path from input to output and trains deep stacks without warm-up.
Both are one flag, ``norm_first``, as in ``nn.TransformerEncoderLayer``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from attnbook.attention import MultiHeadAttention

__all__ = ["PositionWiseFFN", "EncoderBlock"]

Activation = Literal["relu", "gelu"]


class PositionWiseFFN(nn.Module):
    """The same two-layer MLP applied to every position: ``(B, T, d) -> (B, T, d)``.

    ``W_2 dropout(act(W_1 x + b_1)) + b_2`` with ``W_1: d -> ffn_num_hiddens``.
    """

    def __init__(self, num_hiddens: int, ffn_num_hiddens: int, activation: Activation = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.dense1 = nn.Linear(num_hiddens, ffn_num_hiddens)
        self.activation = nn.ReLU() if activation == "relu" else nn.GELU()  # exact (erf) GELU
        self.dropout = nn.Dropout(dropout)
        self.dense2 = nn.Linear(ffn_num_hiddens, num_hiddens)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense2(self.dropout(self.activation(self.dense1(X))))


class EncoderBlock(nn.Module):
    """Self-attention sublayer, then the position-wise FFN, each with a residual connection and LayerNorm.

    Post-norm (``norm_first=False``, the 2017 paper)::

        X = LN1(X + dropout(MHA(X, X, X)));  X = LN2(X + dropout(FFN(X)))

    Pre-norm (``norm_first=True``)::

        X = X + dropout(MHA(LN1(X), ...));   X = X + dropout(FFN(LN2(X)))

    Shapes: ``X`` ``(B, T, num_hiddens)``, ``valid_lens`` ``(B,)`` or ``(B, T)``
    -> ``(B, T, num_hiddens)``. The attention weights of the last call are in
    ``.attention.attention_weights`` ``(B, num_heads, T, T)``.
    """

    def __init__(
        self,
        num_hiddens: int,
        ffn_num_hiddens: int,
        num_heads: int,
        dropout: float = 0.0,
        *,
        norm_first: bool = False,
        activation: Activation = "relu",
        eps: float = 1e-5,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attention = MultiHeadAttention(
            num_hiddens, num_heads, dropout, bias,
            query_size=num_hiddens, key_size=num_hiddens, value_size=num_hiddens,
        )  # fmt: skip
        self.norm1 = nn.LayerNorm(num_hiddens, eps=eps)
        self.ffn = PositionWiseFFN(num_hiddens, ffn_num_hiddens, activation, dropout)
        self.norm2 = nn.LayerNorm(num_hiddens, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, X: torch.Tensor, valid_lens: torch.Tensor | None = None) -> torch.Tensor:
        d = self.norm1.normalized_shape[0]
        if not isinstance(X, torch.Tensor) or X.dim() != 3 or X.shape[-1] != d:
            got = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
            raise ValueError(f"expected X of shape (batch, steps, {d}), got {got}")
        if self.norm_first:
            H = self.norm1(X)
            X = X + self.dropout(self.attention(H, H, H, valid_lens))
            return X + self.dropout(self.ffn(self.norm2(X)))
        X = self.norm1(X + self.dropout(self.attention(X, X, X, valid_lens)))
        return self.norm2(X + self.dropout(self.ffn(X)))
