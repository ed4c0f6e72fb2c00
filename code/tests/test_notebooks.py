"""The readers' notebooks: plain Markdown exported from the chapters, and JupyterLab that leaves git clean."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jupytext
import nbformat
import pytest
from jupytext.config import (
    find_jupytext_configuration_file,
    load_jupytext_configuration_file,
)
from sphinx.directives.code import LiteralIncludeReader

from bookext.notebooks import (
    GLUE_NOTE,
    export_notebook,
    notebook_text,
    read_chapter,
    strip_outputs_before_save,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
SITE = "https://interactive-attention.github.io/interactive-attention"

#: MyST that a notebook front-end would show as raw text: roles, directive fences, targets, labelled math.
RAW_MYST = re.compile(
    r"\{[A-Za-z][\w:+.-]*\}`"  # {role}`...`
    r"|^[ \t]*(?:>[ \t]*)*(?:`{3,}|:{3,})[ \t]*\{"  # ```{directive} or :::{directive}, quoted or not
    r"|^[ \t]*\([^()\s]+\)=[ \t]*$"  # (label)=
    r"|\$\$[ \t]*\([^()\s]+\)[ \t]*$",  # $$ (label)
    re.MULTILINE,
)


def raw_myst(nb: nbformat.NotebookNode) -> list[str]:
    return [
        m.group(0).strip()
        for c in nb.cells
        if c.cell_type == "markdown"
        for m in RAW_MYST.finditer(c.source)
    ]


def markdown(nb: nbformat.NotebookNode) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


# -- the export, on a small book made for the test -------------------------------------------------------

SAMPLE = """---
jupytext:
  formats: md:myst
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---

# 1. A sample

:::{admonition} Learning goals
:class: tip
Know {term}`additive <additive attention>` scores ({term}`bleu`) {cite:p}`vaswani2017attention,bahdanau2015neural`.
:::

(sec-sample)=
## A section

{footcite:t}`vaswani2017attention` scale by $\\sqrt{d}$; see {ref}`sec-other` and {ref}`the section <sec-sample>`.
The model reaches {glue:text}`acc:.1%` exact match.

$$
a = b
$$ (eq-ab)

Equation {eq}`eq-ab` holds.

```{literalinclude} ../pkg/mod.py
:language: python
:pyobject: Thing.method
```

```{literalinclude} ../pkg/mod.py
:language: python
:lines: 1-2
```

```{figure} figures/box.svg
:alt: A box
:name: fig-box

The box, drawn.
```

Inline, the same file: ![a box](figures/box.svg).

:::{note}
:class: dropdown
Hidden until opened.
:::

```{code-cell} ipython3
x = 1
```

## Exercises

```{exercise}
:label: ex-one

Compute it.
```

````{solution} ex-one
:class: dropdown

Like this:

```python
print(2)
```
````

```{exercise}
:label: ex-two

Compute more.
```

:::{solution-start} ex-two
:class: dropdown
:::

Run this:

```{code-cell} ipython3
print(3)
```

:::{solution-end}
:::

```{footbibliography}
```
"""

PACKAGE = '''import math
import torch


class Thing:
    """A thing."""

    def method(self) -> int:
        return 1

    def other(self) -> int:
        return 2
'''

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("book")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    chapters = root / "chapters"
    (chapters / "figures").mkdir(parents=True)
    shutil.copy(ROOT / "chapters" / "references.bib", chapters / "references.bib")
    (chapters / "figures" / "box.svg").write_text(SVG, encoding="utf-8")
    (chapters / "01_sample.md").write_text(SAMPLE, encoding="utf-8")
    (chapters / "02_other.md").write_text(
        "# Other\n\n(sec-other)=\n## Another section\n\nText.\n", encoding="utf-8"
    )
    glossary = "# Glossary\n\n```{glossary}\nadditive attention\n  A score.\n\nBLEU\n  A metric.\n```\n"
    (chapters / "glossary.md").write_text(glossary, encoding="utf-8")
    (root / "pkg").mkdir()
    (root / "pkg" / "mod.py").write_text(PACKAGE, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sample(book: pathlib.Path) -> nbformat.NotebookNode:
    return export_notebook(book / "chapters" / "01_sample.md", root=book)


def test_export_leaves_no_raw_myst_and_keeps_every_code_cell_without_outputs(
    book: pathlib.Path, sample: nbformat.NotebookNode
) -> None:
    assert raw_myst(sample) == []
    source = read_chapter(book / "chapters" / "01_sample.md", root=book)
    code = [c for c in sample.cells if c.cell_type == "code"]
    assert [c.source for c in code] == [
        c.source for c in source.cells if c.cell_type == "code"
    ]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "jupytext" not in sample.metadata, (
        "an export is not a jupytext pair: saving it must not rewrite the .md"
    )
    nbformat.validate(sample)


def test_terms_and_citations_become_links(sample: nbformat.NotebookNode) -> None:
    text = markdown(sample)
    assert (
        f"[**additive**]({SITE}/chapters/glossary.html#term-additive-attention)"
        in text
    )
    assert (
        f"[**bleu**]({SITE}/chapters/glossary.html#term-BLEU)" in text
    )  # the anchor keeps the glossary's spelling
    bib = f"{SITE}/chapters/bibliography.html"
    assert (
        f"([Vaswani et al., 2017]({bib}); [Bahdanau et al., 2015]({bib}))" in text
    )
    assert f"Vaswani et al. ([2017]({bib})) scale" in text


def test_references_labels_and_equations_resolve(
    sample: nbformat.NotebookNode,
) -> None:
    text = markdown(sample)
    assert f"[Another section]({SITE}/chapters/02_other.html#sec-other)" in text
    assert f"[the section]({SITE}/chapters/01_sample.html#sec-sample)" in text
    assert "\\tag{1} $$" in text and "Equation (1) holds" in text
    references = sample.cells[-1].source
    assert (
        references.startswith("1. Ashish Vaswani")
        and "\n2. Dzmitry Bahdanau" in references
    )  # citation order


def test_glued_values_are_marked_and_explained(
    sample: nbformat.NotebookNode,
) -> None:
    text = markdown(sample)
    assert "reaches ⟨acc⟩ exact match" in text and GLUE_NOTE in text


def test_literalinclude_shows_the_included_code(
    sample: nbformat.NotebookNode,
) -> None:
    text = markdown(sample)
    assert (
        "```python\n    def method(self) -> int:\n        return 1\n```" in text
    )  # :pyobject:, indented as on the page
    assert "def other" not in text
    assert "```python\nimport math\nimport torch\n```" in text  # :lines:


def test_admonitions_exercises_and_solutions(sample: nbformat.NotebookNode) -> None:
    text = markdown(sample)
    assert "> **Learning goals**\n>\n> Know " in text
    assert (
        "<details><summary><b>Note</b></summary>\n\nHidden until opened.\n\n</details>"
        in text
    )
    assert (
        "> **Exercise 1**\n>\n> Compute it." in text and "> **Exercise 2**" in text
    )
    assert (
        "<details><summary><b>Solution to Exercise 1</b></summary>" in text
        and "```python\nprint(2)\n```" in text
    )
    cells = [(c.cell_type, c.source) for c in sample.cells]
    gated = next(
        i for i, (_, s) in enumerate(cells) if "**Solution to Exercise 2**" in s
    )
    assert cells[gated + 1] == ("code", "print(3)"), (
        "a gated solution keeps its code cell"
    )


def test_figures_are_attached_images(sample: nbformat.NotebookNode) -> None:
    cell = next(c for c in sample.cells if "attachment:box.svg" in c.source)
    assert "![A box](attachment:box.svg)\n\nThe box, drawn." in cell.source
    assert (
        base64.b64decode(cell.attachments["box.svg"]["image/svg+xml"]).decode()
        == SVG
    )
    assert "Inline, the same file: ![a box](attachment:box.svg)." in cell.source


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("```{mermaid}\ngraph\n```\n", "mermaid"),
        ("Use {unknownrole}`x` here.\n", "unknownrole"),
        ("See {ref}`no-such-label`.\n", "no-such-label"),
        ("{cite:p}`nobody2099`\n", "nobody2099"),
        ("A {term}`no such term`.\n", "no such term"),
    ],
)
def test_what_cannot_be_exported_is_an_error_not_raw_text(
    book: pathlib.Path, text: str, complaint: str
) -> None:
    md = book / "chapters" / "03_bad.md"
    md.write_text(
        SAMPLE.split("# 1. A sample")[0] + "# Bad\n\n" + text, encoding="utf-8"
    )
    try:
        with pytest.raises(ValueError, match=complaint):
            export_notebook(md, root=book)
    finally:
        md.unlink()


# -- the book's own chapters -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports() -> dict[str, nbformat.NotebookNode]:
    return {md.stem: export_notebook(md) for md in CHAPTERS}


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_raw_myst(md: pathlib.Path) -> None:
    notebook = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    assert raw_myst(notebook) == [], (
        f"{md.with_suffix('.ipynb').name} shows raw MyST: `make notebooks`"
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_export_of_every_chapter_has_no_raw_myst_and_shows_every_included_code(
    md: pathlib.Path, exports: dict[str, nbformat.NotebookNode]
) -> None:
    notebook = exports[md.stem]
    assert raw_myst(notebook) == []
    text = markdown(notebook)
    config = type("Config", (), {"source_encoding": "utf-8-sig"})()
    for match in re.finditer(
        r"```\{literalinclude\} (\S+)\n((?::[\w-]+:.*\n)*)",
        md.read_text(encoding="utf-8"),
    ):
        options = dict(re.findall(r":([\w-]+):\s*(.*)", match[2]))
        options = {k: (int(v) if k == "dedent" else v) for k, v in options.items()}
        code, _ = LiteralIncludeReader(
            str(md.parent / match[1]), options, config
        ).read()
        assert code.rstrip("\n") in text, (
            f"{md.name}: the code of {match[1]} {options} is not shown"
        )


# -- editing and running in JupyterLab ------------------------------------------------------------------------


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_saving_a_chapter_source_in_jupyter_changes_no_byte_and_writes_no_notebook(
    md: pathlib.Path,
) -> None:
    """JupyterLab's jupytext extension reads and writes the .md with the configuration it finds."""
    config_file = find_jupytext_configuration_file(str(md.parent))
    assert (
        config_file is not None
        and pathlib.Path(config_file) == ROOT / "chapters" / "jupytext.toml"
    )
    config = load_jupytext_configuration_file(config_file)
    text = md.read_text(encoding="utf-8")
    notebook = jupytext.reads(text, fmt="md:myst")
    assert jupytext.writes(notebook, fmt="md:myst", config=config) == text
    formats = str(notebook.metadata.get("jupytext", {}).get("formats", ""))
    assert "ipynb" not in formats, (
        f"{md.name} pairs itself with its .ipynb (front matter `formats: {formats}`): saving the .md in Jupyter "
        "would overwrite the exported notebook. Drop the `formats:` line."
    )


def test_pre_save_hook_gives_back_the_exported_file(tmp_path: pathlib.Path) -> None:
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    md = chapters / "01_x.md"
    md.write_text("x", encoding="utf-8")
    exported = export_notebook(CHAPTERS[0])
    content = json.loads(notebook_text(exported))
    content["metadata"]["language_info"] = {
        "name": "python",
        "version": "3.11.7",
        "mimetype": "text/x-python",
    }
    for cell in content["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [
                {"output_type": "stream", "name": "stdout", "text": "hi\n"}
            ]
            cell["execution_count"] = 3
            cell["metadata"]["execution"] = {
                "iopub.status.busy": "2026-01-01T00:00:00Z"
            }
    manager = type("Manager", (), {"root_dir": str(tmp_path)})()
    strip_outputs_before_save(
        {"type": "notebook", "content": content},
        "chapters/01_x.ipynb",
        contents_manager=manager,
    )
    assert notebook_text(nbformat.from_dict(content)) == notebook_text(exported)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lab_flags() -> list[str]:
    """The options `make lab` passes to JupyterLab (read from the Makefile, so the test runs its command)."""
    recipe = (
        (ROOT / "Makefile")
        .read_text(encoding="utf-8")
        .split("\nlab:", 1)[1]
        .split("\n\n", 1)[0]
    )
    return re.findall(r"--[\w.]+=\S+", recipe)


def test_jupyter_lab_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jupyterlab", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and re.match(r"4\.", result.stdout), result.stderr


def test_make_lab_serves_the_chapters_on_loopback_and_saving_leaves_them_unchanged(
    tmp_path: pathlib.Path,
) -> None:
    """Starts JupyterLab as `make lab` does, on a copy of a chapter; saves it with outputs through the API."""
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    md = CHAPTERS[0]
    shutil.copy(md, chapters / md.name)
    exported = notebook_text(export_notebook(md))
    (chapters / md.with_suffix(".ipynb").name).write_text(
        exported, encoding="utf-8"
    )
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        *_lab_flags(),
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp_path}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append(
            "--allow-root"
        )  # as `make lab` does for root (CI, containers)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "code"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
    )
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(f"{base}/lab", headers=headers),
                    timeout=10,
                ) as page:
                    assert (
                        page.status == 200 and "JupyterLab" in page.read().decode()
                    )
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (tmp_path / "lab.log").read_text()
                assert time.monotonic() < deadline, (
                    "JupyterLab did not answer within 120 s"
                )
                time.sleep(0.5)
        api = f"{base}/api/contents/chapters/{md.with_suffix('.ipynb').name}"
        with urllib.request.urlopen(
            urllib.request.Request(api, headers=headers), timeout=30
        ) as response:
            model = json.load(response)
        for cell in model["content"]["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = [
                    {"output_type": "stream", "name": "stdout", "text": "ran\n"}
                ]
                cell["execution_count"] = 1
        model["content"]["metadata"]["language_info"] = {
            "name": "python",
            "version": "3.11",
        }
        body = json.dumps(
            {"type": "notebook", "format": "json", "content": model["content"]}
        ).encode()
        save = urllib.request.Request(
            api,
            data=body,
            method="PUT",
            headers={**headers, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(save, timeout=30) as response:
            assert response.status == 200
        assert (chapters / md.with_suffix(".ipynb").name).read_text(
            encoding="utf-8"
        ) == exported
        assert (chapters / md.name).read_text(encoding="utf-8") == md.read_text(
            encoding="utf-8"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    assert server.returncode is not None


# -- parallel execution into the build's cache ------------------------------------------------------------------


def test_execute_fills_the_cache_the_build_reads_and_then_skips(
    tmp_path: pathlib.Path,
) -> None:
    from jupyter_cache import get_cache

    from bookext.notebooks import execute

    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    header = SAMPLE.split("# 1. A sample")[0]
    cell = "```{code-cell} ipython3\nimport os, pathlib\nprint(pathlib.Path.cwd().name, os.environ['OMP_NUM_THREADS'])\n```\n"
    mds = []
    for stem in (
        "01_one",
        "02_two",
    ):  # different code: the cache is keyed by the code cells
        own = f"```{{code-cell}} ipython3\nchapter = {stem!r}\n```\n"
        (chapters / f"{stem}.md").write_text(
            f"{header}# {stem}\n\n{own}\n{cell}", encoding="utf-8"
        )
        mds.append(chapters / f"{stem}.md")
    messages: list[str] = []
    runs = execute(mds, root=tmp_path, jobs=2, log=messages.append)
    assert [run.md.name for run in runs] == ["01_one.md", "02_two.md"] and not any(
        run.error for run in runs
    )
    assert all(run.seconds > 0 and run.peak_mb > 10 for run in runs), (
        "the kernel's memory was not measured"
    )
    assert "executing 2 chapter(s), 2 at a time" in messages[0]
    cache = get_cache(str(tmp_path / "_build" / ".jupyter_cache"))
    for md, run in zip(mds, runs, strict=True):
        record = cache.match_cache_notebook(
            read_chapter(md, root=tmp_path)
        )  # what myst-nb looks up
        assert record.data["execution_seconds"] == run.seconds
        outputs = run.notebook.cells[-1].outputs
        assert outputs[0]["text"] == "chapters 1\n", (
            "chapters run in their folder, on one thread"
        )
    assert execute(mds, root=tmp_path, log=messages.append) == [] and messages[
        -1
    ].startswith("no chapter changed")
