"""Figures a chapter prints, recorded so that ``make bench`` reports the very same numbers.

A chapter calls :func:`record` next to each number it shows. During ``make bench``
the build runs with ``ATTNBOOK_METRICS`` pointing at a JSON-lines file, and the
benchmark script merges those lines into ``_build/bench.json``; in every other
run :func:`record` only returns the value.
"""

from __future__ import annotations

import json
import math
import os

__all__ = ["record"]


def record(name: str, value: float) -> float:
    """Append ``{"name": value}`` to ``$ATTNBOOK_METRICS`` if set; return ``value`` unchanged."""
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(f"metric name must be a non-empty string without spaces, got {name!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
    path = os.environ.get("ATTNBOOK_METRICS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({name: number}) + "\n")
    return value
