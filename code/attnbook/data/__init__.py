"""Seeded data builders. Nothing here downloads anything."""

from attnbook.data.dates import (
    DATE_FORMATS,
    DateFormat,
    DateSplit,
    DateTask,
    make_date_lists,
    make_dates,
    render_date,
    source_fields,
)
from attnbook.data.enfr import EnFrSplit, EnFrTask, make_enfr
from attnbook.data.images import (
    ClutteredDigits,
    ClutteredSplit,
    digit_sources,
    make_cluttered_digits,
)
from attnbook.data.regression import (
    RegressionData,
    make_regression,
    regression_truth,
)
from attnbook.data.toys import (
    COLOURS,
    Scene,
    SelectionTask,
    make_scene,
    make_selection_task,
)
from attnbook.data.vocab import BOS, EOS, PAD, UNK, Vocab, pad_batch

__all__ = [
    "BOS",
    "COLOURS",
    "DATE_FORMATS",
    "EOS",
    "PAD",
    "UNK",
    "ClutteredDigits",
    "ClutteredSplit",
    "DateFormat",
    "DateSplit",
    "DateTask",
    "EnFrSplit",
    "EnFrTask",
    "RegressionData",
    "Scene",
    "SelectionTask",
    "Vocab",
    "digit_sources",
    "make_cluttered_digits",
    "make_date_lists",
    "make_dates",
    "make_enfr",
    "make_regression",
    "make_scene",
    "make_selection_task",
    "pad_batch",
    "regression_truth",
    "render_date",
    "source_fields",
]
