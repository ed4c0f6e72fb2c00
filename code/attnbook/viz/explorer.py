"""The book's one interactive figure: a heatmap explorer with named sliders.

A :class:`HeatmapExplorer` holds a stack of precomputed heatmaps (*frames*)
indexed by any number of named slider axes -- layer, head, query, temperature,
... -- and draws the frame the sliders point at, with labels on both axes, a
colour bar and a hover read-out of the exact value. Optionally a *row slider*
picks one row (one query) to outline, and a :class:`LinePlot` under the heatmap
shows curves that follow the same sliders (e.g. a fitted function) together
with the selected row's weights at the keys' positions.

All frames travel to the browser at once as a single float16 buffer, so moving
a slider redraws without asking Python anything. That is what makes the figure
work on the static website (no kernel). In a live kernel the slider positions
are a synchronised trait (``position``): Python can observe them and push new
frames with :meth:`HeatmapExplorer.set_frames`.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anywidget
import numpy as np
import traitlets

__all__ = ["HeatmapExplorer", "LinePlot"]

_HERE = pathlib.Path(__file__).parent
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def _labels(values: Sequence[Any], what: str) -> list[str]:
    """Turn tick values into short strings (floats with 3 significant digits)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{what} must be a sequence of labels, got {type(values).__name__}")
    out = []
    for v in values:
        if isinstance(v, (float, np.floating)):
            out.append(f"{float(v):.3g}")
        else:
            out.append(str(v))
    return out


def _as_array(frames: Any) -> np.ndarray:
    """Accept numpy arrays, torch tensors and nested lists."""
    if hasattr(frames, "detach"):  # torch.Tensor without importing torch
        frames = frames.detach().cpu().numpy()
    try:
        arr = np.asarray(frames, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"frames must be a numeric array, got {type(frames).__name__}: {exc}") from None
    return arr


def _vector(values: Any, what: str, length: int | None = None) -> np.ndarray:
    """A finite 1-D float array, optionally of a given length."""
    arr = _as_array(values)
    if arr.ndim != 1 or (length is not None and len(arr) != length):
        want = f"({length},)" if length is not None else "a 1-D array"
        raise ValueError(f"{what} must have shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got NaN or inf")
    return arr


@dataclass(frozen=True)
class LinePlot:
    """A line chart drawn under the heatmap that follows the same sliders.

    Args:
        x: shared x values of every series, shape ``(n_x,)``.
        series: name -> y values, shape ``(n_x,)`` (fixed) or ``(*axis_sizes, n_x)``
            (one curve per slider position, like the frames).
        points: optional ``(xs, ys)`` drawn as dots, e.g. the training data.
        col_x: optional x position of each heatmap column (each key); with a row
            slider, the selected row's weights are drawn as stems at these x.
        row_x: optional x position of each heatmap row (each query); with a row
            slider, a dashed line marks the selected query.
        xlabel, ylabel: axis titles.
    """

    x: Any
    series: Mapping[str, Any] = field(default_factory=dict)
    points: tuple[Any, Any] | None = None
    col_x: Any = None
    row_x: Any = None
    xlabel: str = ""
    ylabel: str = ""

    def encode(self, sizes: tuple[int, ...], n_rows: int, n_cols: int) -> tuple[dict[str, Any], bytes]:
        """Validate against the frames' slider sizes; return (JSON part, float32 series buffer)."""
        x = _vector(self.x, "plot.x")
        if len(x) < 2:
            raise ValueError(f"plot.x needs at least 2 values, got {len(x)}")
        if not isinstance(self.series, Mapping):
            raise TypeError(f"plot.series must be a mapping name -> values, got {type(self.series).__name__}")
        names, shapes, chunks, lows, highs = [], [], [], [], []
        for name, values in self.series.items():
            arr = _as_array(values)
            if arr.shape not in ((len(x),), (*sizes, len(x))):
                raise ValueError(
                    f"plot.series[{name!r}] must have shape {(len(x),)} or {(*sizes, len(x))}, got {arr.shape}"
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"plot.series[{name!r}] must be finite, got NaN or inf")
            names.append(str(name))
            shapes.append(list(arr.shape))
            chunks.append(arr.astype("<f4").tobytes())
            lows.append(arr.min())
            highs.append(arr.max())
        spec: dict[str, Any] = {"x": x.tolist(), "names": names, "shapes": shapes, "xlabel": self.xlabel, "ylabel": self.ylabel}
        if self.points is not None:
            xs = _vector(self.points[0], "plot.points[0]")
            ys = _vector(self.points[1], "plot.points[1]", len(xs))
            spec["points"] = [xs.tolist(), ys.tolist()]
            lows.append(ys.min())
            highs.append(ys.max())
        if self.col_x is not None:
            spec["col_x"] = _vector(self.col_x, "plot.col_x", n_cols).tolist()
        if self.row_x is not None:
            spec["row_x"] = _vector(self.row_x, "plot.row_x", n_rows).tolist()
        if not lows:
            raise ValueError("plot needs at least one series or points")
        lo, hi = float(min(lows)), float(max(highs))
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        spec["ylim"] = [lo - pad, hi + pad]
        return spec, b"".join(chunks)


def _colormap_bytes(name: str) -> bytes:
    """256-entry RGB lookup table of a matplotlib colormap, as bytes."""
    from matplotlib import colormaps

    try:
        cmap = colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}; use a matplotlib name such as 'viridis'") from None
    rgb = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    return (np.round(rgb * 255)).astype(np.uint8).tobytes()


class HeatmapExplorer(anywidget.AnyWidget):
    """Heatmaps over named slider axes, e.g. attention weights per layer and head.

    Args:
        frames: array (numpy or torch) of shape ``(*axis_sizes, n_rows, n_cols)``;
            ``frames[i, j, ...]`` is the heatmap shown when the first slider is at
            ``i``, the second at ``j``, and so on. Values must be finite.
        axes: ordered mapping *slider name* -> *tick values*, one entry per leading
            dimension of ``frames``; ``{}`` for a single heatmap without sliders.
        row_labels: one label per row (usually the queries).
        col_labels: one label per column (usually the keys).
        row_title, col_title: axis titles, e.g. ``"queries"`` and ``"keys"``.
        title: caption drawn above the figure.
        mask: optional boolean array broadcastable to ``frames``; ``True`` cells
            are drawn grey and read out as "masked" instead of as a number.
        vmin, vmax: colour range; by default ``min(0, frames.min())`` and
            ``frames.max()`` over *all* frames, so colours compare across sliders.
        cmap: a matplotlib colormap name (default ``"viridis"``, colour-blind safe).
        digits: decimals in the hover read-out.
        position: initial slider positions (indices), default all zeros.
        row_slider: name of an extra slider that selects one row (one query):
            the row is outlined, and a :class:`LinePlot` can show its weights.
        plot: a :class:`LinePlot` drawn under the heatmap.

    Raises:
        ValueError: frames whose shape disagrees with ``axes`` or the labels,
            non-finite values, an axis without values, bad positions.
        TypeError: arguments of the wrong kind (e.g. ``axes`` not a mapping).
    """

    _esm = _HERE / "explorer.js"
    _css = _HERE / "explorer.css"

    frames = traitlets.Bytes(b"").tag(sync=True)
    shape = traitlets.List(traitlets.Int()).tag(sync=True)
    axis_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    axis_labels = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    position = traitlets.List(traitlets.Int()).tag(sync=True)
    row_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    col_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    row_title = traitlets.Unicode("").tag(sync=True)
    col_title = traitlets.Unicode("").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    vmin = traitlets.Float(0.0).tag(sync=True)
    vmax = traitlets.Float(1.0).tag(sync=True)
    colormap = traitlets.Bytes(b"").tag(sync=True)
    digits = traitlets.Int(3).tag(sync=True)
    max_width = traitlets.Int(720).tag(sync=True)
    hint = traitlets.Unicode("Hover over a cell to read its exact value.").tag(sync=True)
    row_slider = traitlets.Unicode("").tag(sync=True)
    row = traitlets.Int(0).tag(sync=True)
    plot = traitlets.Dict({}).tag(sync=True)
    plot_values = traitlets.Bytes(b"").tag(sync=True)

    def __init__(
        self,
        frames: Any,
        *,
        axes: Mapping[str, Sequence[Any]],
        row_labels: Sequence[Any],
        col_labels: Sequence[Any],
        row_title: str = "queries",
        col_title: str = "keys",
        title: str = "",
        mask: Any = None,
        vmin: float | None = None,
        vmax: float | None = None,
        cmap: str = "viridis",
        digits: int = 3,
        position: Sequence[int] | None = None,
        row_slider: str | None = None,
        plot: LinePlot | None = None,
    ) -> None:
        super().__init__(
            row_title=row_title, col_title=col_title, title=title, colormap=_colormap_bytes(cmap), digits=digits
        )
        if row_slider is not None:
            if not isinstance(row_slider, str) or not row_slider or row_slider in axes:
                raise ValueError(f"row_slider must be a new, non-empty slider name (not one of {list(axes)}), got {row_slider!r}")
            self.row_slider = row_slider
        self._array = np.zeros((0, 0))
        self.set_frames(
            frames, axes=axes, row_labels=row_labels, col_labels=col_labels, mask=mask, vmin=vmin, vmax=vmax, plot=plot
        )
        if position is not None:
            self.position = list(position)

    # ------------------------------------------------------------------ data
    def set_frames(
        self,
        frames: Any,
        *,
        axes: Mapping[str, Sequence[Any]] | None = None,
        row_labels: Sequence[Any] | None = None,
        col_labels: Sequence[Any] | None = None,
        mask: Any = None,
        vmin: float | None = None,
        vmax: float | None = None,
        plot: LinePlot | None = None,
    ) -> None:
        """Replace the frames (and optionally axes, labels and plot) in one update.

        Arguments left as ``None`` keep their current value (an existing plot
        must still fit the new frames); slider positions are kept where still
        valid and clamped otherwise. In a live kernel the browser redraws at once.
        """
        if axes is None:
            axes = dict(zip(self.axis_names, self.axis_labels, strict=True))
        if not isinstance(axes, Mapping):
            raise TypeError(f"axes must be a mapping of slider name -> values, got {type(axes).__name__}")
        names = [str(k) for k in axes]
        ticks = [_labels(v, f"axes[{k!r}]") for k, v in axes.items()]
        for name, values in zip(names, ticks, strict=True):
            if len(values) == 0:
                raise ValueError(f"slider axis {name!r} has no values; expected at least one")
        rows = _labels(row_labels, "row_labels") if row_labels is not None else list(self.row_labels)
        cols = _labels(col_labels, "col_labels") if col_labels is not None else list(self.col_labels)

        arr = _as_array(frames)
        expected = (*[len(t) for t in ticks], len(rows), len(cols))
        if arr.shape != expected:
            axes_desc = ", ".join(f"{n}={len(t)}" for n, t in zip(names, ticks, strict=True)) or "no sliders"
            raise ValueError(
                f"frames must have shape {expected} (sliders: {axes_desc}; "
                f"{len(rows)} row labels, {len(cols)} column labels), got {arr.shape}"
            )
        if 0 in expected:
            raise ValueError(f"frames must not be empty, got shape {arr.shape}")

        masked = np.zeros(arr.shape, dtype=bool)
        if mask is not None:
            m = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
            if m.dtype != bool:
                raise TypeError(f"mask must be boolean (True = masked), got dtype {m.dtype}")
            try:
                masked = np.broadcast_to(m, arr.shape)
            except ValueError:
                raise ValueError(f"mask of shape {m.shape} does not broadcast to frames of shape {arr.shape}") from None
        shown = arr[~masked]
        if not np.all(np.isfinite(shown)):
            bad = int(np.size(shown) - np.count_nonzero(np.isfinite(shown)))
            raise ValueError(f"frames must be finite; got {bad} NaN/inf value(s) (use mask= to grey out cells)")
        if shown.size and np.abs(shown).max() > _FLOAT16_MAX:
            raise ValueError(f"frames must fit float16 (|x| <= {_FLOAT16_MAX:g}), got max |x| = {np.abs(shown).max():g}")

        lo = float(min(0.0, shown.min())) if vmin is None and shown.size else float(vmin if vmin is not None else 0.0)
        hi = float(shown.max()) if vmax is None and shown.size else float(vmax if vmax is not None else 1.0)
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
            raise ValueError(f"need finite vmin <= vmax, got vmin={lo}, vmax={hi}")
        if hi == lo:
            hi = lo + 1.0

        if plot is not None:
            plot_spec, plot_values = plot.encode(expected[:-2], len(rows), len(cols))
        elif self.plot:
            old_sizes = tuple(self.shape[:-2])
            if old_sizes != expected[:-2] or self.shape[-2:] != [len(rows), len(cols)]:
                raise ValueError(
                    f"the current plot was made for sliders {old_sizes} and a {self.shape[-2:]} heatmap; "
                    f"pass plot= for the new frames of shape {expected}"
                )
            plot_spec, plot_values = dict(self.plot), self.plot_values
        else:
            plot_spec, plot_values = {}, b""

        payload = np.where(masked, np.nan, arr).astype("<f2")
        old = list(self.position)
        pos = [min(old[a], len(t) - 1) if a < len(old) else 0 for a, t in enumerate(ticks)]
        self._array = np.where(masked, np.nan, arr)
        with self.hold_sync():
            self.axis_names = names
            self.axis_labels = ticks
            self.row_labels = rows
            self.col_labels = cols
            self.shape = list(expected)
            self.vmin, self.vmax = lo, hi
            self.position = pos
            self.row = min(self.row, len(rows) - 1)
            self.frames = payload.tobytes()
            self.plot = plot_spec
            self.plot_values = plot_values

    @traitlets.validate("position")
    def _check_position(self, proposal: dict[str, Any]) -> list[int]:
        pos = list(proposal["value"])
        sizes = [len(t) for t in self.axis_labels]
        if len(pos) != len(sizes):
            raise ValueError(f"position needs one index per slider {self.axis_names}, got {pos}")
        for name, p, n in zip(self.axis_names, pos, sizes, strict=True):
            if not 0 <= p < n:
                raise ValueError(f"position for slider {name!r} must be in [0, {n - 1}], got {p}")
        return pos

    @traitlets.validate("row")
    def _check_row(self, proposal: dict[str, Any]) -> int:
        row = int(proposal["value"])
        if self.row_labels and not 0 <= row < len(self.row_labels):
            raise ValueError(f"row must be in [0, {len(self.row_labels) - 1}], got {row}")
        return row

    # ------------------------------------------------------------ accessors
    @property
    def frame(self) -> np.ndarray:
        """The heatmap currently shown (masked cells are NaN), shape ``(n_rows, n_cols)``."""
        return self._array[tuple(self.position)]

    def select(self, **where: Any) -> None:
        """Move sliders by tick label or index, e.g. ``ex.select(head=3, layer="2")`` (row slider included)."""
        pos = list(self.position)
        for name, value in where.items():
            if name and name == self.row_slider:
                if isinstance(value, str) and value in self.row_labels:
                    self.row = self.row_labels.index(value)
                elif isinstance(value, int | np.integer):
                    self.row = int(value)
                else:
                    raise ValueError(f"slider {name!r}: expected an index or one of {self.row_labels}, got {value!r}")
                continue
            if name not in self.axis_names:
                sliders = self.axis_names + ([self.row_slider] if self.row_slider else [])
                raise ValueError(f"no slider named {name!r}; sliders are {sliders}")
            a = self.axis_names.index(name)
            labels = self.axis_labels[a]
            if isinstance(value, str) and value in labels:
                pos[a] = labels.index(value)
            elif isinstance(value, int | np.integer):
                pos[a] = int(value)
            else:
                raise ValueError(f"slider {name!r}: expected an index or one of {labels}, got {value!r}")
        self.position = pos
