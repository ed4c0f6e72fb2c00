"""What a chapter hands to the build: the figures it prints, and where its exported models go.

A chapter calls :func:`record` next to each number it shows. During ``make bench``
the build runs with ``ATTNBOOK_METRICS`` pointing at a JSON-lines file, and the
benchmark script merges those lines into ``_build/bench.json``; in every other
run :func:`record` only returns the value. :func:`glue` hands a value to the prose
(myst-nb) where myst-nb is installed, and is harmless where it is not (Colab).
:func:`model_dir` is where ``attnbook.export`` writes the models the static site runs; the
Sphinx build asks it too, so this module imports no torch.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
from typing import Any

__all__ = ["MODEL_DIR_ENV", "glue", "model_dir", "record"]


def record(name: str, value: float) -> float:
    """Append ``{"name": value}`` to ``$ATTNBOOK_METRICS`` if set; return ``value`` unchanged."""
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(
            f"metric name must be a non-empty string without spaces, got {name!r}"
        )
    try:
        if isinstance(value, (str, bytes, bool)):  # float("1.5") would pass
            raise TypeError
        number = float(value)  # a Python or NumPy number, a one-element tensor
    except (TypeError, ValueError):
        raise TypeError(
            f"metric {name!r} must be a number, got {type(value).__name__}"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
    path = os.environ.get("ATTNBOOK_METRICS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({name: number}) + "\n")
    return value


#: The MIME prefix under which myst-nb finds a glued value that is not displayed.
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, display: bool = False) -> None:
    """Hand ``value`` to the page's prose as ``{glue:text}`name``` (myst-nb).

    It returns ``None``, as ``myst_nb.glue`` does, so that a cell ending with a
    ``glue`` call shows no ``Out`` value on the page.

    The book's build has myst-nb; a reader's kernel (Colab, Binder, plain Jupyter)
    may not, and there the sentences that quote the value are plain text, so the
    value is only shown (with ``display=True``) or nothing happens.

    Where myst-nb is installed this does what ``myst_nb.glue`` does -- one display
    call whose metadata names the value -- without importing it: its module imports
    nbformat, and with it jsonschema's IRI grammar, ~2.5 s of CPU in every chapter's
    kernel. ``test_glue_writes_what_myst_nb_writes`` checks the two outputs agree.
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as show

    if importlib.util.find_spec("myst_nb") is None:
        if display:
            show(value)
        return
    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    show({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


#: Overrides where exported models go (default: ``<book root>/_build/browser_models``).
MODEL_DIR_ENV = "ATTNBOOK_MODEL_DIR"


def model_dir(start: str | os.PathLike | None = None) -> pathlib.Path:
    """``$ATTNBOOK_MODEL_DIR``, else ``_build/browser_models`` under the book's root (the
    nearest folder at or above ``start`` -- default: the working directory -- that holds
    ``_config.yml``)."""
    if os.environ.get(MODEL_DIR_ENV):
        return pathlib.Path(os.environ[MODEL_DIR_ENV])
    here = pathlib.Path(start or pathlib.Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file():
            return folder / "_build" / "browser_models"
    raise FileNotFoundError(
        f"no _config.yml in {here} or above: set ${MODEL_DIR_ENV} to say where "
        "exported models go"
    )
