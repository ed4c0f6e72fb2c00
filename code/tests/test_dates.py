"""The date task of chapter 4 and its character vocabulary: seeded, unambiguous, and strict about bad input."""

from __future__ import annotations

import datetime

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnbook.data import (
    BOS,
    DATE_FORMATS,
    EOS,
    PAD,
    UNK,
    Vocab,
    make_date_lists,
    make_dates,
    pad_batch,
    render_date,
    source_fields,
)
from attnbook.data.dates import FIRST_DAY, LAST_DAY, N_DAYS


@pytest.fixture(scope="module")
def task():
    return make_dates(n_train=600, n_valid=100, n_test=200, seed=3)


def test_builder_is_seeded(task) -> None:
    again = make_dates(n_train=600, n_valid=100, n_test=200, seed=3)
    other = make_dates(n_train=600, n_valid=100, n_test=200, seed=4)
    assert again.train.sources == task.train.sources and torch.equal(
        again.test.src, task.test.src
    )
    assert other.train.sources != task.train.sources


def test_splits_hold_different_days_and_iso_targets(task) -> None:
    days = [set(s.targets) for s in (task.train, task.valid, task.test)]
    assert (
        sum(len(d) for d in days) == 900 == len(set().union(*days))
    )  # distinct days, no overlap between splits
    for target in task.test.targets:
        day = datetime.date.fromisoformat(target)
        assert FIRST_DAY <= day <= LAST_DAY and target == day.isoformat()


def test_every_source_renders_its_target(task) -> None:
    for source, target, f in zip(
        task.valid.sources, task.valid.targets, task.valid.formats
    ):
        assert (
            render_date(datetime.date.fromisoformat(target), DATE_FORMATS[f])
            == source
        )


def test_tensors_are_padded_with_lengths_and_eos(task) -> None:
    split = task.train
    assert (
        split.src.shape == (600, int(split.src_len.max()))
        and split.src.dtype == torch.long
    )
    for i in range(0, 600, 37):
        n = int(split.src_len[i])
        assert task.src_vocab.decode(split.src[i, :n]) == split.sources[i]
        assert (split.src[i, n:] == PAD).all()
        assert task.tgt_vocab.decode(split.tgt[i]) == split.targets[i]
        assert split.tgt[i, int(split.tgt_len[i]) - 1] == EOS
    assert (split.tgt_len == 11).all() and task.max_target_len == 11


def test_formats_are_unambiguous() -> None:
    """No string is the rendering of two different days, in any pair of formats."""
    seen: dict[str, datetime.date] = {}
    days = [
        datetime.date(y, m, d)
        for y in (1950, 1999, 2003, 2049)
        for m in range(1, 13)
        for d in range(1, 29)
    ]
    for day in days:
        for fmt in DATE_FORMATS:
            text = render_date(day, fmt)
            assert seen.setdefault(text, day) == day, (
                f"{text!r} renders both {seen[text]} and {day}"
            )


def test_source_fields_tag_each_character() -> None:
    for f, fmt in enumerate(DATE_FORMATS):
        day = datetime.date(2023, 9, 7)
        text, tags = render_date(day, fmt), source_fields("2023-09-07", f)
        assert len(tags) == len(text) and set(tags) <= set("YMDW.")
        year = "".join(c for c, t in zip(text, tags) if t == "Y")
        assert year in ("2023", "23"), (fmt.name, text, tags)
    assert (
        source_fields("2023-03-07", 0) == "WWWWWWW..MMMMM.D..YYYY"
    )  # Tuesday, March 7, 2023


# ------------------------------------------------------------------ vocab
def test_vocab_specials_round_trip_and_unknown_characters(task) -> None:
    v = task.src_vocab
    assert v.tokens[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") and (
        PAD,
        BOS,
        EOS,
        UNK,
    ) == (0, 1, 2, 3)
    assert (
        v.decode(v.encode("March 7, 2023", eos=True) + [PAD, PAD])
        == "March 7, 2023"
    )
    ids = v.encode(
        "7. März"
    )  # 'ä' and 'z' never occur in the English training formats
    assert ids.count(UNK) == 2 and v.unknown("7. März") == ["ä", "z"]
    assert v.decode(ids) == "7. M\ufffdr\ufffd"
    with pytest.raises(
        ValueError, match=r"characters not in the vocabulary: \['ä', 'z'\]"
    ):
        v.encode("7. März", strict=True)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda v: v.encode(""), ValueError, "text is empty"),
        (lambda v: v.encode(None), TypeError, "text must be a str, got NoneType"),
        (lambda v: v.decode([99]), ValueError, "id 99 is outside the vocabulary"),
        (lambda v: Vocab(("a", "b")), ValueError, "must start with"),
        (
            lambda v: Vocab(("<pad>", "<bos>", "<eos>", "<unk>", "ab")),
            ValueError,
            "distinct single characters",
        ),
        (
            lambda v: Vocab.from_texts(["ok", 3]),
            TypeError,
            "texts must be strings, got int",
        ),
        (lambda v: pad_batch([]), ValueError, "non-empty"),
        (lambda v: pad_batch([[1], []]), ValueError, "must not be empty"),
    ],
)
def test_vocab_bad_input(task, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(task.src_vocab)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="0123456789-", min_size=1, max_size=20))
def test_target_vocab_round_trips_any_digit_string(text: str) -> None:
    v = Vocab.from_texts(["0123456789-"])
    assert v.decode(v.encode(text, eos=True)) == text


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_train": 0}, "n_train"),
        ({"n_valid": -5}, "n_valid"),
        ({"n_test": 2.5}, "n_test"),
        ({"n_train": True}, "n_train"),
        ({"seed": -1}, "seed"),
        ({"n_train": N_DAYS}, f"only {N_DAYS} distinct days"),
    ],
)
def test_make_dates_rejects_bad_sizes(kw: dict, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make_dates(**({"n_train": 10, "n_valid": 10, "n_test": 10} | kw))


def test_render_date_rejects_days_outside_the_two_digit_year_window() -> None:
    with pytest.raises(ValueError, match="1950-01-01..2049-12-31"):
        render_date(datetime.date(1949, 12, 31), DATE_FORMATS[0])
    with pytest.raises(TypeError, match="datetime.date"):
        render_date("2023-03-07", DATE_FORMATS[0])


@pytest.mark.parametrize(
    ("texts", "error", "message"),
    [
        ([""], ValueError, "empty or blank"),
        (["   "], ValueError, "empty or blank"),
        (["x" * 41], ValueError, "input has 41 characters; at most 40"),
        ([], ValueError, "texts is empty"),
        ("March 7, 2023", TypeError, "list of strings, got str"),
        ([7], TypeError, "every text must be a str, got int"),
    ],
)
def test_encode_sources_bad_input(task, texts, error, message) -> None:
    with pytest.raises(error, match=message):
        task.encode_sources(texts)


def test_encode_sources_reads_unknown_characters_as_unk(task) -> None:
    src, lens = task.encode_sources(["7. März 2023", "3/7/23"])
    assert src.shape == (2, 12) and lens.tolist() == [12, 6]
    assert (src[0] == UNK).sum() == 2 and (src[1, 6:] == PAD).all()


# ------------------------------------------------------------ date lists
@pytest.fixture(scope="module")
def lists():
    return make_date_lists(
        n_train=400, n_valid=100, n_test=200, max_dates=4, seed=5
    )


def test_date_lists_are_seeded(lists) -> None:
    again = make_date_lists(
        n_train=400, n_valid=100, n_test=200, max_dates=4, seed=5
    )
    other = make_date_lists(
        n_train=400, n_valid=100, n_test=200, max_dates=4, seed=6
    )
    assert (
        again.train.sources == lists.train.sources
        and again.test.targets == lists.test.targets
    )
    assert torch.equal(again.test.src, lists.test.src) and torch.equal(
        again.train.tgt, lists.train.tgt
    )
    assert other.train.sources != lists.train.sources


def test_date_lists_targets_are_the_iso_dates_joined(lists) -> None:
    for split in (lists.train, lists.valid, lists.test):
        assert (
            len(split)
            == len(split.sources)
            == len(split.targets)
            == split.src.shape[0]
        )
        for source, target, fmts, n in zip(
            split.sources, split.targets, split.formats, split.n_dates
        ):
            pieces, isos = source.split("; "), target.split(" ")
            assert 1 <= n <= 4 and len(pieces) == len(isos) == len(fmts) == n
            assert len(set(isos)) == n  # distinct days within one list
            for piece, iso, f in zip(pieces, isos, fmts):
                assert (
                    render_date(datetime.date.fromisoformat(iso), DATE_FORMATS[f])
                    == piece
                )
            assert len(target) == 11 * n - 1
    assert set(lists.test.n_dates) == {1, 2, 3, 4}  # every length occurs
    assert lists.max_target_len == 44 and int(lists.train.tgt_len.max()) <= 44


def test_date_lists_tensors_round_trip(lists) -> None:
    split = lists.test
    for i in range(0, len(split), 23):
        n = int(split.src_len[i])
        assert (
            n == len(split.sources[i])
            and lists.src_vocab.decode(split.src[i, :n]) == split.sources[i]
        )
        assert lists.tgt_vocab.decode(split.tgt[i]) == split.targets[i]
        assert (
            int(split.tgt_len[i]) == len(split.targets[i]) + 1
            and split.tgt[i, int(split.tgt_len[i]) - 1] == EOS
        )
    assert ";" in lists.src_vocab and " " in lists.tgt_vocab


def test_date_lists_splits_share_no_day(lists) -> None:
    days = [
        {d for t in s.targets for d in t.split(" ")}
        for s in (lists.train, lists.valid, lists.test)
    ]
    assert not days[0] & days[1] and not days[0] & days[2] and not days[1] & days[2]


def test_date_lists_formats_and_max_dates() -> None:
    one = make_date_lists(
        n_train=50, n_valid=10, n_test=10, max_dates=1, formats=[12], seed=0
    )
    assert set(one.train.n_dates) == {1} and all(
        f == (12,) for f in one.train.formats
    )
    assert all(
        len(s) == 8 and s.isdigit() for s in one.train.sources
    )  # compact: 20230307
    assert one.max_target_len == 11 and one.encode_sources(["x" * 40])[
        1
    ].tolist() == [40]
    assert make_dates(n_train=5, n_valid=5, n_test=5).train.n_dates == (1,) * 5


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"n_train": 0}, ValueError, "n_train"),
        ({"n_test": 1.5}, TypeError, "n_test"),
        ({"max_dates": 0}, ValueError, "max_dates"),
        ({"max_dates": True}, TypeError, "max_dates"),
        ({"seed": -2}, ValueError, "seed"),
        ({"formats": []}, ValueError, "formats must be distinct indices in 0..13"),
        ({"formats": [0, 0]}, ValueError, "formats must be distinct indices"),
        ({"formats": [14]}, ValueError, r"got \[14\]"),
        (
            {"formats": "US full"},
            TypeError,
            "formats must be a sequence of indices",
        ),
        (
            {"n_train": 10**6, "n_test": 1},
            ValueError,
            "the valid split would get only 0 distinct days",
        ),
    ],
)
def test_make_date_lists_rejects_bad_arguments(
    kw: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        make_date_lists(**({"n_train": 10, "n_valid": 10, "n_test": 10} | kw))
