"""The book's sources: every chapter is listed, exported to a stripped notebook, installs attnbook on Colab,
and states no result of one particular run."""

from __future__ import annotations

import pathlib
import re
import sys
import types

import jupytext
import nbformat
import pytest
import yaml

from bookext.notebooks import export_notebook, notebook_text

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = (ROOT / "_toc.yml").read_text(encoding="utf-8")
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))


def test_there_are_chapters() -> None:
    assert CHAPTERS, "no chapters/NN_*.md found"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_listed_in_the_toc(md: pathlib.Path) -> None:
    assert f"file: chapters/{md.stem}\n" in TOC


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_is_the_export_of_its_chapter_and_has_no_outputs(
    md: pathlib.Path,
) -> None:
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} missing: run `make notebooks`"
    notebook = nbformat.read(ipynb, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{ipynb.name} carries outputs: `make notebooks`"
            )
    expected = notebook_text(export_notebook(md))
    assert ipynb.read_text(encoding="utf-8") == expected, (
        f"{ipynb.name} differs from the export of {md.name}: `make notebooks`"
    )


def _colab_cell(md: pathlib.Path) -> nbformat.NotebookNode:
    return next(c for c in jupytext.read(md).cells if c.cell_type == "code")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_first_cell_installs_attnbook_on_colab_from_the_configured_repository(
    md: pathlib.Path,
) -> None:
    first = _colab_cell(md)
    assert "remove-cell" in first.metadata.get("tags", []), (
        "the Colab cell must be hidden on the site"
    )
    assert 'if "google.colab" in sys.modules:' in first.source
    url = CONFIG["repository"]["url"].rstrip("/")
    assert re.findall(r'^    REPO = "(.*)"$', first.source, flags=re.MULTILINE) == [
        url
    ], f"the Colab cell must install from repository.url in _config.yml ({url})"
    assert 'f"attnbook @ git+{REPO}#subdirectory=code"' in first.source


def test_every_chapter_has_the_same_colab_cell() -> None:
    cells = {md.name: _colab_cell(md).source for md in CHAPTERS}
    assert len(set(cells.values())) == 1, f"the Colab cells differ: {sorted(cells)}"


def test_colab_cell_fails_with_one_clear_line_when_the_repository_cannot_be_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """Before the repository is public pip cannot fetch it: the reader gets one line, not pip's traceback."""
    source = _colab_cell(CHAPTERS[0]).source
    missing = (tmp_path / "not-a-repository").as_uri()
    source = re.sub(
        r'^    REPO = ".*"$', f'    REPO = "{missing}"', source, flags=re.MULTILINE
    )
    monkeypatch.setitem(
        sys.modules, "google.colab", types.ModuleType("google.colab")
    )
    with pytest.raises(SystemExit) as raised:
        exec(compile(source, "colab-cell", "exec"), {})  # noqa: S102 -- the cell as Colab runs it
    message = str(raised.value.code)
    assert "\n" not in message and missing in message and "public" in message


#: Phrases that report one particular run instead of what the page's own code prints (issue 12).
RUN_DEPENDENT = re.compile(
    r"\b(when (we|I) ran|in (our|my) (own )?runs?\b|our runs\b|in (our|my) experiments?\b|"
    r"on (our|my) machine|in (our|my) tests?\b|we (once )?(got|obtained|observed)\b)",
    re.IGNORECASE,
)
FENCE = re.compile(r"^(`{3,}|~{3,})")


def _prose_lines(md: pathlib.Path) -> list[tuple[int, str]]:
    """(line number, text) of a chapter outside code cells and code blocks (directives' text is prose)."""
    prose, directives, code = [], [], ""
    for number, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        fence = FENCE.match(stripped)
        closes = fence and set(stripped) == {stripped[0]}
        if code:
            if closes and stripped[0] == code[0] and len(stripped) >= len(code):
                code = ""
        elif (
            closes
            and directives
            and stripped[0] == directives[-1][0]
            and len(stripped) >= len(directives[-1])
        ):
            directives.pop()
        elif fence:
            info = stripped[len(fence[1]) :]
            if info.startswith("{") and not info.startswith(
                ("{code-cell}", "{literalinclude}")
            ):
                directives.append(fence[1])
            else:
                code = fence[1]
        else:
            prose.append((number, line))
    return prose


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_prose_states_no_result_of_one_particular_run(md: pathlib.Path) -> None:
    found = [
        f"{md.name}:{n}: {m.group(0)!r} in {line.strip()[:90]!r}"
        for n, line in _prose_lines(md)
        for m in RUN_DEPENDENT.finditer(line)
    ]
    assert not found, (
        "phrase the text around what the cells print, or glue the value:\n"
        + "\n".join(found)
    )


def test_the_prose_scan_sees_prose_and_skips_code(tmp_path: pathlib.Path) -> None:
    md = tmp_path / "x.md"
    md.write_text(
        "In our runs it was 3.\n```{code-cell} ipython3\n# when we ran it\n```\n```python\n"
        "# our runs\n```\n````{solution} x\nWhen we ran it, 4.\n````\n",
        encoding="utf-8",
    )
    assert [n for n, line in _prose_lines(md) if RUN_DEPENDENT.search(line)] == [
        1,
        9,
    ]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_the_standard_anatomy(md: pathlib.Path) -> None:
    text = md.read_text(encoding="utf-8")
    for needle in (
        ":::{admonition} Learning goals",
        "## Summary",
        "## Exercises",
        "{footbibliography}",
    ):
        assert needle in text, f"{md.name} lacks {needle!r}"
    exercises = re.findall(
        r"^(?:`{3,}|:{3,})\{exercise(?:-start)?\}", text, flags=re.MULTILINE
    )
    # plain or gated (solution-start ... solution-end, whose code cells the build executes)
    solutions = re.findall(
        r"^(?:`{3,}|:{3,})\{solution(?:-start)?\}.*\n:class: dropdown",
        text,
        flags=re.MULTILINE,
    )
    assert exercises and len(solutions) == len(exercises), (
        f"{md.name}: every exercise needs a collapsed solution"
    )
