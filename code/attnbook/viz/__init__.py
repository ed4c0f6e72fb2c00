"""Figures: the interactive :class:`HeatmapExplorer` (with :func:`attention_frames` to feed it
a model's weights) and static :func:`show_heatmaps`."""

from attnbook.viz.explorer import (
    HeatmapExplorer,
    LinePlot,
    SliderError,
    attention_frames,
)
from attnbook.viz.static import show_heatmaps

__all__ = [
    "HeatmapExplorer",
    "LinePlot",
    "SliderError",
    "attention_frames",
    "show_heatmaps",
]
