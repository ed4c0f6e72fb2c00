"""Scores for generated sequences: exact match and BLEU.

BLEU (Papineni et al., 2002) is the geometric mean of the modified n-gram
precisions ``p_1..p_N`` of a prediction against a reference, times a brevity
penalty for predictions shorter than their references:

    BLEU = BP * exp(mean_n log p_n),   BP = min(1, exp(1 - r / c)),

where ``p_n`` counts each predicted n-gram at most as often as it occurs in the
reference ("clipping"), ``c`` is the predicted and ``r`` the reference length.
At corpus level the counts are summed over all sentences *before* dividing.

This implementation follows sacreBLEU (Post, 2018) -- single reference,
pre-tokenised input, its default "exp" smoothing of zero counts -- and a test
checks that both agree. One case needs care: a prediction shorter than ``n``
has *no* n-grams, so ``p_n`` is 0/0. Here, as in sacreBLEU, such an order
makes corpus BLEU 0 (unless another sentence supplies n-grams of that order),
and sentence BLEU uses only the orders the prediction has (``effective_order``).
No division by zero in either case.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import torch

from attnbook._checks import check_int

__all__ = ["corpus_bleu", "exact_match", "sentence_bleu"]

#: One sequence: a string (its characters), a list of tokens (str or int ids) or a 1-D integer tensor of ids.
Tokens = Sequence[str] | Sequence[int] | torch.Tensor
#: The largest ``max_order`` accepted: BLEU uses 4, and each order costs a pass over the corpus.
MAX_ORDER = 10


def _tokens(seq: object, name: str) -> list:
    """One sequence as a list of hashable tokens (a tensor's ids become ints, so that equal ids match)."""
    if isinstance(seq, str):
        return list(seq)
    if isinstance(seq, torch.Tensor):
        if seq.dim() != 1 or seq.is_floating_point() or seq.is_complex():
            raise ValueError(
                f"each of {name} must be a 1-D integer tensor of ids, got {seq.dtype} {tuple(seq.shape)}"
            )
        return seq.tolist()
    if not isinstance(seq, Sequence):
        raise TypeError(
            f"each of {name} must be a string or a sequence of tokens, got {type(seq).__name__}"
        )
    out = []
    for token in seq:
        if (
            isinstance(token, torch.Tensor)
            and token.dim() == 0
            and not token.is_floating_point()
        ):
            token = int(token)
        if isinstance(token, numbers.Integral) and not isinstance(token, bool):
            # numpy ids, 0-d tensors: plain ints, so that equal ids compare equal
            token = int(token)
        elif not isinstance(token, str):
            raise TypeError(
                f"{name} tokens must be str or int ids, got {type(token).__name__} {token!r}"[
                    :200
                ]
            )
        out.append(token)
    return out


def _pairs(predictions: object, references: object) -> list[tuple[list, list]]:
    """Check the two lists (a 2-D tensor is read as a list of rows) and normalise every sequence."""
    seqs = {}
    for name, value in (("predictions", predictions), ("references", references)):
        if isinstance(value, torch.Tensor) and value.dim() == 2:
            value = list(value)
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError(
                f"{name} must be a list of token sequences (or strings), got {type(value).__name__}"
            )
        seqs[name] = [_tokens(seq, name) for seq in value]
    if len(seqs["predictions"]) != len(seqs["references"]):
        raise ValueError(
            f"need one reference per prediction, got {len(seqs['predictions'])} predictions "
            f"and {len(seqs['references'])} references"
        )
    if len(seqs["predictions"]) == 0:
        raise ValueError("predictions is empty; expected at least one")
    return list(zip(seqs["predictions"], seqs["references"], strict=True))


def exact_match(
    predictions: Sequence[Tokens], references: Sequence[Tokens]
) -> float:
    """Fraction of predictions equal to their reference, in [0, 1]."""
    pairs = _pairs(predictions, references)
    return sum(p == r for p, r in pairs) / len(pairs)


def _ngrams(tokens: list, n: int) -> Counter[tuple]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    predictions: Sequence[Tokens],
    references: Sequence[Tokens],
    *,
    max_order: int = 4,
    smooth: Literal["exp", "none"] = "exp",
    effective_order: bool = False,
) -> float:
    """Corpus-level BLEU on a 0-100 scale, one reference per prediction.

    Args:
        predictions, references: token sequences (lists of str or int ids, 1-D
            integer tensors, or one 2-D tensor of rows). A string is read as a sequence
            of *characters* (the date task is character level); split sentences
            into words yourself for word-level BLEU.
        max_order: the largest n-gram order N, 1 to :data:`MAX_ORDER` (4 in the BLEU paper).
        smooth: ``"exp"`` (sacreBLEU's default): the k-th order with zero matches
            gets precision ``1 / (2^k * total)`` instead of 0; ``"none"``: no smoothing.
        effective_order: use only the orders ``n`` for which the predictions
            contain any n-gram (what :func:`sentence_bleu` does).
    """
    pairs = _pairs(predictions, references)
    check_int("max_order", max_order)
    if max_order > MAX_ORDER:  # every order is a pass over the corpus
        raise ValueError(
            f"max_order must be at most {MAX_ORDER} (BLEU uses 4), got {max_order}"
        )
    if smooth not in ("exp", "none"):
        raise ValueError(f"smooth must be 'exp' or 'none', got {smooth!r}")
    correct, total = [0] * max_order, [0] * max_order
    pred_len = ref_len = 0
    for pred, ref in pairs:
        pred_len += len(pred)
        ref_len += len(ref)
        for n in range(1, max_order + 1):
            p, r = _ngrams(pred, n), _ngrams(ref, n)
            # clipped matches
            correct[n - 1] += sum(min(count, r[g]) for g, count in p.items())
            # 0, not negative, for predictions shorter than n
            total[n - 1] += max(len(pred) - n + 1, 0)
    if pred_len == 0 or not any(correct):
        return 0.0
    brevity = 1.0 if pred_len >= ref_len else math.exp(1 - ref_len / pred_len)
    log_precisions, halvings = [], 1
    for n in range(1, max_order + 1):
        if total[n - 1] == 0:  # no prediction has n-grams: p_n = 0/0
            if effective_order:
                break
            return 0.0
        if correct[n - 1] == 0:
            if smooth == "none":
                return 0.0
            halvings *= 2
            log_precisions.append(math.log(1 / (halvings * total[n - 1])))
        else:
            log_precisions.append(math.log(correct[n - 1] / total[n - 1]))
    return 100 * brevity * math.exp(sum(log_precisions) / len(log_precisions))


def sentence_bleu(
    prediction: Tokens, reference: Tokens, *, max_order: int = 4
) -> float:
    """BLEU of one prediction (0-100), smoothed and over the orders it has, like sacreBLEU's ``sentence_bleu``."""
    return corpus_bleu(
        [prediction],
        [reference],
        max_order=max_order,
        smooth="exp",
        effective_order=True,
    )
