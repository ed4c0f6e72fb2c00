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

* :func:`greedy_decode` (with the attention weights of every step),
  :func:`beam_search`, :func:`predict` for a whole split, and :func:`translate`
  for one raw string.

Shapes: ``B`` batch, ``S`` source length, ``T`` target length, ``e`` embedding
size, ``h`` hidden size, ``V`` vocabulary size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnbook.data.vocab import BOS, EOS, PAD, Vocab

__all__ = [
    "Seq2SeqEncoder",
    "Seq2SeqDecoder",
    "Seq2Seq",
    "Memory",
    "Decoded",
    "Translation",
    "decoder_inputs",
    "greedy_decode",
    "beam_search",
    "predict",
    "translate",
]

Cell = Literal["gru", "lstm"]
#: A GRU state is ``(1, B, h)``; an LSTM state is the pair ``(h, c)`` of such tensors.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _rnn(cell: Cell, input_size: int, hidden_size: int) -> nn.Module:
    if cell == "gru":
        return nn.GRU(input_size, hidden_size, batch_first=True)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden_size, batch_first=True)
    raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")


def _hidden(state: State) -> torch.Tensor:
    """The hidden vector ``s`` of a GRU or LSTM state, ``(B, h)``."""
    h = state[0] if isinstance(state, tuple) else state  # (1, B, h)
    return h[-1]


def _select(state: State, index: torch.Tensor) -> State:
    """Reorder the batch of a state: ``state[:, index]`` (for beam search)."""
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)  # type: ignore[return-value]
    return state[:, index]


def _check_source(src: torch.Tensor, src_len: torch.Tensor) -> None:
    if not isinstance(src, torch.Tensor) or src.dim() != 2 or src.dtype != torch.long:
        raise ValueError(f"src must be a (batch, length) tensor of token ids (int64), got {getattr(src, 'shape', src)!r}")
    if not isinstance(src_len, torch.Tensor) or tuple(src_len.shape) != (src.shape[0],):
        raise ValueError(f"src_len must have shape ({src.shape[0]},), got {tuple(getattr(src_len, 'shape', ()))}")
    if src.shape[0] == 0 or src.shape[1] == 0:
        raise ValueError(f"src must not be empty, got shape {tuple(src.shape)}")
    if int(src_len.min()) < 1 or int(src_len.max()) > src.shape[1]:
        raise ValueError(
            f"src_len must lie in [1, {src.shape[1]}] (1 to the padded length), "
            f"got {int(src_len.min())}..{int(src_len.max())}"
        )


class Seq2SeqEncoder(nn.Module):
    """Embedding + one recurrent layer over the source tokens.

    ``forward(src (B, S), src_len (B,))`` returns ``outputs (B, S, h)`` -- the
    hidden state after each source token, zero at padded positions -- and the
    final state (``(1, B, h)``, taken at each sequence's last *real* token).
    Packing the padded batch is what makes the final state ignore the padding.
    """

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, cell: Cell = "gru") -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=PAD)
        self.rnn = _rnn(cell, embed_size, num_hiddens)

    def forward(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, State]:
        _check_source(src, src_len)
        x = self.embedding(src)  # (B, S, e)
        packed = pack_padded_sequence(x, src_len.cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])  # (B, S, h)
        return outputs, state


@dataclass(frozen=True)
class Memory:
    """What the decoder may read about the source.

    Attributes:
        outputs: encoder states ``(B, S, h)``: the keys and values of attention.
        src_len: ``(B,)`` valid source lengths: attention's mask.
        final: the encoder's final hidden vector ``(B, 1, h)``: the fixed context without attention
            (``None`` for a model without one, e.g. the Transformer of chapter 7).
    """

    outputs: torch.Tensor
    src_len: torch.Tensor
    final: torch.Tensor | None = None

    def select(self, index: torch.Tensor) -> Memory:
        """The memory of examples ``index`` (e.g. each repeated ``k`` times for beam search)."""
        return Memory(self.outputs[index], self.src_len[index], None if self.final is None else self.final[index])


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
        self, vocab_size: int, embed_size: int, num_hiddens: int, attention: nn.Module | None, cell: Cell = "gru"
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.attention = attention
        self.rnn = _rnn(cell, embed_size + num_hiddens, num_hiddens)
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self.attention_weights: torch.Tensor | None = None

    def step(
        self, y_prev: torch.Tensor, state: State, memory: Memory
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """One decoding step: previous tokens ``(B,)`` -> logits ``(B, V)``, new state, weights ``(B, S)`` or None."""
        x = self.embedding(y_prev).unsqueeze(1)  # (B, 1, e)
        if self.attention is None:
            context, weights = memory.final, None  # (B, 1, h): the same vector at every step
        else:
            query = _hidden(state).unsqueeze(1)  # (B, 1, h): s_{t-1}, the previous hidden state
            context = self.attention(query, memory.outputs, memory.outputs, memory.src_len)  # (B, 1, h)
            weights = self.attention.attention_weights.squeeze(1)  # (B, 1, S) -> (B, S)
        out, state = self.rnn(torch.cat([x, context], dim=-1), state)  # input (B, 1, e + h) -> out (B, 1, h)
        return self.dense(out.squeeze(1)), state, weights  # (B, V)

    def forward(self, y_in: torch.Tensor, state: State, memory: Memory) -> torch.Tensor:
        """Teacher forcing: ``y_in (B, T)`` are the previous *true* tokens; returns logits ``(B, T, V)``."""
        logits, weights = [], []
        for t in range(y_in.shape[1]):
            step_logits, state, w = self.step(y_in[:, t], state, memory)
            logits.append(step_logits)
            weights.append(w)
        self.attention_weights = None if self.attention is None else torch.stack(weights, dim=1)  # (B, T, S)
        return torch.stack(logits, dim=1)  # (B, T, V)


class Seq2Seq(nn.Module):
    """An encoder and a decoder; ``forward(src, src_len, y_in)`` returns logits ``(B, T, V)``."""

    def __init__(self, encoder: Seq2SeqEncoder, decoder: Seq2SeqDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[Memory, State]:
        """Run the encoder; return the decoder's memory and its initial state (the encoder's final state)."""
        outputs, state = self.encoder(src, src_len)
        final = _hidden(state).unsqueeze(1)  # (B, 1, h)
        return Memory(outputs, src_len.to(outputs.device), final), state

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, y_in: torch.Tensor) -> torch.Tensor:
        memory, state = self.encode(src, src_len)
        return self.decoder(y_in, state, memory)


def decoder_inputs(tgt: torch.Tensor) -> torch.Tensor:
    """Teacher forcing's inputs: ``<bos>`` followed by the targets shifted right by one, ``(B, T)``."""
    bos = torch.full_like(tgt[:, :1], BOS)
    return torch.cat([bos, tgt[:, :-1]], dim=1)


@dataclass(frozen=True)
class Decoded:
    """The output of a decoder run.

    Attributes:
        tokens: ``(B, T)`` token ids, ``<eos>`` included, ``<pad>`` after it.
        lengths: ``(B,)`` tokens up to and including ``<eos>`` (``T`` if it never came).
        scores: ``(B,)`` log-probability of each output under the model.
        attention: ``(B, T, S)`` attention weights of every step (greedy decoding
            with attention only; rows after ``<eos>`` are zero).
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    scores: torch.Tensor
    attention: torch.Tensor | None = None


def _check_max_len(max_len: int) -> None:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")


def _lengths(tokens: torch.Tensor) -> torch.Tensor:
    """Position of the first ``<eos>`` plus one, or ``T`` where there is none."""
    is_eos = tokens == EOS  # (B, T)
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1) + 1, tokens.shape[1])
    return first.long()


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor, max_len: int) -> Decoded:
    """Pick the most likely token at every step until ``<eos>`` or ``max_len`` tokens.

    ``<pad>`` is never generated (it only fills the space after ``<eos>``). Returns the tokens, their log-probability and -- if the decoder has attention
    -- the attention weights of every step, ``(B, T, S)``.
    """
    _check_max_len(max_len)
    was_training = model.training
    model.eval()
    memory, state = model.encode(src, src_len)
    B = src.shape[0]
    y = torch.full((B,), BOS, dtype=torch.long, device=memory.outputs.device)
    done = torch.zeros(B, dtype=torch.bool, device=y.device)
    scores = torch.zeros(B, device=y.device)
    tokens, weights = [], []
    for _ in range(max_len):
        logits, state, w = model.decoder.step(y, state, memory)
        logp = logits.log_softmax(-1)  # (B, V)
        y = logp.index_fill(1, torch.tensor([PAD], device=y.device), float("-inf")).argmax(-1)  # (B,), never <pad>
        scores += torch.where(done, 0.0, logp.gather(1, y[:, None]).squeeze(1))
        y = y.masked_fill(done, PAD)
        tokens.append(y)
        if w is not None:
            weights.append(w.masked_fill(done[:, None], 0.0))  # no attention after <eos>
        done = done | (y == EOS)
        if bool(done.all()):
            break
    model.train(was_training)
    out = torch.stack(tokens, dim=1)  # (B, T)
    attention = torch.stack(weights, dim=1) if weights else None  # (B, T, S)
    return Decoded(out, _lengths(out), scores, attention)


@torch.no_grad()
def beam_search(
    model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor, max_len: int, beam_size: int = 3
) -> Decoded:
    """Keep the ``beam_size`` most probable partial outputs at every step; return the best finished one.

    Outputs are ranked by their total log-probability (no length normalisation:
    every target of the date task has the same length). ``beam_size=1`` is
    greedy decoding. All examples of the batch are searched together.
    """
    _check_max_len(max_len)
    if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive int, got {beam_size!r}")
    was_training = model.training
    model.eval()
    memory, state = model.encode(src, src_len)
    B, k, device = src.shape[0], beam_size, memory.outputs.device
    repeat = torch.arange(B, device=device).repeat_interleave(k)  # (B*k,): example of every beam
    memory, state = memory.select(repeat), _select(state, repeat)
    scores = torch.full((B, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # start from one beam, or the first step would pick the same token k times
    seqs = torch.zeros(B, k, 0, dtype=torch.long, device=device)
    finished = torch.zeros(B, k, dtype=torch.bool, device=device)
    y = torch.full((B * k,), BOS, dtype=torch.long, device=device)
    for _ in range(max_len):
        logits, state, _ = model.decoder.step(y, state, memory)
        logp = logits.log_softmax(-1).view(B, k, -1)  # (B, k, V)
        V = logp.shape[-1]
        # a finished beam may only continue with <pad>, at no cost; an unfinished one never with <pad>
        logp = torch.where(finished[..., None], float("-inf"), logp)
        logp[..., PAD] = torch.where(finished, 0.0, float("-inf"))
        candidates = (scores[..., None] + logp).view(B, k * V)  # (B, k*V)
        scores, flat = candidates.topk(k, dim=1)  # (B, k)
        beam, token = flat // V, flat % V  # which beam each survivor extends, with which token
        seqs = torch.cat([seqs.gather(1, beam[..., None].expand(-1, -1, seqs.shape[2])), token[..., None]], dim=2)
        finished = finished.gather(1, beam) | (token == EOS)
        state = _select(state, (beam + torch.arange(B, device=device)[:, None] * k).view(-1))  # (B*k,)
        y = token.view(-1)
        if bool(finished.all()):
            break
    best = scores.argmax(1)  # (B,)
    tokens = seqs[torch.arange(B, device=device), best]  # (B, T)
    model.train(was_training)
    return Decoded(tokens, _lengths(tokens), scores.gather(1, best[:, None]).squeeze(1))


def predict(
    model: Seq2Seq,
    src: torch.Tensor,
    src_len: torch.Tensor,
    tgt_vocab: Vocab,
    *,
    max_len: int,
    beam_size: int = 1,
    batch_size: int = 500,
) -> list[str]:
    """Decode every row of ``src`` (greedy, or beam search if ``beam_size > 1``) and spell the outputs."""
    device = next(model.parameters()).device
    out: list[str] = []
    for i in range(0, src.shape[0], batch_size):
        s, n = src[i : i + batch_size].to(device), src_len[i : i + batch_size].to(device)
        s = s[:, : int(n.max())]  # drop columns that are padding in every row of this batch
        if beam_size == 1:
            decoded = greedy_decode(model, s, n, max_len)
        else:
            decoded = beam_search(model, s, n, max_len, beam_size)
        out.extend(tgt_vocab.decode(row) for row in decoded.tokens.cpu())
    return out


class TranslationTask(Protocol):
    """What :func:`translate` needs to know about a task (e.g. :class:`attnbook.data.DateTask`)."""

    src_vocab: Vocab
    tgt_vocab: Vocab
    max_target_len: int

    def encode_sources(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class Translation:
    """One translated string.

    Attributes:
        source: the input; ``unknown``: its characters that the model has never
            seen (they were read as ``<unk>``).
        output: the decoded string; ``output_tokens``: its tokens, ``"<eos>"`` included.
        attention: ``(len(output_tokens), len(source))`` weights, or None without attention.
    """

    source: str
    output: str
    output_tokens: list[str]
    unknown: list[str]
    attention: torch.Tensor | None


def translate(model: Seq2Seq, task: TranslationTask, text: str, *, beam_size: int = 1) -> Translation:
    """Translate one raw string, e.g. ``translate(model, task, "June 1, 1999").output == "1999-06-01"``.

    Characters the model has never seen are read as ``<unk>`` and listed in
    ``Translation.unknown``. ``TypeError`` if ``text`` is not a ``str``;
    ``ValueError`` if it is empty, blank or longer than the task accepts.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    src, src_len = task.encode_sources([text])
    device = next(model.parameters()).device
    if beam_size == 1:
        decoded = greedy_decode(model, src.to(device), src_len.to(device), task.max_target_len)
    else:
        decoded = beam_search(model, src.to(device), src_len.to(device), task.max_target_len, beam_size)
    n = int(decoded.lengths[0])
    ids = decoded.tokens[0, :n].tolist()
    attention = None if decoded.attention is None else decoded.attention[0, :n].cpu()
    return Translation(
        source=text,
        output=task.tgt_vocab.decode(ids),
        output_tokens=[task.tgt_vocab.tokens[i] for i in ids],
        unknown=task.src_vocab.unknown(text),
        attention=attention,
    )
