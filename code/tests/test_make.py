"""How the book is installed and run: the Makefile's Python range and targets, Binder's files, the README."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYENV = pathlib.Path.home() / ".pyenv" / "versions"


def _version_check() -> str:
    """The one-line Python check the Makefile runs before creating .venv."""
    match = re.search(r"\$\(PYTHON\) -c '(.+)'", MAKEFILE)
    assert match, "the Makefile no longer checks the Python version"
    return match[1]


def _interpreter(minor: int) -> pathlib.Path | None:
    found = sorted(PYENV.glob(f"3.{minor}.*/bin/python3"))
    return (
        found[-1]
        if found
        else (pathlib.Path(p) if (p := shutil.which(f"python3.{minor}")) else None)
    )


@pytest.mark.parametrize(
    "minor, accepted",
    [(9, False), (10, True), (11, True), (12, True), (13, True), (14, False)],
)
def test_makefile_accepts_python_3_10_to_3_13(minor: int, accepted: bool) -> None:
    python = _interpreter(minor)
    if python is None:
        pytest.skip(f"no Python 3.{minor} on this machine")
    result = subprocess.run(
        [str(python), "-c", _version_check()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) == accepted, result.stderr
    if not accepted:
        assert "need Python 3.10-3.13" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
@pytest.mark.parametrize(
    "target", ["book", "lab", "unit", "test", "lint", "notebooks", "bench", "serve"]
)
def test_make_knows_the_documented_targets(target: str) -> None:
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"make {target}" in README, f"README.md does not mention `make {target}`"


def test_fast_target_builds_nothing_and_full_target_builds_first() -> None:
    unit = re.search(r"^unit:(.*)\n((?:\t.*\n)+)", MAKEFILE, flags=re.MULTILINE)
    test = re.search(r"^test:(.*)\n((?:\t.*\n)+)", MAKEFILE, flags=re.MULTILINE)
    assert unit and test
    assert (
        "book" not in unit[1]
        and "jupyter-book" not in unit[2]
        and "lint" in unit[1]
    )
    assert '-m "not site and not cuda"' in unit[2]
    assert (
        "book" in test[1].split()
        and "lint" in test[1].split()
        and "ATTNBOOK_REQUIRE_SITE=1" in test[2]
    )


def test_makefile_installs_jupyterlab_for_make_lab() -> None:
    pyproject = (ROOT / "code" / "pyproject.toml").read_text(encoding="utf-8")
    lab_extra = re.search(
        r"^lab = \[(.*?)\]", pyproject, flags=re.MULTILINE | re.DOTALL
    )
    assert lab_extra and "jupyterlab" in lab_extra[1]
    assert re.search(r'pip install -e "\./code\[[^\]]*\blab\b', MAKEFILE)


def test_binder_pins_python_and_installs_a_cpu_only_torch() -> None:
    runtime = (ROOT / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"python-3\.1[0-3]", runtime), runtime
    lines = [
        line.strip()
        for line in (ROOT / "binder" / "requirements.txt")
        .read_text(encoding="utf-8")
        .splitlines()
    ]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    torch = [line for line in lines if line.startswith("torch")]
    assert len(torch) == 1 and re.fullmatch(r"torch==[\d.]+\+cpu", torch[0]), torch
    make_torch = re.search(
        r"^TORCH\s*\?=\s*torch==([\d.]+)$", MAKEFILE, flags=re.MULTILINE
    )
    assert make_torch and torch[0] == f"torch=={make_torch[1]}+cpu", (
        "Binder and the Makefile use one torch version"
    )
    assert "./code" in lines, (
        "Binder installs the book's package (with anywidget and ipywidgets)"
    )
    pyproject = (ROOT / "code" / "pyproject.toml").read_text(encoding="utf-8")
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert '"anywidget' in dependencies and '"ipywidgets' in dependencies


def test_binder_button_opens_the_exported_notebooks_in_jupyterlab() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["launch_buttons"]["notebook_interface"] == "jupyterlab"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


def test_readme_says_which_pythons_are_tested_and_how_to_edit_a_chapter() -> None:
    assert "3.10–3.13" in README and "tested" in README
    assert (
        "make lab" in README and "make notebooks" in README and "binder/" in README
    )
    assert "jupytext.toml" in README


def test_executor_starts_the_longest_chapters_first() -> None:
    from bookext.notebooks import longest_first

    mds = [
        pathlib.Path(f"chapters/{stem}.md")
        for stem in ("01_a", "04_b", "07_c", "09_d")
    ]
    times = {
        "01_a": 12.0,
        "04_b": 95.0,
        "09_d": 60.5,
    }  # 07_c never ran: it may be long
    assert [md.stem for md in longest_first(mds, times)] == [
        "07_c",
        "04_b",
        "09_d",
        "01_a",
    ]
    assert longest_first(mds, {}) == mds  # nothing known: the given order


def test_build_gate_holds_sphinx_until_told(monkeypatch) -> None:
    """``make book`` starts Sphinx early; bookext's handler reads nothing before "go"."""
    import io

    from bookext.notebooks import GATE_ENV, wait_for_chapters

    monkeypatch.delenv(GATE_ENV, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("stop\n"))
    wait_for_chapters(None, None, [])  # no gate: a plain jupyter-book build
    assert (
        __import__("sys").stdin.read() == "stop\n"
    )  # ... and stdin was not touched
    monkeypatch.setenv(GATE_ENV, "1")
    monkeypatch.setattr("sys.stdin", io.StringIO("go\n"))
    wait_for_chapters(None, None, [])
    for word in ("stop\n", ""):  # a chapter failed; the parent died
        monkeypatch.setattr("sys.stdin", io.StringIO(word))
        with pytest.raises(RuntimeError, match="failed"):
            wait_for_chapters(None, None, [])


def _bench():
    """``code/benchmarks/run.py``, imported as a module."""
    import sys

    sys.path.insert(0, str(ROOT / "code" / "benchmarks"))
    try:
        import run
    finally:
        sys.path.pop(0)
    return run


def test_bench_reports_the_machine_and_warns_when_it_is_busy() -> None:
    bench = _bench()
    quiet = {
        "cores": 2,
        "usable_cores": 2,
        "load1": 0.1,
        "load5": 0.2,
        "load15": 0.3,
    }
    busy = quiet | {"load1": 5.5}
    assert bench.load_warning(quiet) == ""
    assert "contaminated" in bench.load_warning(busy)
    report = bench.markdown_report({"build.cold_s": 200.0}, busy, quiet)
    assert "on 2 cores (2 usable)" in report and "5.50 / 0.20 / 0.30" in report
    assert "contaminated" in report
    assert "contaminated" not in bench.markdown_report({}, quiet, quiet)


def test_bench_cuts_a_chapter_page_down_to_its_explorers() -> None:
    import json

    bench = _bench()
    explorer = {"state": {"_anywidget_id": "attnbook.viz.explorer.HeatmapExplorer"}}
    state = json.dumps({"state": {"m1": explorer, "m2": explorer}})
    views = [
        f'<script type="application/vnd.jupyter.widget-view+json">{{"model_id": "{m}"}}</script>'
        "<script>attnbookEmbed.draw(document.currentScript)</script>"
        for m in ("m1", "m2")
    ]
    page = (
        '<html><head><link rel="modulepreload" href="../_static/attnbook/explorer.js" />'
        '<link rel="stylesheet" href="../_static/theme.css" />'
        '<script src="../_static/attnbook/attnbook-embed.js?v=1"></script>'
        f'<script type="application/vnd.jupyter.widget-state+json">{state}</script></head>'
        f"<body><h1>Title</h1><p>Text</p>{views[0]}<p>More</p><div>{views[1]}</div></body></html>"
    )
    cut = bench.explorers_alone(page)
    assert cut.index("<body>") < cut.index(views[0]) < cut.index(views[1])
    assert "attnbook-embed.js" in cut and state in cut and "modulepreload" in cut
    assert not any(s in cut for s in ("theme.css", "Title", "Text", "More"))
    with pytest.raises(ValueError, match="attnbook-embed.js"):
        bench.explorers_alone(page.replace("attnbook-embed.js", "embed-amd.js"))
    with pytest.raises(ValueError, match="1 views"):
        bench.explorers_alone(
            page.replace(views[1], views[1].split("<script>attn")[0])
        )
