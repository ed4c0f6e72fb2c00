"""The book's sources: every chapter notebook is paired, stripped, listed, and installs attnbook on Colab."""

from __future__ import annotations

import pathlib
import re

import jupytext
import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = (ROOT / "_toc.yml").read_text(encoding="utf-8")
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", []))) for c in nb.cells]


def test_there_are_chapters() -> None:
    assert CHAPTERS, "no chapters/NN_*.md found"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_listed_in_the_toc(md: pathlib.Path) -> None:
    assert f"file: chapters/{md.stem}\n" in TOC


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_paired_notebook_is_in_sync_and_has_no_outputs(md: pathlib.Path) -> None:
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} missing: run `make notebooks`"
    paired = nbformat.read(ipynb, as_version=4)
    for cell in paired.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{ipynb.name} carries outputs: `make notebooks`"
    assert _cells(jupytext.read(md)) == _cells(paired), f"{ipynb.name} is out of sync with {md.name}: `make notebooks`"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_first_cell_installs_attnbook_on_colab_from_the_configured_repository(md: pathlib.Path) -> None:
    first = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert "remove-cell" in first.metadata.get("tags", []), "the Colab cell must be hidden on the site"
    assert 'if "google.colab" in sys.modules:' in first.source
    url = CONFIG["repository"]["url"].rstrip("/")
    assert re.search(rf"git\+{re.escape(url)}(\.git)?#subdirectory=code", first.source), (
        f"the Colab cell must install from repository.url in _config.yml ({url})"
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_the_standard_anatomy(md: pathlib.Path) -> None:
    text = md.read_text(encoding="utf-8")
    for needle in (":::{admonition} Learning goals", "## Summary", "## Exercises", "{footbibliography}"):
        assert needle in text, f"{md.name} lacks {needle!r}"
    exercises = re.findall(r"^`{3,}\{exercise\}", text, flags=re.M)
    solutions = re.findall(r"^`{3,}\{solution\}.*\n:class: dropdown", text, flags=re.M)
    assert exercises and len(solutions) == len(exercises), f"{md.name}: every exercise needs a collapsed solution"
