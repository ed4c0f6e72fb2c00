"""Human-readable dates -> ISO 8601, a small translation task for chapter 4.

Each example is one calendar day between 1950-01-01 and 2049-12-31 written in
one of :data:`DATE_FORMATS` -- "Tuesday, March 7, 2023", "3/7/23", "07.03.23",
... -- by `babel <https://babel.pocoo.org>`_ (which ships the Unicode CLDR
locale data, so nothing is downloaded), and its target is the ISO string
``"2023-03-07"``. Both sides are read character by character.

Every format is **unambiguous**: a slash always means month first (US style), a
dot always means day first (European style), and a two-digit year ``yy`` always
means 19yy for yy >= 50 and 20yy for yy < 50 (the data covers exactly those
hundred years). So each source string has exactly one correct answer.

The three splits hold **different days**: no test date is seen in training in
any format. Everything is generated from one seed.

:func:`make_date_lists` builds a harder variant for measuring how a model copes
with **longer inputs that carry more information**: each source is a list of 1
to ``max_dates`` such dates joined by ``"; "``, and the target is their ISO
strings joined by a space, ``"March 7, 2023; 6/24/98"`` ->
``"2023-03-07 1998-06-24"``. No format contains ``;``, so the list splits back
into its dates in exactly one way and stays unambiguous.
"""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from attnbook._checks import check_int
from attnbook.data.vocab import EOS, SplitTensors, Vocab, check_texts, pad_batch

if TYPE_CHECKING:
    from babel import Locale

__all__ = [
    "DATE_FORMATS",
    "N_DAYS",
    "DateFormat",
    "DateSplit",
    "DateTask",
    "make_date_lists",
    "make_dates",
    "render_date",
    "source_fields",
]

FIRST_DAY = datetime.date(1950, 1, 1)
LAST_DAY = datetime.date(2049, 12, 31)
N_DAYS = (LAST_DAY - FIRST_DAY).days + 1  # 36 525 days
SOURCE_SEPARATOR = "; "  # between the dates of a list (no format renders a ";")
TARGET_SEPARATOR = " "  # between their ISO strings


@dataclass(frozen=True)
class DateFormat:
    """One way of writing a date: a babel (CLDR) pattern in a locale."""

    name: str
    locale: str
    pattern: str


#: The formats of the task. "/" = month first, "." = day first, "yy" = 1950..2049.
DATE_FORMATS: tuple[DateFormat, ...] = (
    DateFormat("US full", "en_US", "EEEE, MMMM d, y"),  # Tuesday, March 7, 2023
    DateFormat("US long", "en_US", "MMMM d, y"),  # March 7, 2023
    DateFormat("US medium", "en_US", "MMM d, y"),  # Mar 7, 2023
    DateFormat("US short", "en_US", "M/d/yy"),  # 3/7/23
    DateFormat("US numeric", "en_US", "MM/dd/yyyy"),  # 03/07/2023
    DateFormat("UK full", "en_GB", "EEEE, d MMMM y"),  # Tuesday, 7 March 2023
    DateFormat("UK long", "en_GB", "d MMMM y"),  # 7 March 2023
    DateFormat("UK medium", "en_GB", "d MMM y"),  # 7 Mar 2023 (September is "Sept")
    DateFormat("e-mail header", "en_US", "EEE, d MMM yyyy"),  # Tue, 7 Mar 2023
    DateFormat("log file", "en_US", "dd-MMM-yyyy"),  # 07-Mar-2023
    DateFormat("dotted short", "de_DE", "dd.MM.yy"),  # 07.03.23
    DateFormat("dotted", "de_DE", "d.M.yyyy"),  # 7.3.2023
    DateFormat("compact", "en_US", "yyyyMMdd"),  # 20230307
    DateFormat("ISO", "en_US", "yyyy-MM-dd"),  # 2023-03-07 (already the answer)
)

_LOCALES: dict[str, Locale] = {}


def _locale(name: str) -> Locale:
    """babel's locale ``name``, parsed once (babel is imported on first use: ``import attnbook`` stays fast)."""
    if name not in _LOCALES:
        from babel import Locale

        _LOCALES[name] = Locale.parse(name)
    return _LOCALES[name]


def render_date(day: datetime.date, fmt: DateFormat) -> str:
    """Write ``day`` in format ``fmt`` with babel."""
    if not isinstance(day, datetime.date):
        raise TypeError(f"day must be a datetime.date, got {type(day).__name__}")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(
            f"day must lie in {FIRST_DAY}..{LAST_DAY} (two-digit years are 1950-2049), got {day}"
        )
    from babel.dates import format_date

    return format_date(day, fmt.pattern, locale=_locale(fmt.locale))


_FIELD_OF_LETTER = {"y": "Y", "M": "M", "d": "D", "E": "W"}


def source_fields(target: str, format_index: int) -> str:
    """Which date field each source character belongs to: ``Y`` year, ``M`` month, ``D`` day, ``W`` weekday, ``.`` other.

    E.g. ``source_fields("2023-03-07", 0)`` -> ``"WWWWWWW..MMMMM.D..YYYY"`` for
    "Tuesday, March 7, 2023". (In ISO targets the fields sit at fixed places:
    ``YYYY.MM.DD``.) Used to measure where attention goes.
    """
    fmt = DATE_FORMATS[format_index]
    day = datetime.date.fromisoformat(target)
    from babel.dates import DateTimeFormat, parse_pattern

    fields = DateTimeFormat(day, _locale(fmt.locale))
    out = []
    for i, piece in enumerate(
        re.split(r"%\((\w+)\)s", parse_pattern(fmt.pattern).format)
    ):
        if i % 2 == 0:  # literal text between fields
            out.append("." * len(piece))
        else:
            out.append(_FIELD_OF_LETTER[piece[0]] * len(fields[piece]))
    tags = "".join(out)
    assert len(tags) == len(render_date(day, fmt)), (tags, render_date(day, fmt))
    return tags


@dataclass(frozen=True)
class DateSplit(SplitTensors):
    """One split: the strings, and the same as padded id tensors.

    Attributes:
        sources, targets: the strings, e.g. ``"3/7/23"`` and ``"2023-03-07"``.
        formats: index into :data:`DATE_FORMATS` of each source; for a list of dates
            (:func:`make_date_lists`), a tuple with the format of each of its dates.
        src: ``(N, S)`` source ids, right-padded with ``<pad>``; ``src_len`` ``(N,)`` their lengths.
        tgt: ``(N, T)`` target ids ending in ``<eos>``; ``tgt_len`` ``(N,)`` their lengths (``<eos>`` included).
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    formats: tuple[int, ...] | tuple[tuple[int, ...], ...]
    src: torch.Tensor
    src_len: torch.Tensor
    tgt: torch.Tensor
    tgt_len: torch.Tensor

    @property
    def n_dates(self) -> tuple[int, ...]:
        """How many dates each source holds (always 1 for :func:`make_dates`)."""
        return tuple(len(f) if isinstance(f, tuple) else 1 for f in self.formats)


@dataclass(frozen=True)
class DateTask:
    """Train/validation/test splits with their vocabularies.

    Attributes:
        max_source_len: inputs longer than this many characters are rejected by
            :meth:`encode_sources` (the longest rendered date has 29).
        max_target_len: the length of the longest target, ``<eos>`` included (11 for
            one date; 11 per date for :func:`make_date_lists`).
    """

    train: DateSplit
    valid: DateSplit
    test: DateSplit
    src_vocab: Vocab
    tgt_vocab: Vocab
    max_source_len: int = 40
    max_target_len: int = 11

    def encode_sources(
        self, texts: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ``(N, S)`` ids and ``(N,)`` lengths of new source strings.

        Characters the training data never contained become ``<unk>``; call
        ``src_vocab.unknown(text)`` to list them. Raises ``TypeError`` for
        non-strings and ``ValueError`` for an empty list, an empty (or blank)
        string, or a string longer than :attr:`max_source_len`.
        """
        ids = []
        for text in check_texts(texts):
            if not text.strip():
                raise ValueError(
                    f"cannot translate an empty or blank string, got {text!r}"
                )
            if len(text) > self.max_source_len:
                raise ValueError(
                    f"input has {len(text)} characters; at most {self.max_source_len} are accepted"
                )
            ids.append(self.src_vocab.encode(text))
        return pad_batch(ids)

    def source_tokens(self, text: str) -> list[str]:
        """The tokens the model reads for ``text``: its characters."""
        return self.src_vocab.split(text)


def _render(
    days: Sequence[datetime.date], formats: Sequence[int]
) -> tuple[list[str], list[str], list[int]]:
    sources = [
        render_date(d, DATE_FORMATS[f]) for d, f in zip(days, formats, strict=True)
    ]
    targets = [d.isoformat() for d in days]
    return sources, targets, list(formats)


def _render_lists(
    day_lists: Sequence[Sequence[datetime.date]],
    format_lists: Sequence[Sequence[int]],
) -> tuple[list[str], list[str], list[tuple[int, ...]]]:
    """Render each list of dates with :func:`_render` and join sources and targets."""
    sources, targets, formats = [], [], []
    for days, fmts in zip(day_lists, format_lists, strict=True):
        src, tgt, f = _render(days, fmts)
        sources.append(SOURCE_SEPARATOR.join(src))
        targets.append(TARGET_SEPARATOR.join(tgt))
        formats.append(tuple(f))
    return sources, targets, formats


def _tensors(
    sources: list[str],
    targets: list[str],
    formats: list,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
) -> DateSplit:
    src, src_len = pad_batch([src_vocab.encode(s) for s in sources])
    tgt, tgt_len = pad_batch([tgt_vocab.encode(t, eos=True) for t in targets])
    assert bool((tgt.gather(1, (tgt_len - 1)[:, None]) == EOS).all())
    return DateSplit(
        tuple(sources), tuple(targets), tuple(formats), src, src_len, tgt, tgt_len
    )


def make_dates(
    n_train: int = 20_000,
    n_valid: int = 1_000,
    n_test: int = 2_000,
    *,
    seed: int = 0,
) -> DateTask:
    """Generate the date task: distinct random days, each in a random format of :data:`DATE_FORMATS`.

    Args:
        n_train, n_valid, n_test: examples per split (positive; together at most
            the 36 525 days of 1950-2049, since every example is a different day).
        seed: the one seed behind days, formats and the split.

    The vocabularies are built from the training split only, so a character
    that appears only in validation or test data would be ``<unk>`` (with these
    formats none does).
    """
    _check_sizes(n_train=n_train, n_valid=n_valid, n_test=n_test, seed=seed)
    total = n_train + n_valid + n_test
    if total > N_DAYS:
        raise ValueError(
            f"asked for {total} examples, but there are only {N_DAYS} distinct days in 1950-2049"
        )
    rng = random.Random(seed)
    offsets = rng.sample(range(N_DAYS), total)
    days = [FIRST_DAY + datetime.timedelta(days=o) for o in offsets]
    formats = [rng.randrange(len(DATE_FORMATS)) for _ in range(total)]
    bounds = {
        "train": (0, n_train),
        "valid": (n_train, n_train + n_valid),
        "test": (n_train + n_valid, total),
    }
    raw = {k: _render(days[a:b], formats[a:b]) for k, (a, b) in bounds.items()}
    return _task(raw)


def _check_sizes(**sizes: int) -> None:
    for name, n in sizes.items():
        check_int(name, n, low=0 if name == "seed" else 1)


def _task(
    raw: dict[str, tuple[list[str], list[str], list]], **limits: int
) -> DateTask:
    """Vocabularies from the training split, then the tensors of every split."""
    src_vocab = Vocab.from_texts(raw["train"][0])
    tgt_vocab = Vocab.from_texts(raw["train"][1])
    splits = {k: _tensors(*v, src_vocab, tgt_vocab) for k, v in raw.items()}
    return DateTask(
        splits["train"],
        splits["valid"],
        splits["test"],
        src_vocab,
        tgt_vocab,
        **limits,
    )


def make_date_lists(
    n_train: int = 10_000,
    n_valid: int = 500,
    n_test: int = 2_000,
    *,
    max_dates: int = 4,
    formats: Sequence[int] | None = None,
    seed: int = 0,
) -> DateTask:
    """Lists of 1 to ``max_dates`` dates -> their ISO strings: a task whose content grows with the input.

    Each example draws a number of dates uniformly from ``1..max_dates``, distinct
    days and a random format of :data:`DATE_FORMATS` for each, and joins them:
    source ``"March 7, 2023; 6/24/98"``, target ``"2023-03-07 1998-06-24"``. The
    output has 11 characters per date, so -- unlike in :func:`make_dates`, where
    every target is 10 characters however long the input -- the information the
    model must carry grows with the length of the input (Bahdanau et al., 2015,
    Fig. 2 measure translation quality against sentence length).

    Args:
        n_train, n_valid, n_test: examples per split (positive ints).
        max_dates: the most dates in one example (a positive int).
        formats: indices into :data:`DATE_FORMATS` to draw from (distinct; default: all).
        seed: the one seed behind the number of dates, the days, the formats and the split.

    The 36 525 days of 1950-2049 are first dealt into three disjoint pools, in
    proportion to the split sizes, so **no day of a test list occurs anywhere in
    training**; within a split, a day may occur in several lists. Each date is
    unambiguous (see the module docstring) and no format renders ``;``, so
    every source has exactly one correct target. ``max_source_len`` allows 40
    characters per date plus separators; ``max_target_len`` is ``11 * max_dates``.
    """
    _check_sizes(
        n_train=n_train,
        n_valid=n_valid,
        n_test=n_test,
        max_dates=max_dates,
        seed=seed,
    )
    if formats is None:
        formats = range(len(DATE_FORMATS))
    if isinstance(formats, str) or not isinstance(formats, Sequence):
        raise TypeError(
            f"formats must be a sequence of indices into DATE_FORMATS, got {type(formats).__name__}"
        )
    if (
        len(formats) == 0
        or len(set(formats)) != len(formats)
        or not all(
            isinstance(f, int)
            and not isinstance(f, bool)
            and 0 <= f < len(DATE_FORMATS)
            for f in formats
        )
    ):
        raise ValueError(
            f"formats must be distinct indices in 0..{len(DATE_FORMATS) - 1}, got {list(formats)!r}"
        )
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    total = n_train + n_valid + n_test
    rng = random.Random(seed)
    # a seeded permutation of all days, dealt into three pools
    offsets = rng.sample(range(N_DAYS), N_DAYS)
    pools, start = {}, 0
    for k, n in sizes.items():
        size = N_DAYS * n // total
        if size < max_dates:
            raise ValueError(
                f"the {k} split would get only {size} distinct days, fewer than max_dates={max_dates}; "
                f"make the splits more even or max_dates smaller"
            )
        pools[k], start = offsets[start : start + size], start + size
    raw = {}
    for k, n in sizes.items():
        counts = [rng.randint(1, max_dates) for _ in range(n)]
        day_lists = [
            [
                FIRST_DAY + datetime.timedelta(days=o)
                for o in rng.sample(pools[k], c)
            ]
            for c in counts
        ]
        format_lists = [[rng.choice(formats) for _ in range(c)] for c in counts]
        raw[k] = _render_lists(day_lists, format_lists)
    per_date = DateTask.max_source_len
    return _task(
        raw,
        max_source_len=max_dates * per_date
        + (max_dates - 1) * len(SOURCE_SEPARATOR),
        max_target_len=11 * max_dates,
    )
