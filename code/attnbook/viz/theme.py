"""The book's visual theme: one palette and one font for every figure.

The same colours mean the same thing everywhere -- in the architecture
diagrams (``chapters/figures/*.svg``, drawn by ``code/bookext/diagrams.py``),
in matplotlib/seaborn figures and in the heatmap explorer:

* query, key and value have a colour each (from Okabe & Ito's colour-blind-safe
  palette, which the explorer also uses for its line plots);
* attention weights are drawn with one sequential colour map, ``viridis``
  (perceptually uniform, colour-blind safe, readable in greyscale); masked
  cells are light grey, as in the explorer.

:func:`use_theme` applies the theme to matplotlib (and to seaborn, when it is
installed). Importing this module imports neither of them; ``import attnbook``
does not import this module.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DIVERGING_CMAP",
    "FONT_FAMILY",
    "IMAGE_CMAP",
    "INK",
    "MASKED",
    "PALETTE",
    "REFERENCE",
    "SEQUENTIAL_CMAP",
    "SERIES_COLOURS",
    "use_theme",
]

#: Okabe & Ito (2008) colours, in the order the explorer's line plots use them.
SERIES_COLOURS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
)

#: The colour of each role, in diagrams and plots alike.
PALETTE: dict[str, str] = {
    "query": "#D55E00",  # vermillion
    "key": "#0072B2",  # blue
    "value": "#009E73",  # bluish green
    "weights": "#3B528B",  # viridis at 0.25: the colour map's own hue, for arrows and outlines
    "output": "#CC79A7",  # reddish purple: what attention pooling returns
}

#: The sequential colour map of attention weights (heatmaps, explorer, diagrams).
SEQUENTIAL_CMAP = "viridis"

#: Signed quantities (a positional-encoding table, a difference): blue < 0 < red.
DIVERGING_CMAP = "RdBu_r"

#: Grey-scale images (digits, feature maps shown as pictures): dark ink on white.
IMAGE_CMAP = "gray_r"

#: Reference lines and bars that are not a result (chance level, a ceiling, counts).
REFERENCE = "#777777"

#: Cells that are masked out (padding, future positions): the explorer's grey.
MASKED = "#d9d9d9"

#: Text and lines.
INK = "#222222"

#: pydata-sphinx-theme's system font stack, with fallbacks matplotlib knows.
FONT_FAMILY: tuple[str, ...] = (
    "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "DejaVu Sans", "sans-serif",
)  # fmt: skip


def _rc() -> dict[str, Any]:
    from cycler import cycler

    return {
        "font.family": "sans-serif",
        "font.sans-serif": [
            f
            for f in FONT_FAMILY
            if f not in ("system-ui", "-apple-system", "sans-serif")
        ],
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "legend.fontsize": 9,
        "axes.prop_cycle": cycler(color=list(SERIES_COLOURS)),
        "image.cmap": SEQUENTIAL_CMAP,
        "text.color": INK,
        "axes.labelcolor": INK,
        "axes.edgecolor": "#555555",
        "xtick.color": "#444444",
        "ytick.color": "#444444",
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "figure.facecolor": "white",
        "axes.facecolor": "white",
    }


def use_theme() -> None:
    """Style every later matplotlib (and seaborn) figure the book's way.

    Sets matplotlib's ``rcParams`` (font, sizes, the series colours as the
    property cycle, ``viridis`` as the default image colour map) and, if seaborn
    is installed, ``seaborn.set_theme`` with the same colours and font on a
    white grid. Calling it twice is harmless.
    """
    import matplotlib as mpl

    rc = _rc()
    try:
        import seaborn as sns
    except ImportError:
        mpl.rcParams.update(rc)
        return
    sns.set_theme(
        context="notebook", style="whitegrid", palette=list(SERIES_COLOURS), rc=rc
    )
    mpl.rcParams.update(rc)  # seaborn's context scales sizes: ours win
