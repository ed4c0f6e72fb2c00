"""Small helpers: static heatmaps, seeding, device choice, recorded metrics, Sphinx glue."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch

from attnbook import get_device, set_seed, show_heatmaps
from attnbook.telemetry import record


def test_show_heatmaps_draws_one_panel_per_matrix_with_labels() -> None:
    fig = show_heatmaps(
        torch.rand(2, 3, 4, 5),
        row_labels=list("abcd"),
        col_labels=list("vwxyz"),
        titles=[f"head {i}" for i in range(6)],
    )
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 6
    assert [t.get_text() for t in panels[0].get_yticklabels()] == list("abcd")
    assert panels[5].get_title() == "head 5"


@pytest.mark.parametrize(
    ("matrices", "kw", "message"),
    [
        (
            np.zeros((1, 1, 1, 2, 2)),
            {},
            r"grid_rows, grid_cols, n_queries, n_keys\), got \(1, 1, 1, 2, 2\)",
        ),
        (np.full((2, 2), np.nan), {}, "must be finite"),
        (np.zeros((2, 3)), {"col_labels": ["a"]}, "col_labels must have 3 entries"),
        (np.zeros((2, 2, 3, 3)), {"titles": ["x"]}, "titles must have 4 entries"),
    ],
)
def test_show_heatmaps_bad_input(matrices, kw, message) -> None:
    with pytest.raises(ValueError, match=message):
        show_heatmaps(matrices, **kw)


def test_set_seed_makes_torch_repeatable_and_rejects_bad_seeds() -> None:
    set_seed(3)
    a = torch.rand(3)
    g = set_seed(3)
    assert torch.equal(a, torch.rand(3))
    assert torch.equal(
        torch.rand(2, generator=g),
        torch.rand(2, generator=torch.Generator().manual_seed(3)),
    )
    with pytest.raises(ValueError, match="seed"):
        set_seed(-1)


def test_get_device_reports_its_choice(capsys) -> None:
    device = get_device()
    assert isinstance(device, torch.device)
    assert device.type in capsys.readouterr().out


def test_record_appends_json_lines_only_when_asked(
    tmp_path: pathlib.Path, monkeypatch
) -> None:
    monkeypatch.delenv("ATTNBOOK_METRICS", raising=False)
    assert record("a.b", 0.5) == 0.5
    path = tmp_path / "m.jsonl"
    monkeypatch.setenv("ATTNBOOK_METRICS", str(path))
    record("a.b", 0.25)
    record("c", 3)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"a.b": 0.25},
        {"c": 3.0},
    ]
    with pytest.raises(ValueError, match="must be a finite number"):
        record("nan.metric", float("nan"))
    with pytest.raises(ValueError, match="without spaces"):
        record("has space", 1.0)
    for value in ("1.5", True, None):  # "1.5" was recorded, and returned as a str
        with pytest.raises(TypeError, match="must be a number"):
            record("c", value)
    assert record("c", torch.tensor(2.0)) == torch.tensor(2.0)


def test_interleaved_timing_wants_at_least_one_repeat() -> None:
    from attnbook.profiling import interleaved_ms

    for kwargs in (
        {"repeats": 0},
        {"warmup": -1},
        {"repeats": 2.0},
    ):  # StatisticsError
        with pytest.raises((TypeError, ValueError), match="repeats|warmup"):
            interleaved_ms({"a": lambda: 0}, **kwargs)
    assert set(interleaved_ms({"a": lambda: 0}, repeats=3)) == {"a"}


def test_sphinx_glue_ships_every_script_it_points_to() -> None:
    from types import SimpleNamespace

    import bookext as sphinxext

    config = SimpleNamespace()
    sphinxext._use_local_scripts(None, config)  # type: ignore[arg-type]
    here = pathlib.Path(sphinxext.__file__).parent
    vendor = here / "vendor"
    for path in [
        *config.nb_ipywidgets_js,
        config.mathjax_path,
        f"attnbook/{sphinxext.LIGHT_SCRIPT}",
    ]:
        assert path.startswith("attnbook/") and "://" not in path
        name = path.removeprefix("attnbook/")
        assert (vendor / name).is_file() or (here / "static" / name).is_file(), (
            f"{path} is not shipped"
        )
    assert sphinxext._anywidget_frontend().is_file()
    assert len(list((vendor / "html-manager" / "dist").glob("*.woff2"))) == 3


def test_get_device_uses_one_cpu_thread_by_default_and_checks_its_argument() -> (
    None
):
    before = torch.get_num_threads()
    try:
        if get_device(verbose=False).type == "cpu":
            assert torch.get_num_threads() == 1
            get_device(verbose=False, cpu_threads=2)
            assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="cpu_threads"):
            get_device(cpu_threads=0)
    finally:
        torch.set_num_threads(before)


def test_get_device_says_when_it_changes_the_thread_count_and_set_cpu_threads_is_explicit(
    capsys,
) -> None:
    from attnbook.device import set_cpu_threads

    before = torch.get_num_threads()
    try:
        assert set_cpu_threads(2) == before
        assert torch.get_num_threads() == 2
        if get_device(cpu_threads=1).type == "cpu":
            out = capsys.readouterr().out
            assert "1 thread" in out and "was 2" in out
            get_device(cpu_threads=None)
            assert "was" not in capsys.readouterr().out
        with pytest.raises(TypeError, match="n must be an int"):
            set_cpu_threads(1.0)
    finally:
        torch.set_num_threads(before)


def test_importing_the_model_and_data_modules_loads_no_figure_or_progress_libraries() -> (
    None
):
    import subprocess
    import sys

    modules = "seq2seq decoding kernels hard_attention train metrics data channel_spatial vit device pretrained"
    heavy = (
        "matplotlib",
        "anywidget",
        "tqdm.auto",
        "IPython",
        "babel",
        "sklearn",
        "pyrealb",
        "safetensors",
    )
    code = (
        "import sys, attnbook; "
        + "; ".join(f"import attnbook.{m}" for m in modules.split())
        + f"; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "", f"imported at import time: {out.strip()}"


@pytest.mark.parametrize("value", [0.9715, "the bandwidth", 12, [1, 2]])
@pytest.mark.parametrize("display", [False, True])
def test_glue_writes_what_myst_nb_writes(monkeypatch, value, display) -> None:
    """``telemetry.glue`` skips importing myst-nb's glue module; the output must be the same."""
    import IPython.display
    import myst_nb.ext.glue

    from attnbook.telemetry import glue

    calls: dict[str, list] = {"book": [], "myst-nb": []}
    monkeypatch.setattr(
        IPython.display, "display", lambda *a, **k: calls["book"].append((a, k))
    )
    monkeypatch.setattr(
        myst_nb.ext.glue,
        "ipy_display",
        lambda *a, **k: calls["myst-nb"].append((a, k)),
    )
    # None, like myst-nb's: a cell that ends with glue(...) shows no Out value
    assert glue("x", value, display=display) is None
    assert myst_nb.ext.glue.glue("x", value, display=display) is None
    assert calls["book"] == calls["myst-nb"] != []


def test_glue_without_myst_nb_only_shows_when_asked(monkeypatch) -> None:
    import importlib.util

    import IPython.display

    from attnbook.telemetry import glue

    shown: list = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    assert glue("x", 3.5) is None and shown == []
    assert glue("x", 3.5, display=True) is None and shown == [(3.5,)]
