"""attnbook -- the helper package of the *Interactive Attention* book.

One module per idea; the chapters import from here and show the code they use.
"""

from attnbook.attention import (
    AdditiveAttention,
    BilinearScore,
    ConcatScore,
    DotProductAttention,
    masked_softmax,
)
from attnbook.device import get_device
from attnbook.train import set_seed
from attnbook.viz import HeatmapExplorer, LinePlot, show_heatmaps

__version__ = "0.1.0"

__all__ = [
    "AdditiveAttention",
    "BilinearScore",
    "ConcatScore",
    "DotProductAttention",
    "HeatmapExplorer",
    "LinePlot",
    "get_device",
    "masked_softmax",
    "set_seed",
    "show_heatmaps",
]
