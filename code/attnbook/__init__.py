"""attnbook -- the helper package of the *Interactive Attention* book.

One module per idea; the chapters import from here and show the code they use.
"""

from attnbook.attention import (
    AdditiveAttention,
    BilinearScore,
    ConcatScore,
    DotProductAttention,
    MultiHeadAttention,
    masked_softmax,
    softmax_with_mask,
)
from attnbook.device import get_device
from attnbook.positional import PositionalEncoding, apply_rotary
from attnbook.pretrained import load_minilm, sentence_attention
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
    "MultiHeadAttention",
    "PositionalEncoding",
    "apply_rotary",
    "get_device",
    "load_minilm",
    "masked_softmax",
    "sentence_attention",
    "set_seed",
    "show_heatmaps",
    "softmax_with_mask",
]
