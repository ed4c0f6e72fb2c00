"""The Transformer of Vaswani et al. (2017) (chapter 7; the encoder block is reused by the ViT of chapter 9).

* :class:`PositionWiseFFN` -- the same two-layer MLP at every position;
* :class:`EncoderBlock` -- self-attention and FFN, each wrapped in a residual
  connection and LayerNorm;
* :class:`DecoderBlock` -- *causal* self-attention, cross-attention to the
  encoder's outputs, FFN; :meth:`DecoderBlock.step` decodes one token with a
  key-value cache;
* :class:`TransformerEncoder`, :class:`TransformerDecoder` and
  :class:`Transformer` -- embeddings, sinusoidal positions, the stacks and the
  output layer. :class:`Transformer` has the interface of
  :class:`attnbook.seq2seq.Seq2Seq` (``encode``, ``decoder.step``), so
  :func:`~attnbook.decoding.greedy_decode`, :func:`~attnbook.decoding.beam_search`
  and :func:`~attnbook.decoding.predict` decode it unchanged.

Vaswani et al. (2017) put LayerNorm *after* each residual addition ("post-norm",
``x = LN(x + f(x))``); most models since put it *before* the sublayer
("pre-norm", ``x = x + f(LN(x))``, Xiong et al. 2020), which keeps an
un-normalised path from input to output and trains deep stacks without warm-up.
Both are one flag, ``norm_first``, as in ``nn.TransformerEncoderLayer``; a
pre-norm stack ends with one more LayerNorm.

Shapes: ``B`` batch, ``S`` source length, ``T`` target length, ``d``
``num_hiddens``, ``h`` heads, ``d_h = d / h``, ``L`` layers, ``V`` vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from attnbook._checks import (
    _describe,
    check_choice,
    check_float,
    check_int,
    check_kv_cache,
    check_probability,
    check_step_ids,
    check_tensor,
    check_token_ids,
)
from attnbook.attention import MultiHeadAttention, _weights_kept
from attnbook.decoding import Memory
from attnbook.positional import PositionalEncoding

__all__ = [
    "DecoderBlock",
    "EncoderBlock",
    "PositionWiseFFN",
    "Transformer",
    "TransformerDecoder",
    "TransformerEncoder",
    "attention_maps",
    "causal_valid_lens",
]

Activation = Literal["relu", "gelu"]


class PositionWiseFFN(nn.Module):
    """The same two-layer MLP applied to every position: ``(B, T, d) -> (B, T, d)``.

    ``W_2 dropout(act(W_1 x + b_1)) + b_2`` with ``W_1: d -> ffn_num_hiddens``.
    """

    def __init__(
        self,
        num_hiddens: int,
        ffn_num_hiddens: int,
        activation: Activation = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice("activation", activation, ("relu", "gelu"))
        check_int("num_hiddens", num_hiddens)
        check_int("ffn_num_hiddens", ffn_num_hiddens)
        self.dense1 = nn.Linear(num_hiddens, ffn_num_hiddens)
        # not in place: dense1's output is a view, and an in-place op on a view
        # costs the backward full-size copies; exact (erf) GELU
        self.activation = nn.ReLU() if activation == "relu" else nn.GELU()
        self.dropout = nn.Dropout(check_probability("dropout", dropout))
        self.dense2 = nn.Linear(ffn_num_hiddens, num_hiddens)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        d, dtype = self.dense1.in_features, self.dense1.weight.dtype
        check_tensor("X", X, f"(batch, steps, {d})", size=d, dtype=dtype)
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
        check_float("eps", eps)
        self.norm_first = norm_first
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, bias)
        self.norm1 = nn.LayerNorm(num_hiddens, eps=eps)
        self.ffn = PositionWiseFFN(
            num_hiddens, ffn_num_hiddens, activation, dropout
        )
        self.norm2 = nn.LayerNorm(num_hiddens, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, X: torch.Tensor, valid_lens: torch.Tensor | None = None
    ) -> torch.Tensor:
        d = self.norm1.normalized_shape[0]
        check_tensor("X", X, f"(batch, steps, {d})", dim=3, size=d)
        if self.norm_first:
            H = self.norm1(X)
            X = X + self.dropout(self.attention(H, H, H, valid_lens))
            return X + self.dropout(self.ffn(self.norm2(X)))
        X = self.norm1(X + self.dropout(self.attention(X, X, X, valid_lens)))
        return self.norm2(X + self.dropout(self.ffn(X)))


# --------------------------------------------------------------------------- decoder
def causal_valid_lens(
    batch: int, steps: int, device: torch.device | None = None
) -> torch.Tensor:
    """``(B, T)`` valid lengths ``[1, 2, ..., T]`` per row: query ``t`` may see keys
    ``0..t`` only.

    Given to :func:`attnbook.masked_softmax` (through ``MultiHeadAttention``),
    this is the causal mask: every weight on a *later* position is exactly 0.
    """
    return torch.arange(1, steps + 1, device=device).expand(batch, steps)  # (B, T)


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder, FFN; each with a residual connection and LayerNorm.

    Post-norm (``norm_first=False``, Vaswani et al. 2017)::

        X = LN1(X + dropout(SelfAttn(X, X, X, causal)))
        X = LN2(X + dropout(CrossAttn(X, M, M, src_len)))
        X = LN3(X + dropout(FFN(X)))

    Pre-norm (``norm_first=True``): ``X = X + dropout(f(LN(X)))`` for each sublayer.

    In the cross-attention the **queries** come from the decoder, ``(B, T, d)``,
    and the **keys and values** from the encoder's outputs ``M``, ``(B, S, d)``;
    padded source positions (``src_len``) get weight 0. In the self-attention,
    position ``t`` sees positions ``<= t`` only.

    Weights of the last call: ``.self_attention.attention_weights`` ``(B, h, T, T)``
    and ``.cross_attention.attention_weights`` ``(B, h, T, S)``. Arguments as in
    :class:`EncoderBlock`, and like ``nn.TransformerDecoderLayer``.
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
        check_float("eps", eps)
        self.norm_first = norm_first
        d = num_hiddens
        self.self_attention = MultiHeadAttention(d, num_heads, dropout, bias)
        self.cross_attention = MultiHeadAttention(d, num_heads, dropout, bias)
        self.ffn = PositionWiseFFN(d, ffn_num_hiddens, activation, dropout)
        self.norm1, self.norm2, self.norm3 = (
            nn.LayerNorm(d, eps=eps) for _ in range(3)
        )
        self.dropout = nn.Dropout(dropout)

    def _sublayer(
        self,
        X: torch.Tensor,
        norm: nn.LayerNorm,
        f: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """The residual connection around ``f`` with LayerNorm before (pre-norm) or
        after (post-norm)."""
        if self.norm_first:
            return X + self.dropout(f(norm(X)))
        return norm(X + self.dropout(f(X)))

    def forward(
        self,
        X: torch.Tensor,
        memory: torch.Tensor,
        src_len: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """All target positions at once (training, teacher forcing):
        ``(B, T, d), (B, S, d) -> (B, T, d)``."""
        d = self.norm1.normalized_shape[0]
        check_tensor("X", X, f"(batch, steps, {d})", dim=3, size=d)
        check_tensor("memory", memory, f"(batch, steps, {d})", dim=3, size=d)
        causal = causal_valid_lens(X.shape[0], X.shape[1], X.device)  # (B, T)
        X = self._sublayer(
            X, self.norm1, lambda H: self.self_attention(H, H, H, causal)
        )
        X = self._sublayer(
            X,
            self.norm2,
            lambda H: self.cross_attention(H, memory, memory, src_len),
        )
        return self._sublayer(X, self.norm3, self.ffn)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention's keys and values, ``2 x (B, h, S, d_h)``: computed once per source sentence."""
        a, d = self.cross_attention, self.norm1.normalized_shape[0]
        check_tensor("memory", memory, f"(batch, source steps, {d})", dim=3, size=d)
        return a.split_heads(a.W_k(memory)), a.split_heads(a.W_v(memory))

    def step(
        self,
        x: torch.Tensor,
        cache: tuple[torch.Tensor, torch.Tensor],
        memory_kv: tuple[torch.Tensor, torch.Tensor],
        src_len: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Decode new positions with a key-value cache (inference; eval mode).

        Args:
            x: ``(B, m, d)`` the new positions' inputs (``m = 1`` when decoding
                token by token).
            cache: self-attention keys and values of the ``t`` earlier positions,
                ``2 x (B, h, t, d_h)`` (``t = 0`` at the first step).
            memory_kv: :meth:`memory_kv` of the encoder outputs,
                ``2 x (B, h, S, d_h)``.

        Returns:
            ``(B, m, d)`` and the cache grown to ``t + m`` positions. Each step
            projects only the new positions, instead of recomputing every earlier
            one; the result equals :meth:`forward`'s rows ``t .. t + m - 1``. New
            position ``i`` sees the cache and new positions ``<= i`` (causal). Both
            attentions keep their weights, whatever ``keep_weights`` says.
        """
        check_kv_cache(
            x,
            cache,
            memory_kv,
            self.norm1.normalized_shape[0],
            self.self_attention.num_heads,
        )
        a, t, m = self.self_attention, cache[0].shape[2], x.shape[1]
        causal = (
            None
            if m == 1
            else torch.arange(t + 1, t + m + 1, device=x.device).expand(
                x.shape[0], m
            )
        )  # (B, m)
        new_cache = cache

        def self_attend(H: torch.Tensor) -> torch.Tensor:
            nonlocal new_cache
            # (B, h, m, d_h) each
            q, k, v = (a.split_heads(W(H)) for W in (a.W_q, a.W_k, a.W_v))
            new_cache = (
                torch.cat([cache[0], k], dim=2),
                torch.cat([cache[1], v], dim=2),
            )  # (B, h, t + m, d_h)
            return a.W_o(
                a.merge_heads(a.attend(q, *new_cache, causal, keep_weights=True))
            )

        def cross_attend(
            H: torch.Tensor,
        ) -> torch.Tensor:  # keeps the weights: decoding reports the alignment
            c = self.cross_attention
            return c.W_o(
                c.merge_heads(
                    c.attend(
                        c.split_heads(c.W_q(H)),
                        *memory_kv,
                        src_len,
                        keep_weights=True,
                    )
                )
            )

        x = self._sublayer(x, self.norm1, self_attend)
        x = self._sublayer(x, self.norm2, cross_attend)
        return self._sublayer(x, self.norm3, self.ffn), new_cache


def _check_stack(
    vocab_size: object, num_layers: object, max_len: object
) -> tuple[int, int]:
    """An encoder's or decoder's sizes: ``vocab_size``, ``num_layers`` and ``max_len`` at least 1."""
    check_int("num_layers", num_layers)
    return check_int("vocab_size", vocab_size), check_int("max_len", max_len)


class _Embed(nn.Module):
    """Token embedding (optionally times ``sqrt(d)``) plus the sinusoidal positions:
    ``(B, T) -> (B, T, d)``."""

    def __init__(
        self,
        vocab_size: int,
        num_hiddens: int,
        dropout: float,
        max_len: int,
        scale: bool,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout, max_len)
        self.scale = math.sqrt(num_hiddens) if scale else 1.0

    def forward(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        X = self.embedding(ids) * self.scale  # (B, T, d)
        if start == 0:
            return self.pos_encoding(X)
        # (1, T, d): positions start, start + 1, ...
        P = self.pos_encoding.P[:, start : start + ids.shape[1]]
        return self.pos_encoding.dropout(X + P)


class TransformerEncoder(nn.Module):
    """Embedding + positions + ``num_layers`` :class:`EncoderBlock` s: ``src (B, S), src_len (B,) -> (B, S, d)``.

    With ``scale_embeddings`` the embeddings are multiplied by ``sqrt(d)`` as in
    Vaswani et al. (2017, section 3.4). A pre-norm stack ends with a LayerNorm.
    Each block's weights are in ``blocks[i].attention.attention_weights``.
    """

    def __init__(
        self, vocab_size: int, num_hiddens: int, ffn_num_hiddens: int, num_heads: int, num_layers: int,
        dropout: float = 0.0, *, norm_first: bool = False, max_len: int = 64, scale_embeddings: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.vocab_size, self.max_len = _check_stack(
            vocab_size, num_layers, max_len
        )
        self.embed = _Embed(
            vocab_size, num_hiddens, dropout, max_len, scale_embeddings
        )
        self.blocks = nn.ModuleList(
            EncoderBlock(
                num_hiddens,
                ffn_num_hiddens,
                num_heads,
                dropout,
                norm_first=norm_first,
            )
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(num_hiddens) if norm_first else nn.Identity()

    def forward(self, src: torch.Tensor, src_len: torch.Tensor) -> torch.Tensor:
        check_token_ids(
            src,
            src_len,
            vocab_size=self.vocab_size,
            max_len=self.max_len,
            what="src",
        )
        X = self.embed(src)  # (B, S, d)
        for block in self.blocks:
            X = block(X, src_len)
        return self.final_norm(X)


def _check_memory(memory: object) -> None:
    if not isinstance(memory, Memory):
        raise TypeError(
            f"memory must be the Memory that encode() returned, got {_describe(memory)}"
        )


class TransformerDecoder(nn.Module):
    """Embedding + positions + ``num_layers`` :class:`DecoderBlock` s + a linear layer to the vocabulary.

    ``forward(y_in (B, T), memory (B, S, d), src_len (B,))`` -> logits ``(B, T, V)``
    (teacher forcing); :meth:`step` decodes one token with a key-value cache.
    """

    def __init__(
        self, vocab_size: int, num_hiddens: int, ffn_num_hiddens: int, num_heads: int, num_layers: int,
        dropout: float = 0.0, *, norm_first: bool = False, max_len: int = 64, scale_embeddings: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.vocab_size, self.max_len = _check_stack(
            vocab_size, num_layers, max_len
        )
        self.num_heads = num_heads
        self.embed = _Embed(
            vocab_size, num_hiddens, dropout, max_len, scale_embeddings
        )
        self.blocks = nn.ModuleList(
            DecoderBlock(
                num_hiddens,
                ffn_num_hiddens,
                num_heads,
                dropout,
                norm_first=norm_first,
            )
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(num_hiddens) if norm_first else nn.Identity()
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def forward(
        self, y_in: torch.Tensor, memory: torch.Tensor, src_len: torch.Tensor
    ) -> torch.Tensor:
        self._check_inputs(y_in, memory)
        X = self.embed(y_in)  # (B, T, d)
        for block in self.blocks:
            X = block(X, memory, src_len)
        return self.dense(self.final_norm(X))  # (B, T, V)

    def _check_inputs(self, y_in: object, memory: object) -> None:
        """Target ids ``(B, T)`` of this vocabulary and the encoded source ``(B, S, d)``."""
        check_token_ids(
            y_in,
            None,
            vocab_size=self.vocab_size,
            max_len=self.max_len,
            what="target",
        )
        d = self.dense.in_features
        check_tensor("memory", memory, f"(batch, source steps, {d})", dim=3, size=d)
        if memory.shape[0] != y_in.shape[0]:
            raise ValueError(
                f"the target and the encoded source (memory) must hold the same examples, "
                f"got batches {y_in.shape[0]} and {memory.shape[0]}"
            )

    def init_state(self, memory: Memory) -> tuple[torch.Tensor, ...]:
        """The decoding state before the first token: empty self-attention caches, the encoder's keys/values.

        Four tensors with the batch on axis 1 (what :func:`attnbook.decoding.beam_search`
        reorders): self-attention keys and values ``(L, B, h, 0, d_h)`` and
        cross-attention keys and values ``(L, B, h, S, d_h)``.
        """
        _check_memory(memory)
        cross = [block.memory_kv(memory.outputs) for block in self.blocks]
        ck, cv = (
            torch.stack([k for k, _ in cross]),
            torch.stack([v for _, v in cross]),
        )  # (L, B, h, S, d_h)
        empty = ck[:, :, :, :0]  # (L, B, h, 0, d_h)
        return empty, empty, ck, cv

    def _check_step(self, y_prev: object, state: object, memory: object) -> None:
        """:meth:`step`'s inputs: ids ``(B,)`` of this vocabulary, the four state tensors, a Memory."""
        _check_memory(memory)
        if not (
            isinstance(state, (tuple, list))
            and len(state) == 4
            and all(isinstance(x, torch.Tensor) and x.dim() == 5 for x in state)
        ):
            raise TypeError(
                "state must be the four (layers, batch, heads, n, d_h) tensors of init_state() "
                f"or of the previous step, got {type(state).__name__}"
            )
        check_step_ids(y_prev, state[0].shape[1], self.vocab_size)

    def step(
        self, y_prev: torch.Tensor, state: tuple[torch.Tensor, ...], memory: Memory
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """One decoding step: previous tokens ``(B,)`` -> logits ``(B, V)``, the grown state, and the last
        layer's cross-attention weights averaged over heads, ``(B, S)``."""
        self._check_step(y_prev, state, memory)
        sk, sv, ck, cv = state
        t = sk.shape[3]  # positions decoded so far
        if t >= self.max_len:
            raise ValueError(
                f"cannot decode position {t}: the positional table has max_len={self.max_len}"
            )
        X = self.embed(y_prev[:, None], start=t)  # (B, 1, d)
        new_k, new_v = [], []
        for i, block in enumerate(self.blocks):
            X, (k, v) = block.step(
                X, (sk[i], sv[i]), (ck[i], cv[i]), memory.src_len
            )
            new_k.append(k)
            new_v.append(v)
        logits = self.dense(self.final_norm(X)).squeeze(1)  # (B, V)
        weights = (
            self.blocks[-1].cross_attention.attention_weights.mean(1).squeeze(1)
        )  # (B, h, 1, S) -> (B, S)
        return logits, (torch.stack(new_k), torch.stack(new_v), ck, cv), weights


class Transformer(nn.Module):
    """The encoder-decoder Transformer (Vaswani et al., 2017): ``forward(src, src_len, y_in)`` -> ``(B, T, V)``.

    Same interface as :class:`attnbook.seq2seq.Seq2Seq`: :meth:`encode` returns
    the decoder's :class:`~attnbook.decoding.Memory` and initial state, and
    ``decoder.step`` continues from it, so the decoding functions of
    :mod:`attnbook.decoding` work for both.
    """

    def __init__(
        self, encoder: TransformerEncoder, decoder: TransformerDecoder
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    @classmethod
    def build(
        cls, src_vocab_size: int, tgt_vocab_size: int, num_hiddens: int = 64,
        ffn_num_hiddens: int = 128, num_heads: int = 4, num_layers: int = 2,
        dropout: float = 0.1, *, norm_first: bool = False,
        max_len: int = 64, scale_embeddings: bool = False,
    ) -> Transformer:  # fmt: skip
        """An encoder and a decoder of the same sizes."""
        kw = {
            "dropout": dropout,
            "norm_first": norm_first,
            "max_len": max_len,
            "scale_embeddings": scale_embeddings,
        }
        return cls(
            TransformerEncoder(
                src_vocab_size,
                num_hiddens,
                ffn_num_hiddens,
                num_heads,
                num_layers,
                **kw,
            ),
            TransformerDecoder(
                tgt_vocab_size,
                num_hiddens,
                ffn_num_hiddens,
                num_heads,
                num_layers,
                **kw,
            ),
        )

    def encode(
        self, src: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[Memory, tuple[torch.Tensor, ...]]:
        """Run the encoder; return the memory and the decoder's initial state (see ``init_state``)."""
        outputs = self.encoder(src, src_len)  # (B, S, d)
        memory = Memory(outputs, src_len.to(outputs.device))
        return memory, self.decoder.init_state(memory)

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor, y_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: ``src (B, S)``, ``src_len (B,)``, ``y_in (B, T)`` ->
        logits ``(B, T, V)``."""
        return self.decoder(y_in, self.encoder(src, src_len), src_len)


def attention_maps(
    model: Transformer,
    src: torch.Tensor,
    src_len: torch.Tensor,
    y_in: torch.Tensor,
    y_len: torch.Tensor,
) -> dict[str, list[torch.Tensor]]:
    """All attention weights of one teacher-forced pass, per example, cut to length.

    Runs ``model(src, src_len, y_in)`` once (with the model's own attention, which
    keeps its weights) and returns, for each example ``i``, the weights of all
    layers and heads trimmed to its ``src_len[i]`` source and ``y_len[i]`` target
    positions -- the frames of a :class:`~attnbook.viz.HeatmapExplorer` with the
    example slider first.

    Returns:
        ``{"encoder": [(L, h, S_i, S_i)], "decoder": [(L, h, T_i, T_i)],
        "cross": [(L, h, T_i, S_i)]}``, one CPU tensor per example.
    """
    check_token_ids(src, src_len, what="src")
    check_token_ids(y_in, y_len, what="y_in")
    if y_in.shape[0] != src.shape[0]:
        raise ValueError(
            f"src and y_in must hold the same examples, got batches "
            f"{src.shape[0]} and {y_in.shape[0]}"
        )
    B = src.shape[0]
    with torch.no_grad(), _weights_kept(model, True):  # also inside fused_attention
        model(src, src_len, y_in)

    def stacked(layers: list[MultiHeadAttention]) -> torch.Tensor:
        return torch.stack([m.attention_weights for m in layers], 1).cpu()

    enc = stacked([b.attention for b in model.encoder.blocks])  # (B, L, h, S, S)
    dec = [b.self_attention for b in model.decoder.blocks]
    self_w = stacked(dec)  # (B, L, h, T, T)
    cross = stacked([b.cross_attention for b in model.decoder.blocks])
    S, T = src_len.tolist(), y_len.tolist()
    return {
        "encoder": [enc[i, ..., : S[i], : S[i]] for i in range(B)],
        "decoder": [self_w[i, ..., : T[i], : T[i]] for i in range(B)],
        "cross": [cross[i, ..., : T[i], : S[i]] for i in range(B)],
    }
