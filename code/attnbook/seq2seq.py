"""Recurrent encoder-decoder (seq2seq) models, with and without Bahdanau attention (chapter 4).

* :class:`Seq2SeqEncoder` -- an embedding and a GRU over the source; it returns
  the hidden state at *every* position (the "annotations" ``h_1..h_S``) and the
  final state.
* :class:`Seq2SeqDecoder` -- a GRU that emits one target token per step. Its
  input at step ``t`` is the embedding of the previous token concatenated with a
  context vector ``c_t``:

  - with an ``attention`` module, ``c_t`` is attention pooling of the encoder
    states, queried by the decoder's **previous** hidden state ``s_{t-1}``
    (Bahdanau, Cho & Bengio, 2015);
  - with ``attention=None``, ``c_t`` is the encoder's final state at every step:
    the fixed-length "thought vector" of Cho et al. (2014) and Sutskever et
    al. (2014), which attention was invented to replace.

Decoding (greedy, beam search, :func:`~attnbook.decoding.translate`) lives in
:mod:`attnbook.decoding`, shared with the Transformer of chapter 7.

Shapes: ``B`` batch, ``S`` source length, ``T`` target length, ``e`` embedding
size, ``h`` hidden size, ``V`` vocabulary size.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnbook._checks import (
    check_instance,
    check_int,
    check_step_ids,
    check_token_ids,
    tracing,
)
from attnbook.data.vocab import PAD
from attnbook.decoding import Memory, State

__all__ = ["Seq2Seq", "Seq2SeqDecoder", "Seq2SeqEncoder", "xavier_init"]

Cell = Literal["gru", "lstm"]
#: ``"xavier"``: :func:`xavier_init` (the default); ``"torch"``: PyTorch's default initialisation.
Init = Literal["xavier", "torch"]
# State: a GRU state is ``(1, B, d)``; an LSTM state is the pair ``(h, c)`` of such tensors.


def _rnn(cell: Cell, input_size: int, hidden_size: int) -> nn.Module:
    if cell == "gru":
        return nn.GRU(input_size, hidden_size, batch_first=True)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden_size, batch_first=True)
    raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights (Glorot & Bengio, 2010) for every linear and recurrent layer in ``module``.

    ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``; biases and embeddings
    keep PyTorch's defaults. PyTorch's own default, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    for every layer, starts the book's layers 1.2-2.4x narrower. This is how D2L
    initialises its seq2seq models, and with the same data, updates and budget it
    trains chapter 4's date model to a higher exact match.
    """
    check_instance("module", module)
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.RNNBase)):
            for name, p in layer.named_parameters(recurse=False):
                if name.startswith("weight") and not nn.parameter.is_lazy(p):
                    nn.init.xavier_uniform_(p)


def _init(module: nn.Module, init: Init) -> None:
    if init not in ("xavier", "torch"):
        raise ValueError(f"init must be 'xavier' or 'torch', got {init!r}")
    if init == "xavier":
        xavier_init(module)


def _hidden(state: State) -> torch.Tensor:
    """The hidden vector ``s`` of a GRU or LSTM state, ``(B, d)``."""
    h = state[0] if isinstance(state, tuple) else state  # (1, B, d)
    return h[-1]


class Seq2SeqEncoder(nn.Module):
    """Embedding + one recurrent layer over the source tokens.

    ``forward(src (B, S), src_len (B,))`` returns ``outputs (B, S, d)`` -- the
    hidden state after each source token, zero at padded positions -- and the
    final state (``(1, B, d)``, taken at each sequence's last *real* token).

    Padding comes after a sequence's tokens and the recurrent layer reads left to
    right, so the padding cannot change the states before it: a GRU runs over the
    padded batch as it is, and its final state is the output at position
    ``src_len - 1``. An LSTM's final state also holds its cell state, which is not
    among the outputs, so for an LSTM the batch is packed instead. (Packing costs
    time: on a CPU, a packed GRU's backward pass zero-fills its whole input-gate
    tensor at every time step.)
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        num_hiddens: int,
        cell: Cell = "gru",
        init: Init = "xavier",
    ) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size)
        self.embedding = nn.Embedding(
            vocab_size, check_int("embed_size", embed_size), padding_idx=PAD
        )
        self.rnn = _rnn(cell, embed_size, check_int("num_hiddens", num_hiddens))
        _init(self, init)

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        check_token_ids(src, src_len, vocab_size=self.vocab_size, what="src")
        x = self.embedding(src)  # (B, S, e)
        (B, S), src_len = src.shape, src_len.to(src.device)
        if tracing():  # exporting: one unpadded sequence
            return self.rnn(x)
        if isinstance(self.rnn, nn.LSTM):
            packed = pack_padded_sequence(
                x, src_len.cpu(), batch_first=True, enforce_sorted=False
            )
            outputs, state = self.rnn(packed)
            # (B, S, d)
            outputs, _ = pad_packed_sequence(
                outputs, batch_first=True, total_length=S
            )
            return outputs, state
        outputs, _ = self.rnn(x)  # (B, S, d)
        real = torch.arange(S, device=src.device) < src_len[:, None]  # (B, S)
        outputs = outputs * real.unsqueeze(-1)  # zero at padded positions
        final = outputs[torch.arange(B, device=src.device), src_len - 1]  # (B, d)
        return outputs, final.unsqueeze(0)  # state (1, B, d)


class Seq2SeqDecoder(nn.Module):
    """Recurrent decoder whose input at every step is ``[embedding of y_{t-1}; context c_t]``.

    With ``attention`` (e.g. :class:`attnbook.AdditiveAttention`), the context is
    Bahdanau et al.'s (2015) ``c_t = sum_j alpha_tj h_j`` with
    ``alpha_t = softmax_j a(s_{t-1}, h_j)``: the query is the decoder's previous
    hidden state, the keys and values are all encoder states, and padded source
    positions are masked. With ``attention=None`` the context is the encoder's
    final state at every step (Cho et al., 2014): the same decoder, minus attention.

    After :meth:`forward`, ``attention_weights`` holds ``(B, T, S)`` (or ``None``).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        num_hiddens: int,
        attention: nn.Module | None,
        cell: Cell = "gru",
        init: Init = "xavier",
    ) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size)
        self.embedding = nn.Embedding(
            vocab_size, check_int("embed_size", embed_size)
        )
        self.attention = attention
        self.rnn = _rnn(
            cell, embed_size + num_hiddens, check_int("num_hiddens", num_hiddens)
        )
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self.attention_weights: torch.Tensor | None = None
        _init(self, init)  # the attention module's layers included

    def _check_inputs(self, y_in: object, state: State) -> None:
        """Int64 ids of this vocabulary ``y_in (B, T)``, one row per example of ``state``."""
        check_token_ids(y_in, None, vocab_size=self.vocab_size, what="y_in")
        batch = _hidden(state).shape[0]
        if y_in.shape[0] != batch:
            raise ValueError(
                f"y_in has {y_in.shape[0]} examples but the source (the decoder's state) has {batch}"
            )

    def step(
        self, y_prev: torch.Tensor, state: State, memory: Memory
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """One decoding step: previous tokens ``(B,)`` -> logits ``(B, V)``, new
        state, weights ``(B, S)`` or None."""
        check_step_ids(y_prev, _hidden(state).shape[0], self.vocab_size)
        x = self.embedding(y_prev).unsqueeze(1)  # (B, 1, e)
        if self.attention is None:
            # (B, 1, d): the same vector at every step
            context, weights = memory.final, None
        else:
            # (B, 1, d): s_{t-1}, the previous hidden state
            query = _hidden(state).unsqueeze(1)
            h, lens = memory.outputs, memory.src_len  # keys = values = h_1..h_S
            if memory.keys is None:
                context = self.attention(query, h, h, lens)  # (B, 1, d)
            else:  # additive attention with W_k h_j computed once (Seq2Seq.encode)
                context = self.attention(
                    query, h, h, lens, projected_keys=memory.keys
                )
            # (B, 1, S) -> (B, S)
            weights = self.attention.attention_weights.squeeze(1)
        # input (B, 1, e + d) -> out (B, 1, d)
        out, state = self.rnn(torch.cat([x, context], dim=-1), state)
        return self.dense(out.squeeze(1)), state, weights  # (B, V)

    def forward(
        self, y_in: torch.Tensor, state: State, memory: Memory
    ) -> torch.Tensor:
        """Teacher forcing: ``y_in (B, T)`` are the previous *true* tokens; returns logits ``(B, T, V)``.

        With attention, step by step (each query is the state the previous step
        left). Without, every step's input ``[e(y_{t-1}); c]`` is known in advance,
        so one call of the recurrent layer runs all ``T`` steps: the same numbers
        as :meth:`step` in a loop, several times faster. ``y_in`` holds int64 ids of
        the target vocabulary, one row per example of ``state``, ``T >= 1``.
        """
        self._check_inputs(y_in, state)
        if self.attention is None:
            x = self.embedding(y_in)  # (B, T, e)
            context = memory.final.expand(-1, y_in.shape[1], -1)  # (B, T, d)
            out, _ = self.rnn(torch.cat([x, context], dim=-1), state)  # (B, T, d)
            self.attention_weights = None
            return self.dense(out)  # (B, T, V)
        logits, weights = [], []
        for t in range(y_in.shape[1]):
            step_logits, state, w = self.step(y_in[:, t], state, memory)
            logits.append(step_logits)
            weights.append(w)
        self.attention_weights = torch.stack(weights, dim=1)  # (B, T, S)
        return torch.stack(logits, dim=1)  # (B, T, V)


class Seq2Seq(nn.Module):
    """An encoder and a decoder; ``forward(src, src_len, y_in)`` returns logits ``(B, T, V)``."""

    def __init__(self, encoder: Seq2SeqEncoder, decoder: Seq2SeqDecoder) -> None:
        """``ValueError`` if the encoder's and the decoder's recurrent layers differ in kind or size
        (the decoder starts from the encoder's final state)."""
        super().__init__()
        enc, dec = getattr(encoder, "rnn", None), getattr(decoder, "rnn", None)
        # checked when both are recurrent layers (a test's toy decoder has none)
        both = isinstance(enc, nn.RNNBase) and isinstance(dec, nn.RNNBase)
        if both and (
            type(enc) is not type(dec) or enc.hidden_size != dec.hidden_size
        ):
            raise ValueError(
                "the encoder and the decoder must share the cell and num_hiddens, got "
                f"{type(enc).__name__}({enc.hidden_size}) and {type(dec).__name__}({dec.hidden_size})"
            )
        self.encoder = encoder
        self.decoder = decoder

    def encode(
        self, src: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[Memory, State]:
        """Run the encoder; return the decoder's memory and its initial state (the encoder's final state)."""
        outputs, state = self.encoder(src, src_len)
        final = _hidden(state).unsqueeze(1)  # (B, 1, d)
        attention = getattr(self.decoder, "attention", None)
        # W_k h_j once per input, not once per output step
        keys = (
            attention.project_keys(outputs)
            if hasattr(attention, "project_keys")
            else None
        )
        return Memory(outputs, src_len.to(outputs.device), final, keys), state

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor, y_in: torch.Tensor
    ) -> torch.Tensor:
        memory, state = self.encode(src, src_len)
        return self.decoder(y_in, state, memory)
