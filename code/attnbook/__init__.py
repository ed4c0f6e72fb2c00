"""attnbook -- the helper package of the *Interactive Attention* book.

One module per idea; the chapters import from here and show the code they use.
Every public name is imported from its module on first use (``from attnbook import
masked_softmax`` imports ``attnbook.attention`` and torch), so ``import attnbook``
itself costs nothing and the figures (anywidget, matplotlib) load only when a
chapter draws one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Every public name and the module it lives in, imported on first access.
_LAZY = {
    "AdditiveAttention": "attnbook.attention",
    "BilinearScore": "attnbook.attention",
    "ConcatScore": "attnbook.attention",
    "DotProductAttention": "attnbook.attention",
    "MultiHeadAttention": "attnbook.attention",
    "masked_softmax": "attnbook.attention",
    "softmax_with_mask": "attnbook.attention",
    "get_device": "attnbook.device",
    "PositionalEncoding": "attnbook.positional",
    "apply_rotary": "attnbook.positional",
    "set_seed": "attnbook.train",
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
