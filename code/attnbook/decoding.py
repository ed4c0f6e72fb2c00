"""Decoding for every encoder-decoder of the book: the RNN models of chapter 4 and the Transformer of chapter 7.

Both model families expose ``encode(src, src_len) -> (Memory, state)`` and
``decoder.step(y, state, memory)``, so one implementation decodes them all:

* :class:`Memory` -- what the decoder may read about the source;
* :func:`decoder_inputs` -- teacher forcing's inputs (the targets shifted right);
* :func:`greedy_decode` (with the attention weights of every step),
  :func:`beam_search`, :func:`predict` for a whole split, and :func:`translate`
  for one raw string.

Shapes: ``B`` batch, ``S`` source length, ``T`` target length, ``V`` vocabulary size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from attnbook._checks import check_instance, check_int, check_token_ids
from attnbook.data.vocab import BOS, EOS, PAD, Vocab

if TYPE_CHECKING:
    from attnbook.seq2seq import Seq2Seq

__all__ = [
    "Decoded",
    "Memory",
    "Translation",
    "alignment_explorer",
    "beam_search",
    "decoder_inputs",
    "greedy_decode",
    "predict",
    "translate",
]

#: A decoder's recurrent state: a tensor ``(layers, B, ...)`` or a tuple of them (an LSTM's ``(h, c)``,
#: the Transformer's caches), always with the batch on axis 1.
State = torch.Tensor | tuple[torch.Tensor, ...]


def _select(state: State, index: torch.Tensor) -> State:
    """Reorder the batch of a state: ``state[:, index]`` (for beam search)."""
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)  # type: ignore[return-value]
    return state[:, index]


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the ``with`` block; the caller's mode comes back afterwards, after an error too."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class Memory:
    """What the decoder may read about the source.

    Attributes:
        outputs: encoder states ``(B, S, h)``: the keys and values of attention.
        src_len: ``(B,)`` valid source lengths: attention's mask.
        final: the encoder's final hidden vector ``(B, 1, d)``: the fixed context
            without attention (``None`` for a model without one, e.g. the
            Transformer of chapter 7).
        keys: the decoder's attention's projection of ``outputs`` (``W_k h_j`` of
            additive attention), computed once per input instead of at every step
            (``None``: each step computes what it needs).
    """

    outputs: torch.Tensor
    src_len: torch.Tensor
    final: torch.Tensor | None = None
    keys: torch.Tensor | None = None

    def select(self, index: torch.Tensor) -> Memory:
        """The memory of examples ``index`` (e.g. each repeated ``k`` times for beam search)."""
        return Memory(
            self.outputs[index],
            self.src_len[index],
            None if self.final is None else self.final[index],
            None if self.keys is None else self.keys[index],
        )


def decoder_inputs(tgt: torch.Tensor) -> torch.Tensor:
    """Teacher forcing's inputs: ``<bos>`` followed by the targets shifted right by one, ``(B, T)``.

    ``tgt`` must be an int64 ``(B, T)`` tensor of token ids with ``B, T >= 1``.
    """
    check_token_ids(tgt, None, what="tgt")
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


def _lengths(tokens: torch.Tensor) -> torch.Tensor:
    """Position of the first ``<eos>`` plus one, or ``T`` where there is none."""
    is_eos = tokens == EOS  # (B, T)
    first = torch.where(
        is_eos.any(1), is_eos.float().argmax(1) + 1, tokens.shape[1]
    )
    return first.long()


@torch.no_grad()
def greedy_decode(
    model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor, max_len: int
) -> Decoded:
    """Pick the most likely token at every step until ``<eos>`` or ``max_len`` tokens.

    ``<pad>`` is never generated (it only fills the space after ``<eos>``). Returns the tokens, their log-probability and -- if the decoder has attention
    -- the attention weights of every step, ``(B, T, S)``. The model runs in eval
    mode; its own mode is restored afterwards, also when an input is refused.
    """
    check_instance("model", model)
    check_int("max_len", max_len)
    with _eval_mode(model):
        memory, state = model.encode(src, src_len)
        B = src.shape[0]
        y = torch.full((B,), BOS, dtype=torch.long, device=memory.outputs.device)
        done = torch.zeros(B, dtype=torch.bool, device=y.device)
        scores = torch.zeros(B, device=y.device)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, w = model.decoder.step(y, state, memory)
            logp = logits.log_softmax(-1)  # (B, V)
            y = logp.index_fill(
                1, torch.tensor([PAD], device=y.device), float("-inf")
            ).argmax(-1)  # (B,), never <pad>
            scores += torch.where(done, 0.0, logp.gather(1, y[:, None]).squeeze(1))
            y = y.masked_fill(done, PAD)
            tokens.append(y)
            if w is not None:
                # no attention after <eos>
                weights.append(w.masked_fill(done[:, None], 0.0))
            done = done | (y == EOS)
            if bool(done.all()):
                break
    out = torch.stack(tokens, dim=1)  # (B, T)
    attention = torch.stack(weights, dim=1) if weights else None  # (B, T, S)
    return Decoded(out, _lengths(out), scores, attention)


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: torch.Tensor,
    src_len: torch.Tensor,
    max_len: int,
    beam_size: int = 3,
) -> Decoded:
    """Keep the ``beam_size`` most probable partial outputs at every step; return the best finished one.

    Outputs are ranked by their total log-probability (no length normalisation:
    every target of the date task has the same length). ``beam_size=1`` is
    greedy decoding; a beam wider than the target vocabulary is refused
    (``ValueError``). All examples of the batch are searched together. The model's
    mode is restored afterwards, as in :func:`greedy_decode`.
    """
    check_instance("model", model)
    check_int("max_len", max_len)
    check_int("beam_size", beam_size)
    # the target vocabulary (both model families' decoders end in a Linear ``dense``)
    vocab_size = getattr(
        getattr(model.decoder, "dense", None), "out_features", None
    )
    if vocab_size is not None and beam_size > vocab_size:
        raise ValueError(
            f"beam_size must be at most the target vocabulary size ({vocab_size}), got {beam_size}"
        )
    with _eval_mode(model):
        memory, state = model.encode(src, src_len)
        B, k, device = src.shape[0], beam_size, memory.outputs.device
        # (B*k,): example of every beam
        repeat = torch.arange(B, device=device).repeat_interleave(k)
        memory, state = memory.select(repeat), _select(state, repeat)
        scores = torch.full((B, k), float("-inf"), device=device)
        scores[:, 0] = (
            0.0  # start from one beam, or the first step would pick the same token k times
        )
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
            # which beam each survivor extends, with which token
            beam, token = (flat // V, flat % V)
            seqs = torch.cat(
                [
                    seqs.gather(1, beam[..., None].expand(-1, -1, seqs.shape[2])),
                    token[..., None],
                ],
                dim=2,
            )
            finished = finished.gather(1, beam) | (token == EOS)
            state = _select(
                state, (beam + torch.arange(B, device=device)[:, None] * k).view(-1)
            )  # (B*k,)
            y = token.view(-1)
            if bool(finished.all()):
                break
        best = scores.argmax(1)  # (B,)
        tokens = seqs[torch.arange(B, device=device), best]  # (B, T)
    return Decoded(
        tokens, _lengths(tokens), scores.gather(1, best[:, None]).squeeze(1)
    )


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
    """Decode every row of ``src`` (greedy, or beam search if ``beam_size > 1``) and spell the outputs.

    ``src (N, S)`` and ``src_len (N,)`` as a model's encoder takes them; the rows
    are decoded ``batch_size`` at a time, shortest first (each output depends only on
    its own row). Returns ``N`` strings, in the rows' order.
    """
    check_instance("model", model)
    check_token_ids(src, src_len, what="src")
    check_int("max_len", max_len)
    check_int("beam_size", beam_size)
    check_int("batch_size", batch_size)
    device = next(model.parameters()).device
    out: list[str] = [""] * src.shape[0]
    # rows of similar length in one batch: less padding for attention to score
    order = torch.argsort(src_len.cpu(), stable=True)
    for rows in order.split(batch_size):
        s, n = src[rows].to(device), src_len[rows].to(device)
        # drop columns that are padding in every row of this batch
        s = s[:, : int(n.max())]
        if beam_size == 1:
            decoded = greedy_decode(model, s, n, max_len)
        else:
            decoded = beam_search(model, s, n, max_len, beam_size)
        for i, tokens in zip(rows.tolist(), decoded.tokens.cpu()):
            out[i] = tgt_vocab.decode(tokens)
    return out


class TranslationTask(Protocol):
    """What :func:`translate` needs to know about a task (e.g. :class:`attnbook.data.DateTask`)."""

    src_vocab: Vocab
    tgt_vocab: Vocab
    max_target_len: int

    def encode_sources(
        self, texts: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def source_tokens(self, text: str) -> list[str]: ...


@dataclass(frozen=True)
class Translation:
    """One translated string.

    Attributes:
        source: the input; ``source_tokens``: what the model read (characters, or
            words after the task's tokenizer); ``unknown``: the distinct source
            tokens that the model has never seen (they were read as ``<unk>``).
        output: the decoded string; ``output_tokens``: its tokens, ``"<eos>"`` included.
        attention: ``(len(output_tokens), len(source_tokens))`` weights, or None without attention.
    """

    source: str
    output: str
    output_tokens: list[str]
    unknown: list[str]
    attention: torch.Tensor | None
    source_tokens: list[str] = field(default_factory=list)


def translate(
    model: Seq2Seq, task: TranslationTask, text: str, *, beam_size: int = 1
) -> Translation:
    """Translate one raw string, e.g. ``translate(model, task, "June 1, 1999").output == "1999-06-01"``.

    Source tokens (characters, or words for a word-level task) that the model has
    never seen are read as ``<unk>`` and listed in ``Translation.unknown``.
    ``TypeError`` if ``text`` is not a ``str``; ``ValueError`` if it is empty,
    blank or longer than the task accepts.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    check_int("beam_size", beam_size)
    src, src_len = task.encode_sources([text])
    tokens = task.source_tokens(text)
    device = next(model.parameters()).device
    if beam_size == 1:
        decoded = greedy_decode(
            model, src.to(device), src_len.to(device), task.max_target_len
        )
    else:
        decoded = beam_search(
            model,
            src.to(device),
            src_len.to(device),
            task.max_target_len,
            beam_size,
        )
    n = int(decoded.lengths[0])
    ids = decoded.tokens[0, :n].tolist()
    attention = (
        None if decoded.attention is None else decoded.attention[0, :n].cpu()
    )
    return Translation(
        source=text,
        output=task.tgt_vocab.decode(ids),
        output_tokens=[task.tgt_vocab.tokens[i] for i in ids],
        unknown=list(dict.fromkeys(t for t in tokens if t not in task.src_vocab)),
        attention=attention,
        source_tokens=tokens,
    )


def alignment_explorer(
    model: Seq2Seq, task: TranslationTask, texts: Sequence[str], **options
):
    """A :class:`~attnbook.viz.HeatmapExplorer` of the attention of ``model`` translating each of ``texts``.

    One example per text (the ``example`` slider), drawn at its own size: one row
    per output token, ``<eos>`` included, one column per source token, no padding.
    The ``output`` slider outlines one decoder step. ``options`` go to the
    explorer (e.g. ``row_title``). ``ValueError`` for an empty list or a model
    without attention; each text as :func:`translate` accepts it.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise ValueError(
            f"texts must be a non-empty list of strings, got {texts!r}"
        )
    results = [translate(model, task, text) for text in texts]
    if results[0].attention is None:
        raise ValueError(
            "the model has no attention weights to show (attention=None)"
        )
    from attnbook.viz import HeatmapExplorer  # the widget: only when one is drawn

    settings = {
        "row_title": "output token",
        "col_title": "input token",
        "row_slider": "output",
        "vmin": 0.0,
        "vmax": 1.0,
        "title": "Attention weights of the decoder",
    }
    return HeatmapExplorer(
        [r.attention.numpy() for r in results],
        axes={"example": list(texts)},
        row_labels=[r.output_tokens for r in results],
        col_labels=[r.source_tokens for r in results],
        **(settings | options),
    )
