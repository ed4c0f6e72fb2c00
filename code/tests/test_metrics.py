"""Exact match and BLEU; BLEU is checked against sacreBLEU, the reference implementation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnbook.metrics import corpus_bleu, exact_match, sentence_bleu

sacrebleu = pytest.importorskip("sacrebleu")


def sacre_corpus(
    preds: list[list[str]], refs: list[list[str]], **kw: object
) -> float:
    """sacreBLEU on pre-tokenised input: tokens joined by spaces, no further tokenisation."""
    bleu = sacrebleu.metrics.BLEU(tokenize="none", **kw)
    return bleu.corpus_score(
        [" ".join(p) for p in preds], [[" ".join(r) for r in refs]]
    ).score


def sacre_sentence(pred: list[str], ref: list[str]) -> float:
    return sacrebleu.sentence_bleu(
        " ".join(pred), [" ".join(ref)], tokenize="none"
    ).score


HAND_CASES = [
    ("the cat sat on the mat", "the cat sat on the mat"),  # perfect
    ("the cat sat on mat", "the cat sat on the mat"),  # shorter: brevity penalty
    (
        "the the the the the the",
        "the cat sat on the mat",
    ),  # clipping: "the" counts at most twice
    ("a b c d e", "a b x d e"),  # one substitution: no 4-gram matches -> smoothing
    (
        "mat cat",
        "the cat sat on the mat",
    ),  # shorter than the n-gram order: no 3- or 4-grams at all
    ("cat", "the cat"),  # a single token
    ("dog", "the cat"),  # nothing in common
]


@pytest.mark.parametrize(("pred", "ref"), HAND_CASES)
def test_sentence_bleu_matches_sacrebleu(pred: str, ref: str) -> None:
    p, r = pred.split(), ref.split()
    assert sentence_bleu(p, r) == pytest.approx(sacre_sentence(p, r), abs=1e-9)


@pytest.mark.parametrize("smooth", ["exp", "none"])
def test_corpus_bleu_matches_sacrebleu_on_the_hand_cases(smooth: str) -> None:
    preds = [p.split() for p, _ in HAND_CASES]
    refs = [r.split() for _, r in HAND_CASES]
    assert corpus_bleu(preds, refs, smooth=smooth) == pytest.approx(
        sacre_corpus(preds, refs, smooth_method=smooth), abs=1e-9
    )


def test_prediction_shorter_than_the_ngram_order_does_not_divide_by_zero() -> None:
    """A 2-token prediction has no 3- or 4-grams: precision 0/0. No ZeroDivisionError, and sacreBLEU's answers."""
    pred, ref = ["2023", "03"], ["2023", "03", "07"]
    assert (
        corpus_bleu([pred], [ref]) == 0.0 == sacre_corpus([pred], [ref])
    )  # corpus BLEU: order 3 missing -> 0
    s = sentence_bleu(pred, ref)  # sentence BLEU uses the orders the prediction has
    assert s == pytest.approx(sacre_sentence(pred, ref)) and 0 < s < 100
    assert s == pytest.approx(
        100 * math.exp(1 - 3 / 2)
    )  # both precisions are 1; only the brevity penalty is left
    assert corpus_bleu([[]], [ref]) == 0.0  # an empty prediction


def test_characters_of_a_string_are_tokens() -> None:
    assert corpus_bleu(["2023-03-07"], ["2023-03-07"]) == pytest.approx(100.0)
    assert corpus_bleu(["2023-03-08"], ["2023-03-07"]) == pytest.approx(
        sacre_corpus([list("2023-03-08")], [list("2023-03-07")])
    )


tokens = st.lists(st.sampled_from(list("abcde")), min_size=0, max_size=9)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(tokens, tokens), min_size=1, max_size=5))
def test_corpus_bleu_agrees_with_sacrebleu_on_random_corpora(
    pairs: list[tuple[list[str], list[str]]],
) -> None:
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    assert corpus_bleu(preds, refs) == pytest.approx(
        sacre_corpus(preds, refs), abs=1e-7
    )


@settings(max_examples=150, deadline=None)
@given(tokens.filter(bool), tokens.filter(bool))
def test_sentence_bleu_agrees_with_sacrebleu_on_random_pairs(
    pred: list[str], ref: list[str]
) -> None:
    assert sentence_bleu(pred, ref) == pytest.approx(
        sacre_sentence(pred, ref), abs=1e-7
    )


def test_exact_match() -> None:
    assert (
        exact_match(["2023-03-07", "1999-12-31"], ["2023-03-07", "1999-12-30"])
        == 0.5
    )
    assert exact_match([["a", "b"]], [["a", "b"]]) == 1.0


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: exact_match(["a"], ["a", "b"]),
            ValueError,
            "1 predictions and 2 references",
        ),
        (lambda: exact_match([], []), ValueError, "predictions is empty"),
        (
            lambda: corpus_bleu("abc", ["abc"]),
            TypeError,
            "predictions must be a list",
        ),
        (lambda: corpus_bleu(["a"], ["a"], max_order=0), ValueError, "max_order"),
        (
            lambda: corpus_bleu(["a"], ["a"], smooth="add-k"),
            ValueError,
            "smooth must be 'exp' or 'none'",
        ),
    ],
)
def test_bad_input(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()
