"""Figures: the interactive :class:`HeatmapExplorer` and static :func:`show_heatmaps`."""

from attnbook.viz.explorer import HeatmapExplorer, LinePlot
from attnbook.viz.static import show_heatmaps

__all__ = ["HeatmapExplorer", "LinePlot", "show_heatmaps"]
