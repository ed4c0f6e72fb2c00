"""attnbook -- the helper package of the *Interactive Attention* book.

One module per idea; the chapters import from here and show the code they use.
The figures (``HeatmapExplorer``, ``LinePlot``, ``show_heatmaps``: anywidget and
matplotlib) and the pretrained MiniLM (``load_minilm``, ``sentence_attention``)
are imported on first use, so that ``import attnbook`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from attnbook.train import set_seed

if TYPE_CHECKING:
    from attnbook.pretrained import load_minilm, sentence_attention
    from attnbook.viz import HeatmapExplorer, LinePlot, show_heatmaps

__version__ = "0.1.0"

#: Public names whose modules are imported on first access (name -> module).
_LAZY = {
    "HeatmapExplorer": "attnbook.viz",
    "LinePlot": "attnbook.viz",
    "show_heatmaps": "attnbook.viz",
    "load_minilm": "attnbook.pretrained",
    "sentence_attention": "attnbook.pretrained",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'attnbook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
