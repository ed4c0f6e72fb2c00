"""attnbook.viz.theme: one palette for diagrams, matplotlib, seaborn and the explorer."""

from __future__ import annotations

import inspect
import subprocess
import sys

import matplotlib as mpl
import pytest

from attnbook.viz import theme


def test_import_attnbook_does_not_load_the_theme_or_plotting() -> None:
    code = "import sys, attnbook; print(any(m in sys.modules for m in ('attnbook.viz.theme', 'seaborn')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_explorer_and_static_heatmaps_default_to_the_theme_colour_map() -> None:
    from attnbook.viz import HeatmapExplorer, show_heatmaps

    assert (
        inspect.signature(HeatmapExplorer.__init__).parameters["cmap"].default
        == theme.SEQUENTIAL_CMAP
    )
    assert (
        inspect.signature(show_heatmaps).parameters["cmap"].default
        == theme.SEQUENTIAL_CMAP
    )


def test_explorer_front_end_uses_the_same_series_colours_and_masked_grey() -> None:
    from attnbook.viz.explorer import _bundle

    text = (
        _bundle()
    )  # the front-end as anywidget gets it (js/theme.js holds the colours)
    for colour in theme.SERIES_COLOURS:
        assert colour in text
    assert f'masked: "{theme.MASKED}"' in text


def test_palette_roles_are_distinct_hex_colours() -> None:
    colours = [
        theme.PALETTE[r] for r in ("query", "key", "value", "weights", "output")
    ]
    assert len(set(colours)) == len(colours)
    assert all(len(c) == 7 and c.startswith("#") for c in colours)
    assert {theme.PALETTE[r] for r in ("query", "key", "value")} <= set(
        theme.SERIES_COLOURS
    )


def test_weights_colour_is_taken_from_the_sequential_colour_map() -> None:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    assert (
        to_hex(colormaps[theme.SEQUENTIAL_CMAP](0.25)).lower()
        == theme.PALETTE["weights"].lower()
    )


def test_use_theme_sets_matplotlib_and_seaborn() -> None:
    with mpl.rc_context():
        mpl.rcParams["image.cmap"] = "magma"
        theme.use_theme()
        assert mpl.rcParams["image.cmap"] == theme.SEQUENTIAL_CMAP
        cycle = [c["color"].lower() for c in mpl.rcParams["axes.prop_cycle"]]
        assert cycle == [c.lower() for c in theme.SERIES_COLOURS]
        assert mpl.rcParams["font.family"] == ["sans-serif"]
        assert "Arial" in mpl.rcParams["font.sans-serif"]
        sns = pytest.importorskip("seaborn")
        assert [tuple(round(x, 3) for x in c) for c in sns.color_palette()][:3] == [
            tuple(round(x, 3) for x in mpl.colors.to_rgb(c))
            for c in theme.SERIES_COLOURS[:3]
        ]
        theme.use_theme()  # twice is harmless
        assert mpl.rcParams["image.cmap"] == theme.SEQUENTIAL_CMAP
