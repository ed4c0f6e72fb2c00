"""English -> French sentence pairs realised by pyrealb, a word-level translation task for chapter 7.

Each example starts as one *abstract* sentence -- a :class:`Clause`: subject,
verb, tense, negation, object and an optional prepositional phrase, each noun
phrase with a determiner, a number and perhaps an adjective -- drawn by a seeded
generator over a small grammar. The realiser `pyrealb
<https://github.com/lapalme/pyrealb>`_ (G. Lapalme) turns it into English with
its English lexicon and into French with its French lexicon, so the pair is a
translation by construction: conjugation, agreement ("les grandes maisons"),
adjective placement ("the red car" -> "la voiture rouge"), elision ("l'arbre",
"n'a pas") and negation are pyrealb's. Nothing is downloaded.

**Speed.** Realising a whole sentence takes about a millisecond per language.
The parts of our sentences do not interact across phrase boundaries except for
subject-verb agreement, so :func:`realise` realises each noun phrase,
prepositional phrase and "subject + verb group" once, caches it, and joins the
pieces; a test checks that this equals realising the whole sentence with
:func:`realise_whole`.

**Ambiguity.** English "they" is French "ils" or "elles", and the generator
picks the gender with a fair coin. So a test sentence with subject "they" has
two correct-looking translations, only one of which is its reference:
:attr:`EnFrSplit.ambiguous` marks these examples, and no model can expect more
than half of them right. Everything else is one-to-one ("you" is always
"vous"); a test checks this over every noun phrase and verb group of the grammar.

Tokens are lower-case words; apostrophes end a token ("l'" "arbre"); the final
full stop is dropped. English "I" keeps its capital.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch

from attnbook._checks import check_int
from attnbook.data.vocab import SplitTensors, Vocab, check_texts, pad_batch

__all__ = [
    "ADJECTIVES",
    "NOUNS",
    "PREPOSITIONS",
    "PRONOUNS",
    "VERBS",
    "Clause",
    "EnFrSplit",
    "EnFrTask",
    "NounPhrase",
    "english_twins",
    "make_enfr",
    "realise",
    "realise_whole",
    "sample_clause",
    "tokenize_english",
]

Language = Literal["en", "fr"]
Tense = Literal["present", "past", "future"]

#: (English lemma, French lemma) pairs; French genders come from pyrealb's lexicon.
NOUNS: tuple[tuple[str, str], ...] = (
    ("cat", "chat"), ("dog", "chien"), ("bird", "oiseau"), ("tree", "arbre"), ("house", "maison"),
    ("car", "voiture"), ("book", "livre"), ("apple", "pomme"), ("girl", "fille"), ("boy", "garçon"),
    ("woman", "femme"), ("man", "homme"), ("teacher", "professeur"), ("student", "étudiant"),
    ("friend", "ami"), ("table", "table"), ("chair", "chaise"), ("flower", "fleur"), ("letter", "lettre"),
    ("door", "porte"), ("horse", "cheval"), ("window", "fenêtre"), ("child", "enfant"), ("song", "chanson"),
    ("picture", "image"), ("box", "boîte"), ("city", "ville"), ("garden", "jardin"),
)  # fmt: skip
#: Transitive verbs that take *avoir* in the passé composé (so the participle never agrees).
VERBS: tuple[tuple[str, str], ...] = (
    ("see", "voir"), ("eat", "manger"), ("like", "aimer"), ("find", "trouver"), ("take", "prendre"),
    ("watch", "regarder"), ("want", "vouloir"), ("buy", "acheter"), ("draw", "dessiner"), ("carry", "porter"),
    ("follow", "suivre"), ("know", "connaître"), ("hear", "entendre"), ("wash", "laver"), ("paint", "peindre"),
    ("open", "ouvrir"), ("sell", "vendre"),
)  # fmt: skip
#: Adjectives; French puts grand, petit, vieux, nouveau, beau, jeune before the noun, the others after it.
ADJECTIVES: tuple[tuple[str, str], ...] = (
    ("big", "grand"), ("small", "petit"), ("old", "vieux"), ("new", "nouveau"), ("beautiful", "beau"),
    ("young", "jeune"), ("red", "rouge"), ("black", "noir"), ("green", "vert"), ("happy", "heureux"),
    ("heavy", "lourd"), ("white", "blanc"),
)  # fmt: skip
PREPOSITIONS: tuple[tuple[str, str], ...] = (
    ("with", "avec"), ("in", "dans"), ("for", "pour"), ("without", "sans"), ("behind", "derrière"), ("under", "sous"),
)  # fmt: skip
#: Subject pronouns: name -> (person, plural, feminine). "they" comes in both genders; "you" is always "vous".
PRONOUNS: dict[str, tuple[int, bool, bool]] = {
    "I": (1, False, False), "you": (2, True, False), "he": (3, False, False), "she": (3, False, True),
    "we": (1, True, False), "they (m)": (3, True, False), "they (f)": (3, True, True),
}  # fmt: skip
_TENSES: dict[str, dict[str, str]] = {"en": {"present": "p", "past": "ps", "future": "f"},
                                      "fr": {"present": "p", "past": "pc", "future": "f"}}  # fmt: skip
_ARTICLES = {
    "en": ("a", "the"),
    "fr": ("un", "le"),
}  # (indefinite, definite) lemmas
_PRONOUN_LEMMA = {"en": "I", "fr": "je"}


@dataclass(frozen=True)
class NounPhrase:
    """An abstract noun phrase: ``noun`` and ``adjective`` index :data:`NOUNS` / :data:`ADJECTIVES`."""

    noun: int
    definite: bool
    plural: bool
    adjective: int | None = None


@dataclass(frozen=True)
class Clause:
    """An abstract sentence: subject (a :data:`PRONOUNS` name or a noun phrase), verb, object, optional PP."""

    subject: str | NounPhrase
    verb: int
    tense: Tense
    negated: bool
    object: NounPhrase
    pp: tuple[int, NounPhrase] | None = (
        None  # (index into PREPOSITIONS, noun phrase)
    )


# --------------------------------------------------------------------------- realisation
def _load(lang: Language):
    import pyrealb

    if lang not in ("en", "fr"):
        raise ValueError(f"lang must be 'en' or 'fr', got {lang!r}")
    if pyrealb.getLanguage() != lang:
        (pyrealb.loadEn if lang == "en" else pyrealb.loadFr)()
    return pyrealb


def _lemma(table: Sequence[tuple[str, str]], i: int, lang: Language) -> str:
    return table[i][0 if lang == "en" else 1]


def _np(pr, np: NounPhrase, lang: Language):
    words = [pr.D(_ARTICLES[lang][np.definite])]
    if np.adjective is not None:
        words.append(pr.A(_lemma(ADJECTIVES, np.adjective, lang)))
    words.append(pr.N(_lemma(NOUNS, np.noun, lang)))
    return pr.NP(*words).n("p" if np.plural else "s")


def _pronoun(pr, name: str, lang: Language):
    person, plural, feminine = PRONOUNS[name]
    return (
        pr.Pro(_PRONOUN_LEMMA[lang])
        .pe(person)
        .n("p" if plural else "s")
        .g("f" if feminine else "m")
    )


def _sentence(pr, c: Clause, lang: Language, with_subject_np: bool = True):
    subject = (
        _pronoun(pr, c.subject, lang)
        if isinstance(c.subject, str)
        else _np(pr, c.subject, lang)
    )
    parts = [pr.V(_lemma(VERBS, c.verb, lang)), _np(pr, c.object, lang)]
    if c.pp is not None:
        parts.append(
            pr.PP(pr.P(_lemma(PREPOSITIONS, c.pp[0], lang)), _np(pr, c.pp[1], lang))
        )
    return (
        pr.S(subject, pr.VP(*parts))
        .t(_TENSES[lang][c.tense])
        .typ({"neg": c.negated})
    )


def _words(text: str, lang: Language) -> tuple[str, ...]:
    """pyrealb's output -> our tokens: lower case, apostrophes end a token, no full stop."""
    text = text.strip().lower().replace("'", "' ").removesuffix(".")
    words = tuple(text.split())
    return tuple("I" if w == "i" else w for w in words) if lang == "en" else words


def realise_whole(c: Clause, lang: Language) -> tuple[str, ...]:
    """Realise the whole sentence with pyrealb in one go (slow; the reference for :func:`realise`)."""
    pr = _load(lang)
    return _words(_sentence(pr, c, lang).realize(), lang)


_CACHE: dict[tuple, tuple[str, ...]] = {}


def _cached(key: tuple, lang: Language, build) -> tuple[str, ...]:
    key = (lang, *key)
    if key not in _CACHE:
        _CACHE[key] = _words(build(_load(lang)).realize(), lang)
    return _CACHE[key]


def realise(c: Clause, lang: Language) -> tuple[str, ...]:
    """The tokens of ``c`` in ``lang`` ("en" or "fr"), assembled from cached pyrealb realisations of its parts.

    The verb group is realised with a pronoun of the subject's person, number
    and gender ("they did not see"); for a noun-phrase subject the pronoun is
    replaced by the noun phrase.
    """
    if not isinstance(c, Clause):
        raise TypeError(f"expected a Clause, got {type(c).__name__}")
    if isinstance(c.subject, str):
        subject_name, subject = c.subject, ()
    else:
        # same agreement as a noun phrase (avoir verbs)
        subject_name = "they (m)" if c.subject.plural else "he"
        subject = _cached(
            ("np", c.subject), lang, lambda pr: _np(pr, c.subject, lang)
        )
    verb_group = _cached(
        ("vg", subject_name, c.verb, c.tense, c.negated),
        lang,
        lambda pr: (
            pr.S(
                _pronoun(pr, subject_name, lang),
                pr.VP(pr.V(_lemma(VERBS, c.verb, lang))),
            )
            .t(_TENSES[lang][c.tense])
            .typ({"neg": c.negated})
        ),
    )
    if subject:
        # drop the stand-in pronoun (never elided: "il", "ils", "he", "they")
        verb_group = verb_group[1:]
    words = (
        subject
        + verb_group
        + _cached(("np", c.object), lang, lambda pr: _np(pr, c.object, lang))
    )
    if c.pp is not None:
        prep, np = c.pp
        words += _cached(
            ("pp", prep, np),
            lang,
            lambda pr: pr.PP(
                pr.P(_lemma(PREPOSITIONS, prep, lang)), _np(pr, np, lang)
            ),
        )
    return words


def english_twins(c: Clause) -> list[Clause]:
    """The other clauses that read the same in English: "they" of the other gender (or none)."""
    if c.subject in ("they (m)", "they (f)"):
        return [
            replace(
                c, subject="they (f)" if c.subject == "they (m)" else "they (m)"
            )
        ]
    return []


# --------------------------------------------------------------------------- sampling
def _sample_np(rng: random.Random, definite: bool | None = None) -> NounPhrase:
    return NounPhrase(
        noun=rng.randrange(len(NOUNS)),
        definite=rng.random() < 0.5 if definite is None else definite,
        plural=rng.random() < 0.4,
        adjective=rng.randrange(len(ADJECTIVES)) if rng.random() < 0.4 else None,
    )


def sample_clause(rng: random.Random) -> Clause:
    """Draw one abstract sentence: a pronoun subject 30 % of the time, negation 30 %, a PP 35 %, tenses uniform."""
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    subject: str | NounPhrase = (
        rng.choice(list(PRONOUNS)) if rng.random() < 0.3 else _sample_np(rng)
    )
    pp = (
        (rng.randrange(len(PREPOSITIONS)), _sample_np(rng))
        if rng.random() < 0.35
        else None
    )
    return Clause(
        subject=subject,
        verb=rng.randrange(len(VERBS)),
        tense=rng.choice(("present", "past", "future")),
        negated=rng.random() < 0.3,
        object=_sample_np(rng),
        pp=pp,
    )


# --------------------------------------------------------------------------- the task
_ENGLISH_TOKEN = re.compile(
    r"[^\W_]+'?|'"
)  # runs of letters or digits (any script), an apostrophe


def tokenize_english(text: str) -> str:
    """Raw English -> the task's tokens joined by spaces: "The cats didn't." -> "the cats didn' t".

    Words are lower-cased runs of letters or digits; punctuation is dropped.
    Words outside the vocabulary ("naïve", "42") are kept whole, so that the
    vocabulary turns each into one ``<unk>``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    words = _ENGLISH_TOKEN.findall(text.lower())
    return " ".join("I" if w == "i" else w for w in words)


@dataclass(frozen=True)
class EnFrSplit(SplitTensors):
    """One split: the sentences, their abstract clauses, and padded id tensors.

    Attributes:
        sources, targets: English and French sentences, tokens separated by spaces.
        clauses: the abstract sentence behind each pair.
        ambiguous: True where the English sentence also reads as another
            clause with a different French translation ("they" -> ils/elles).
        src: ``(N, S)`` source ids, right-padded; ``src_len`` ``(N,)``.
        tgt: ``(N, T)`` target ids ending in ``<eos>``; ``tgt_len`` ``(N,)`` (``<eos>`` included).
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    clauses: tuple[Clause, ...]
    ambiguous: tuple[bool, ...]
    src: torch.Tensor
    src_len: torch.Tensor
    tgt: torch.Tensor
    tgt_len: torch.Tensor


@dataclass(frozen=True)
class EnFrTask:
    """Train/validation/test splits with their word vocabularies.

    Attributes:
        max_source_len: inputs with more tokens are rejected by :meth:`encode_sources`.
        max_target_len: a bound on every target's length, ``<eos>`` included (for decoding).
    """

    train: EnFrSplit
    valid: EnFrSplit
    test: EnFrSplit
    src_vocab: Vocab
    tgt_vocab: Vocab
    max_source_len: int = 24
    max_target_len: int = 24

    def encode_sources(
        self, texts: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ``(N, S)`` ids and ``(N,)`` lengths of raw English sentences (tokenised as the task's).

        Unknown words become ``<unk>``. ``TypeError`` for non-strings;
        ``ValueError`` for an empty list, a sentence without words, or one
        longer than :attr:`max_source_len` tokens.
        """
        ids = []
        for text in check_texts(texts):
            tokens = tokenize_english(text)
            if not tokens:
                raise ValueError(
                    f"cannot translate a sentence without words, got {text!r}"
                )
            n = len(tokens.split())
            if n > self.max_source_len:
                raise ValueError(
                    f"input has {n} words; at most {self.max_source_len} are accepted"
                )
            ids.append(self.src_vocab.encode(tokens))
        return pad_batch(ids)

    def source_tokens(self, text: str) -> list[str]:
        """The tokens the model reads for ``text``: its words after :func:`tokenize_english`."""
        return tokenize_english(text).split()


def _split(
    clauses: list[Clause], sources: list[str], src_vocab: Vocab, tgt_vocab: Vocab
) -> EnFrSplit:
    targets = [" ".join(realise(c, "fr")) for c in clauses]
    ambiguous = [
        any(
            realise(t, "en") == realise(c, "en")
            and realise(t, "fr") != realise(c, "fr")
            for t in english_twins(c)
        )
        for c in clauses
    ]
    src, src_len = pad_batch([src_vocab.encode(s) for s in sources])
    tgt, tgt_len = pad_batch([tgt_vocab.encode(t, eos=True) for t in targets])
    return EnFrSplit(
        tuple(sources),
        tuple(targets),
        tuple(clauses),
        tuple(ambiguous),
        src,
        src_len,
        tgt,
        tgt_len,
    )


def make_enfr(
    n_train: int = 12_000, n_valid: int = 500, n_test: int = 1_000, *, seed: int = 0
) -> EnFrTask:
    """Generate the EN -> FR task: distinct English sentences, realised in both languages by pyrealb.

    Args:
        n_train, n_valid, n_test: examples per split (positive, at most 100 000 in total).
        seed: the one seed behind the sentences and the split.

    Sentences are drawn with :func:`sample_clause` until there are
    ``n_train + n_valid + n_test`` *different English* sentences; the first go
    to training, the next to validation, the last to test. So no validation or
    test source occurs in training. Vocabularies (words) come from the training split.
    """
    for name, n in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        check_int(name, n)
    check_int("seed", seed, low=0)
    total = n_train + n_valid + n_test
    if total > 100_000:
        raise ValueError(
            f"asked for {total} examples; at most 100000 are supported"
        )
    rng = random.Random(seed)
    seen: dict[str, Clause] = {}
    while len(seen) < total:
        c = sample_clause(rng)
        seen.setdefault(" ".join(realise(c, "en")), c)
    sources, clauses = list(seen), list(seen.values())
    bounds = {
        "train": (0, n_train),
        "valid": (n_train, n_train + n_valid),
        "test": (n_train + n_valid, total),
    }
    src_vocab = Vocab.from_texts(sources[:n_train], sep=" ")
    tgt_vocab = Vocab.from_texts(
        (" ".join(realise(c, "fr")) for c in clauses[:n_train]), sep=" "
    )
    splits = {
        k: _split(clauses[a:b], sources[a:b], src_vocab, tgt_vocab)
        for k, (a, b) in bounds.items()
    }
    return EnFrTask(
        splits["train"], splits["valid"], splits["test"], src_vocab, tgt_vocab
    )
