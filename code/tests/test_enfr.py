"""The EN -> FR sentence pairs of chapter 7: seeded, disjoint splits, faithful to pyrealb, ambiguity as documented."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from attnbook.data import BOS, EOS, PAD, UNK, Vocab
from attnbook.data.enfr import (
    ADJECTIVES,
    NOUNS,
    PREPOSITIONS,
    PRONOUNS,
    VERBS,
    Clause,
    NounPhrase,
    english_twins,
    make_enfr,
    realise,
    realise_whole,
    sample_clause,
    tokenize_english,
)


@pytest.fixture(scope="module")
def task():
    return make_enfr(n_train=600, n_valid=100, n_test=200, seed=3)


def test_same_seed_same_data_other_seed_other_data(task) -> None:
    again = make_enfr(n_train=600, n_valid=100, n_test=200, seed=3)
    assert (
        again.train.sources == task.train.sources
        and again.test.targets == task.test.targets
    )
    assert (
        torch.equal(again.train.src, task.train.src)
        and again.src_vocab == task.src_vocab
    )
    other = make_enfr(n_train=600, n_valid=100, n_test=200, seed=4)
    assert other.train.sources != task.train.sources


def test_splits_are_disjoint_and_sized(task) -> None:
    train, valid, test = (
        set(s.sources) for s in (task.train, task.valid, task.test)
    )
    assert (len(train), len(valid), len(test)) == (
        600,
        100,
        200,
    )  # no duplicates inside a split either
    assert not train & valid and not train & test and not valid & test


def test_tensors_round_trip_to_the_sentences(task) -> None:
    for split in (task.train, task.test):
        for i in range(0, len(split), 37):
            n = int(split.src_len[i])
            assert task.src_vocab.decode(split.src[i, :n]) == split.sources[i]
            assert task.tgt_vocab.decode(split.tgt[i]) == split.targets[i]
            assert int(split.tgt[i, int(split.tgt_len[i]) - 1]) == EOS
            assert bool((split.src[i, n:] == PAD).all())
    assert task.src_vocab.tokens[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") and (
        PAD,
        BOS,
        EOS,
        UNK,
    ) == (0, 1, 2, 3)
    longest = max(int(s.tgt_len.max()) for s in (task.train, task.valid, task.test))
    assert longest <= task.max_target_len


def test_parts_realised_separately_equal_the_whole_sentence() -> None:
    rng = random.Random(11)
    for _ in range(120):
        c = sample_clause(rng)
        for lang in ("en", "fr"):
            assert realise(c, lang) == realise_whole(c, lang), c


def test_they_is_the_only_ambiguity() -> None:
    """Every English noun phrase, prepositional phrase and verb group has exactly one French realisation,
    except that "they" is ils or elles: so English -> French is a function up to that one choice."""
    adjectives = [None, *range(len(ADJECTIVES))]
    nps = [
        NounPhrase(*x)
        for x in itertools.product(
            range(len(NOUNS)), (False, True), (False, True), adjectives
        )
    ]
    pieces = {}
    for np in (
        nps
    ):  # as the object; subjects and PP objects reuse the same cached realisation
        c = Clause("he", 0, "present", False, np)
        pieces.setdefault(("np", realise(c, "en")[2:]), set()).add(
            realise(c, "fr")[3:]
        )
    tenses = ("present", "past", "future")
    for name, v, tense, neg in itertools.product(
        PRONOUNS, range(len(VERBS)), tenses, (False, True)
    ):
        c = Clause(name, v, tense, neg, nps[0])
        en, fr = realise(c, "en"), realise(c, "fr")
        pieces.setdefault(("vg", en[:-2]), set()).add(
            fr[:-2]
        )  # nps[0] is "a cat" / "un chat"
    for prep, np in itertools.product(range(len(PREPOSITIONS)), nps[::7]):
        c = Clause("he", 0, "present", False, nps[0], (prep, np))
        pieces.setdefault(("pp", realise(c, "en")[4:]), set()).add(
            realise(c, "fr")[5:]
        )
    ambiguous = {k: v for k, v in pieces.items() if len(v) > 1}
    assert ambiguous and all(
        k[0] == "vg" and k[1][0] == "they" for k in ambiguous
    ), list(ambiguous)[:3]
    assert all({v[0] for v in vs} == {"ils", "elles"} for vs in ambiguous.values())


def test_ambiguous_flags_mark_exactly_the_they_sentences(task) -> None:
    for split in (task.train, task.test):
        for c, source, flag in zip(split.clauses, split.sources, split.ambiguous):
            assert flag == source.startswith("they "), source
            for twin in english_twins(c):
                assert realise(twin, "en") == realise(c, "en") and realise(
                    twin, "fr"
                ) != realise(c, "fr")
    assert any(task.test.ambiguous) and not all(task.test.ambiguous)


def test_tokenize_and_encode_sources(task) -> None:
    assert tokenize_english("The cats didn't see I.") == "the cats didn' t see I"
    src, src_len = task.encode_sources(
        ["The old man will not see the cats.", "I eat a zebra"]
    )
    assert src.shape == (2, 8) and src_len.tolist() == [8, 4]
    assert src[1, 3].item() == UNK and task.src_vocab.unknown("I eat a zebra") == [
        "zebra"
    ]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda t: make_enfr(n_train=0), ValueError, "n_train"),
        (lambda t: make_enfr(n_valid=True), TypeError, "n_valid"),
        (lambda t: make_enfr(n_test=2.5), TypeError, "n_test"),
        (lambda t: make_enfr(seed=-1), ValueError, "seed"),
        (lambda t: make_enfr(n_train=200_000), ValueError, "at most 100000"),
        (
            lambda t: realise("the cat", "en"),
            TypeError,
            "expected a Clause, got str",
        ),
        (
            lambda t: realise(sample_clause(random.Random(0)), "de"),
            ValueError,
            "lang must be 'en' or 'fr', got 'de'",
        ),
        (lambda t: sample_clause(0), TypeError, "rng must be a random.Random"),
        (lambda t: t.encode_sources("the cat"), TypeError, "list of strings"),
        (lambda t: t.encode_sources([]), ValueError, "texts is empty"),
        (lambda t: t.encode_sources(["?!"]), ValueError, "without words"),
        (
            lambda t: t.encode_sources(["cat " * 30]),
            ValueError,
            "input has 30 words; at most 24",
        ),
        (lambda t: t.encode_sources([3]), TypeError, "text must be a str, got int"),
    ],
)
def test_bad_arguments(task, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(task)


# ------------------------------------------------------------------------------ word-level vocabulary
def test_word_vocab_round_trip_unknown_and_errors() -> None:
    v = Vocab.from_texts(["le chat", "l' arbre"], sep=" ")
    assert (
        v.tokens[4:] == ("arbre", "chat", "l'", "le")
        and "chat" in v
        and "<pad>" not in v
        and "ch" not in v
    )
    ids = v.encode("le  chien", eos=True)
    assert ids == [v.tokens.index("le"), UNK, EOS] and v.decode(ids) == "le <unk>"
    assert v.unknown("le chien chien") == ["chien"]
    with pytest.raises(
        ValueError, match=r"words not in the vocabulary: \['chien'\]"
    ):
        v.encode("le chien", strict=True)
    with pytest.raises(ValueError, match="expected at least one word"):
        v.encode("   ")
    with pytest.raises(ValueError, match="distinct words without whitespace"):
        Vocab(("<pad>", "<bos>", "<eos>", "<unk>", "a b"), sep=" ")
    with pytest.raises(ValueError, match="sep must be"):
        Vocab.from_texts(["x"], sep=",")
