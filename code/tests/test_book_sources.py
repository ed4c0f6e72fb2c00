"""The book's sources: every chapter is listed, exported to a stripped notebook, installs attnbook on Colab,
and states no result of one particular run."""

from __future__ import annotations

import ast
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


UNEXECUTED_CODE = re.compile(
    r"^(`{3,}|~{3,})\s*(python|py|ipython3?|\{code-block\}|\{code\})", re.MULTILINE
)


def _unexecuted_code(text: str) -> list[str]:
    return [m.group(0) for m in UNEXECUTED_CODE.finditer(text)]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_all_code_in_a_chapter_is_executed(md: pathlib.Path) -> None:
    """Solutions included: code a reader sees is a code cell the build runs."""
    found = _unexecuted_code(md.read_text(encoding="utf-8"))
    assert not found, f"{md.name}: use a {{code-cell}} (run at build), not {found}"


def test_the_unexecuted_code_scan_can_fail() -> None:
    text = "```{code-cell} ipython3\nx = 1\n```\n```python\ny = 2\n```\n"
    assert _unexecuted_code(text) == ["```python"]
    assert _unexecuted_code("```{code-cell} ipython3\nx\n```\n") == []


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


# ---------------------------------------------------------------- code shown on the page (issue 13)
def _code_cells(md: pathlib.Path) -> list[str]:
    """The source of every code cell of a chapter, in order (the Colab cell included)."""
    cells = jupytext.read(md, fmt="md:myst").cells
    return [c.source for c in cells if c.cell_type == "code"]


#: Colours and fonts set by hand; the theme (attnbook.viz.theme) names them instead.
STYLE_LITERAL = re.compile(
    r"""["']\#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?(?:[0-9a-fA-F]{2})?["']"""  # "#0072B2"
    r"""|\b(?:colou?rs?|edgecolors?|facecolors?|markeredgecolor|markerfacecolor"""
    r"""|cmap)\s*=\s*[rfbu]?["']"""  # color="grey", cmap="viridis"
    r"""|\b(?:fontsize|fontfamily|fontname)\s*="""
)


def _style_literals(md: pathlib.Path) -> list[str]:
    return [
        f"{md.name} cell {i}: {line.strip()[:90]!r}"
        for i, source in enumerate(_code_cells(md))
        for line in source.splitlines()
        if STYLE_LITERAL.search(line.split("  #")[0])
    ]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_code_sets_no_colour_or_font_by_hand(md: pathlib.Path) -> None:
    found = _style_literals(md)
    assert not found, (
        "use the theme's names (PALETTE, SERIES_COLOURS, INK, REFERENCE, MASKED, "
        "SEQUENTIAL_CMAP, DIVERGING_CMAP, IMAGE_CMAP) or seaborn's hue:\n"
        + "\n".join(found)
    )


#: A cell that builds an explorer shows the idea, not the plumbing (issue 13 section 3).
EXPLORER_CELL_LINES = 12


def _long_explorer_cells(md: pathlib.Path) -> list[str]:
    return [
        f"{md.name} cell {i}: {len(source.splitlines())} lines"
        for i, source in enumerate(_code_cells(md))
        if "HeatmapExplorer(" in source
        and len(source.splitlines()) > EXPLORER_CELL_LINES
    ]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_explorer_cells_are_short(md: pathlib.Path) -> None:
    found = _long_explorer_cells(md)
    assert not found, (
        f"a cell that calls HeatmapExplorer has at most {EXPLORER_CELL_LINES} lines "
        "(comments and blank lines included): move the plumbing into attnbook:\n"
        + "\n".join(found)
    )


#: Code columns of the built page at 1366 px: 85 characters in a cell at the top level
#: (85 in an include too), 82 in a cell shown inside a solution dropdown or behind
#: hide-input's toggle (their frames take 3 columns).
CELL_WIDTH, NESTED_WIDTH, INCLUDE_WIDTH = 84, 82, 85
GATE = re.compile(r"\{(?:solution|exercise)-(start|end)\}")


def _code_cells_nested(md: pathlib.Path) -> list[tuple[str, bool]]:
    """(source, nested) of every code cell: nested when the page shows it inside a gated
    solution/exercise (``{solution-start}`` ... ``{solution-end}``) or behind hide-input."""
    cells, depth = [], 0
    for cell in jupytext.read(md, fmt="md:myst").cells:
        if cell.cell_type == "markdown":
            for gate in GATE.findall(cell.source):
                depth += 1 if gate == "start" else -1
        elif cell.cell_type == "code":
            hidden = "hide-input" in cell.metadata.get("tags", [])
            cells.append((cell.source, depth > 0 or hidden))
    return cells


INCLUDE = re.compile(
    r"^(`{3,})\{literalinclude\} (?P<path>\S+)\n(?P<options>(?::[\w-]+:.*\n)*)",
    re.MULTILINE,
)


def _pyobject_lines(path: pathlib.Path, name: str) -> list[str]:
    """The source lines of ``Class``, ``function`` or ``Class.method`` in a module."""
    import ast

    text = path.read_text(encoding="utf-8")
    scope: list[ast.stmt] = ast.parse(text).body
    node = None
    for part in name.split("."):
        node = next(
            (
                n
                for n in scope
                if isinstance(
                    n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                )
                and n.name == part
            ),
            None,
        )
        assert node is not None, f"{path.name} has no {name}"
        scope = node.body
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return text.splitlines()[first - 1 : node.end_lineno]


def _shown_include(md: pathlib.Path, match: re.Match[str]) -> list[str]:
    """The lines a ``literalinclude`` with ``:pyobject:`` shows (start/end options and dedent applied)."""
    options = dict(
        re.findall(r"^:([\w-]+):\s*(.*)$", match["options"], flags=re.MULTILINE)
    )
    lines = _pyobject_lines(
        (md.parent / match["path"]).resolve(), options["pyobject"]
    )
    for key, keep_match in (("start-at", True), ("start-after", False)):
        if key in options:
            at = next(i for i, line in enumerate(lines) if options[key] in line)
            lines = lines[at if keep_match else at + 1 :]
    for key, keep_match in (("end-at", True), ("end-before", False)):
        if key in options:
            at = next(i for i, line in enumerate(lines) if options[key] in line)
            lines = lines[: at + 1 if keep_match else at]
    dedent = int(options.get("dedent", 0) or 0)
    return [line[dedent:] for line in lines]


def _wide_lines(md: pathlib.Path) -> list[str]:
    found = [
        f"{md.name} cell {i}: {len(line)} > {width}: {line.strip()[:60]!r}"
        for i, (source, nested) in enumerate(_code_cells_nested(md))
        for width in [NESTED_WIDTH if nested else CELL_WIDTH]
        for line in source.splitlines()
        if len(line) > width
    ]
    for match in INCLUDE.finditer(md.read_text(encoding="utf-8")):
        if ":pyobject:" not in match["options"]:
            continue
        found += [
            f"{md.name} includes {match['path']} {match['options'].split()[1]}: "
            f"{len(line)} > {INCLUDE_WIDTH}: {line.strip()[:60]!r}"
            for line in _shown_include(md, match)
            if len(line) > INCLUDE_WIDTH
        ]
    return found


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_code_on_the_page_fits_the_column(md: pathlib.Path) -> None:
    found = _wide_lines(md)
    assert not found, (
        f"code cells <= {CELL_WIDTH} characters a line (format with jupytext + ruff "
        f"format --line-length {CELL_WIDTH}), <= {NESTED_WIDTH} in solutions and "
        f"hide-input cells, included package code <= {INCLUDE_WIDTH}:\n"
        + "\n".join(found)
    )


def test_the_code_scans_see_what_they_look_for(tmp_path: pathlib.Path) -> None:
    """Each scan above finds a planted violation and passes the clean version of it."""
    module = tmp_path / "module.py"
    module.write_text(
        "class Box:\n    def fits(self):\n        return 1\n\n"
        "    def wide(self):\n        x = 1\n        return '" + "x" * 75 + "'\n",
        encoding="utf-8",
    )
    cell = "```{code-cell} ipython3\n%s\n```\n"
    md = tmp_path / "x.md"

    def write(*cells: str, prose: str = "") -> pathlib.Path:
        md.write_text("".join(cell % c for c in cells) + prose, "utf-8")
        return md

    clean = (
        'ax.plot(x, color=PALETTE["query"])\nsns.heatmap(a, cmap=SEQUENTIAL_CMAP)'
    )
    assert _style_literals(write(clean, "# the colour #0072B2 in a comment")) == []
    for bad in (
        'ax.plot(x, color="#0072B2")',
        "ax.axhline(0.1, color='grey')",
        'ax.imshow(a, cmap="viridis")',
        "ax.set_title('t', fontsize=9)",
        'BLUE = "#0072b2"',
    ):
        assert len(_style_literals(write(clean, bad))) == 1, bad

    explorer = "ex = HeatmapExplorer(\n    frames,\n)\nex"
    assert _long_explorer_cells(write(explorer + "\n\n#" * 4)) == []  # 12 lines
    assert len(_long_explorer_cells(write(explorer + "\n\n#" * 4 + "\n#"))) == 1
    imports = "from attnbook import HeatmapExplorer" + "\n#" * 20
    assert _long_explorer_cells(write(imports)) == []

    assert _wide_lines(write("x" * 84)) == []
    assert len(_wide_lines(write("x" * 85))) == 1
    gated = "```{solution-start} ex\n```\n%s```{solution-end}\n```\n"
    assert _wide_lines(write("x" * 84, prose=gated % (cell % ("x" * 82)))) == []
    assert len(_wide_lines(write("x" * 84, prose=gated % (cell % ("x" * 83))))) == 1
    hidden = ":tags: [hide-input]\n\n"
    assert _wide_lines(write(hidden + "x" * 82)) == []
    assert len(_wide_lines(write(hidden + "x" * 83))) == 1
    include = (
        "```{literalinclude} module.py\n:language: python\n:pyobject: %s\n%s```\n"
    )
    assert _wide_lines(write("x = 1", prose=include % ("Box.fits", ""))) == []
    assert len(_wide_lines(write("x = 1", prose=include % ("Box.wide", "")))) == 1
    assert len(_wide_lines(write("x = 1", prose=include % ("Box", "")))) == 1
    # the options that cut the shown code: the long line left out, or shifted left
    cut = include % ("Box.wide", ":end-before: return\n")
    assert _wide_lines(write("x = 1", prose=cut)) == []
    shifted = include % ("Box.wide", ":start-at: return\n:dedent: 8\n")
    assert _wide_lines(write("x = 1", prose=shifted)) == []


def _cells_ending_in_a_returned_value(md: pathlib.Path) -> list[str]:
    """Code cells whose last line is a call to ``record``: it returns its value, which the
    page would then show as the cell's ``Out`` (``glue`` returns ``None``)."""
    found = []
    for i, code in enumerate(_code_cells(md)):
        try:
            body = ast.parse(code).body
        except SyntaxError:  # IPython magics
            continue
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            func = last.value.func
            if getattr(func, "id", getattr(func, "attr", None)) == "record":
                found.append(f"{md.name} cell {i}: {ast.unparse(last)[:70]}")
    return found


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_no_cell_shows_a_recorded_value_as_its_output(md: pathlib.Path) -> None:
    found = _cells_ending_in_a_returned_value(md)
    assert not found, (
        "a cell that ends with record(...) prints the value under the cell; "
        "record earlier in the cell or assign it:\n" + "\n".join(found)
    )


def test_the_returned_value_scan_can_fail(tmp_path: pathlib.Path) -> None:
    md = tmp_path / "x.md"
    md.write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n"
        "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"
        "```{code-cell} ipython3\nx = 1\nrecord('a.b', x)\n```\n",
        encoding="utf-8",
    )
    assert _cells_ending_in_a_returned_value(md)
