"""Print-like heatmap grids with matplotlib (for figures that need no slider)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from attnbook.viz.theme import SEQUENTIAL_CMAP

__all__ = ["show_heatmaps"]


def show_heatmaps(
    matrices: Any,
    *,
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    xlabel: str = "keys",
    ylabel: str = "queries",
    titles: Sequence[str] | None = None,
    cmap: str = SEQUENTIAL_CMAP,
    cell_inches: float = 0.28,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """Draw a grid of heatmaps sharing one colour scale and one colour bar.

    Args:
        matrices: array of shape ``(n_grid_rows, n_grid_cols, n_queries, n_keys)``
            (numpy or torch); a 2-D or 3-D array is promoted to one row of panels.
        row_labels, col_labels: tick labels of each panel (default: indices).
        titles: one title per panel, in row-major order.

    Returns:
        The matplotlib figure; as the last expression of a cell it is shown once.
    """
    if hasattr(matrices, "detach"):
        matrices = matrices.detach().cpu().numpy()
    m = np.asarray(matrices, dtype=float)
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3:
        m = m[None]
    if m.ndim != 4 or 0 in m.shape:
        raise ValueError(
            f"matrices must have shape (grid_rows, grid_cols, n_queries, n_keys), got {np.shape(matrices)}"
        )
    if not np.all(np.isfinite(m)):
        raise ValueError("matrices must be finite, got NaN or inf")
    gr, gc, nq, nk = m.shape
    for labels, n, what in (
        (row_labels, nq, "row_labels"),
        (col_labels, nk, "col_labels"),
    ):
        if labels is not None and len(labels) != n:
            raise ValueError(
                f"{what} must have {n} entries (one per {'query' if what == 'row_labels' else 'key'}), got {len(labels)}"
            )
    if titles is not None and len(titles) != gr * gc:
        raise ValueError(
            f"titles must have {gr * gc} entries (one per panel), got {len(titles)}"
        )

    lo = float(m.min()) if vmin is None else vmin
    hi = float(m.max()) if vmax is None else vmax
    panel_w = max(1.6, nk * cell_inches)
    panel_h = max(1.2, nq * cell_inches)
    fig = plt.figure(
        figsize=(gc * panel_w + 1.2, gr * panel_h + 0.6), layout="constrained"
    )
    plt.close(fig)  # returned, not auto-shown: Jupyter displays it exactly once
    axes = fig.subplots(gr, gc, squeeze=False, sharex=True, sharey=True)
    image = None
    for i in range(gr):
        for j in range(gc):
            ax = axes[i, j]
            image = ax.imshow(
                m[i, j],
                cmap=cmap,
                vmin=lo,
                vmax=hi,
                aspect="auto",
                interpolation="nearest",
            )
            if col_labels is not None:
                ax.set_xticks(range(nk), [str(c) for c in col_labels], rotation=90)
            if row_labels is not None:
                ax.set_yticks(range(nq), [str(r) for r in row_labels])
            if i == gr - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles is not None:
                ax.set_title(titles[i * gc + j])
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    return fig
