"""Figures: the interactive :class:`HeatmapExplorer` and static :func:`show_heatmaps`."""

from attnbook.viz.explorer import HeatmapExplorer
from attnbook.viz.static import show_heatmaps

__all__ = ["HeatmapExplorer", "show_heatmaps"]
