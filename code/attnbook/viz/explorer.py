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

Variable-length examples (sentences, dates) come as a list of matrices, one per
value of the first slider; the explorer draws each trimmed to its own size.
:func:`attention_frames` turns a model's stored attention weights into such a list.

The Python half and the browser half (``js/*.js``) agree on the synced traits
and the layout of every buffer, label list and plot dict written down once, with
a version, in ``js/contract.json`` (:data:`CONTRACT`). The front-end is a few ES
modules a front-end engineer recognises (decode, layout, theme, heatmap,
lineplot, sliders, widget); :func:`_bundle` joins them into the one ES module
anywidget ships to the browser, so there is no JavaScript build step.
"""

from __future__ import annotations

import json
import math
import numbers
import pathlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anywidget
import numpy as np
import traitlets

from attnbook._checks import check_int
from attnbook.viz.theme import SEQUENTIAL_CMAP

__all__ = [
    "CONTRACT",
    "HeatmapExplorer",
    "LinePlot",
    "SliderError",
    "attention_frames",
]

_HERE = pathlib.Path(__file__).parent
_JS = _HERE / "js"
_FLOAT16_MAX = float(np.finfo(np.float16).max)

#: The Python<->browser contract: synced traits, buffer layouts, the plot dict (``js/contract.json``).
CONTRACT: dict[str, Any] = json.loads(
    (_JS / "contract.json").read_text(encoding="utf-8")
)

#: The front-end's parts in dependency order; each may import only from parts before it.
JS_PARTS = (
    "decode.js",
    "layout.js",
    "theme.js",
    "heatmap.js",
    "lineplot.js",
    "sliders.js",
    "models.js",
    "input.js",
    "widget.js",
)
_IMPORT = re.compile(r'^import \{[^}]*\} from "\./[\w-]+\.js";\n', re.MULTILINE)
_EXPORT = re.compile(
    r"^export (?=(?:async )?(?:function|const|let|class) )", re.MULTILINE
)


def _bundle() -> str:
    """The parts as one ES module for anywidget: their local imports and exports dropped,
    the contract inlined (what the front-end reads of it), ``render`` exported."""
    used = {
        "version": CONTRACT["version"],
        "traits": {
            name: {"on_change": t["on_change"]}
            for name, t in CONTRACT["traits"].items()
        },
    }
    header = (
        f"// attnbook.viz.HeatmapExplorer front-end (contract v{CONTRACT['version']}), joined from "
        "attnbook/viz/js/ by explorer.py: edit the parts there."
    )
    parts = [header, f"const CONTRACT = {json.dumps(used, separators=(',', ':'))};"]
    for name in JS_PARTS:
        text = _EXPORT.sub(
            "", _IMPORT.sub("", (_JS / name).read_text(encoding="utf-8"))
        )
        parts.append(f"// ---- {name}\n{text}")
    parts.append("export default { render: makeRender(CONTRACT) };\n")
    return "\n".join(parts)


class SliderError(traitlets.TraitError, ValueError):
    """A slider position or row out of range. A :class:`traitlets.TraitError`, so that traitlets
    rejects it (and rolls back) whichever side sets it, Python or the browser; a ``ValueError``
    for everyone else."""


def _labels(values: Sequence[Any], what: str) -> list[str]:
    """Turn tick values into short strings (floats with 3 significant digits)."""
    if isinstance(values, (str, bytes)) or not isinstance(
        values, Sequence | np.ndarray
    ):
        raise TypeError(
            f"{what} must be a sequence of labels, got {type(values).__name__}"
        )
    out = []
    for v in values:
        if isinstance(v, (float, np.floating)):
            out.append(f"{float(v):.3g}")
        else:
            out.append(str(v))
    return out


def _label_sets(labels: Any, what: str, by: str) -> list[list[str]]:
    """One shared label list, or -- with ``labels_by`` -- one list per tick of that slider."""
    if isinstance(labels, (str, bytes)) or not isinstance(
        labels, Sequence | np.ndarray | range
    ):
        raise TypeError(
            f"{what} must be a sequence of labels, got {type(labels).__name__}"
        )
    items = list(labels)
    nested = bool(items) and all(
        isinstance(x, Sequence | np.ndarray) and not isinstance(x, str)
        for x in items
    )
    if not (by and nested):
        return [_labels(labels, what)]
    sets = [_labels(x, f"{what}[{i}]") for i, x in enumerate(items)]
    if len({len(x) for x in sets}) != 1:
        raise ValueError(
            f"every list in {what} must have the same length (pad with ''), got lengths {[len(x) for x in sets]}"
        )
    return sets


def _as_array(frames: Any) -> np.ndarray:
    """Accept numpy arrays, torch tensors and nested lists."""
    if hasattr(frames, "detach"):  # torch.Tensor without importing torch
        frames = frames.detach().cpu().numpy()
    try:
        arr = np.asarray(frames, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"frames must be a numeric array, got {type(frames).__name__}: {exc}"
        ) from None
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

    def encode(
        self, sizes: tuple[int, ...], n_rows: int, n_cols: int
    ) -> tuple[dict[str, Any], bytes]:
        """Validate against the frames' slider sizes; return (JSON part, float32 series buffer)."""
        x = _vector(self.x, "plot.x")
        if len(x) < 2:
            raise ValueError(f"plot.x needs at least 2 values, got {len(x)}")
        if not isinstance(self.series, Mapping):
            raise TypeError(
                f"plot.series must be a mapping name -> values, got {type(self.series).__name__}"
            )
        names, shapes, chunks, lows, highs = [], [], [], [], []
        for name, values in self.series.items():
            arr = _as_array(values)
            if arr.shape not in ((len(x),), (*sizes, len(x))):
                raise ValueError(
                    f"plot.series[{name!r}] must have shape {(len(x),)} or {(*sizes, len(x))}, got {arr.shape}"
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"plot.series[{name!r}] must be finite, got NaN or inf"
                )
            names.append(str(name))
            shapes.append(list(arr.shape))
            chunks.append(arr.astype("<f4").tobytes())
            lows.append(arr.min())
            highs.append(arr.max())
        spec: dict[str, Any] = {
            "x": x.tolist(),
            "names": names,
            "shapes": shapes,
            "xlabel": self.xlabel,
            "ylabel": self.ylabel,
        }
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
        raise ValueError(
            f"unknown colormap {name!r}; use a matplotlib name such as 'viridis'"
        ) from None
    rgb = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    return (np.round(rgb * 255)).astype(np.uint8).tobytes()


def _is_example_list(frames: Any) -> bool:
    """A list (or tuple) of arrays/tensors, one per example -- not a nested list of numbers."""
    return (
        isinstance(frames, (list, tuple))
        and len(frames) > 0
        and all(hasattr(x, "shape") for x in frames)
    )


def _stack_examples(
    frames: Sequence[Any], n_ticks: int, axis: str
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Variable-size examples -> (padded stack, padding mask, [rows, cols] of each example)."""
    arrays = [_as_array(x) for x in frames]
    if len(arrays) != n_ticks:
        raise ValueError(
            f"frames holds {len(arrays)} examples but slider {axis!r} has {n_ticks} values"
        )
    shapes = [a.shape for a in arrays]
    if any(a.ndim < 2 for a in arrays) or len({s[:-2] for s in shapes}) != 1:
        raise ValueError(
            f"every example in frames must be (*other_slider_sizes, rows, cols) with the same slider sizes, "
            f"got shapes {shapes}"
        )
    if any(0 in s[-2:] for s in shapes):
        raise ValueError(f"frames must not be empty, got example shapes {shapes}")
    n_rows, n_cols = max(s[-2] for s in shapes), max(s[-1] for s in shapes)
    stack = np.zeros((len(arrays), *shapes[0][:-2], n_rows, n_cols))
    pad = np.ones(stack.shape, dtype=bool)
    for i, a in enumerate(arrays):
        stack[i, ..., : a.shape[-2], : a.shape[-1]] = a
        pad[i, ..., : a.shape[-2], : a.shape[-1]] = False
    return stack, pad, [[s[-2], s[-1]] for s in shapes]


def _pad_labels(labels: Any, sizes: list[int], what: str) -> Any:
    """Per-example label lists of the examples' own lengths -> padded with '' to the longest."""
    if (
        labels is None
        or isinstance(labels, (str, bytes))
        or not isinstance(labels, Sequence | np.ndarray)
    ):
        return labels  # kept / rejected by the general checks
    items = list(labels)
    if not (
        items
        and all(
            isinstance(x, Sequence | np.ndarray) and not isinstance(x, str)
            for x in items
        )
    ):
        return labels  # one shared list
    if len(items) != len(sizes):
        raise ValueError(
            f"{what} must hold one list of labels per example ({len(sizes)}), got {len(items)} lists"
        )
    lengths = [len(x) for x in items]
    if lengths != sizes:
        raise ValueError(
            f"{what} must have one label per row/column of each example: lengths {sizes}, got {lengths}"
        )
    return [list(x) + [""] * (max(sizes) - len(x)) for x in items]


def _mask_array(mask: Any) -> np.ndarray:
    m = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
    if m.dtype != bool:
        raise TypeError(
            f"mask must be boolean (True = masked), got dtype {m.dtype}"
        )
    return m


def _example_masks(
    mask: Sequence[Any], trims: list[list[int]], shape: tuple[int, ...]
) -> np.ndarray:
    """One mask per example (each broadcastable to that example) -> a mask of the padded stack."""
    if len(mask) != len(trims):
        raise ValueError(
            f"mask must hold one mask per example ({len(trims)}), got {len(mask)}"
        )
    out = np.zeros(shape, dtype=bool)
    for i, (m, (r, c)) in enumerate(zip(mask, trims, strict=True)):
        m = _mask_array(m)
        try:
            out[i, ..., :r, :c] = np.broadcast_to(m, (*shape[1:-2], r, c))
        except ValueError:
            raise ValueError(
                f"mask[{i}] of shape {m.shape} does not broadcast to example {i}'s {(*shape[1:-2], r, c)}"
            ) from None
    return out


class HeatmapExplorer(anywidget.AnyWidget):
    """Heatmaps over named slider axes, e.g. attention weights per layer and head.

    Args:
        frames: array (numpy or torch) of shape ``(*axis_sizes, n_rows, n_cols)``;
            ``frames[i, j, ...]`` is the heatmap shown when the first slider is at
            ``i``, the second at ``j``, and so on. Values must be finite.
            Or examples of different sizes: a list of arrays, one per value of the
            *first* slider, each ``(*other_axis_sizes, rows_i, cols_i)``; each is
            drawn at its own size (nothing padded, nothing grey), and that slider
            has per-example labels (``labels_by`` is set to it).
        axes: ordered mapping *slider name* -> *tick values*, one entry per leading
            dimension of ``frames``; ``{}`` for a single heatmap without sliders.
        row_labels: one label per row (usually the queries); with a list of
            examples, one list per example (``rows_i`` labels each) or one shared list.
        col_labels: one label per column (usually the keys), likewise.
        row_title, col_title: axis titles, e.g. ``"queries"`` and ``"keys"``.
        title: caption drawn above the figure.
        mask: optional boolean array broadcastable to ``frames``; ``True`` cells
            are drawn grey and read out as "masked" instead of as a number. With a
            list of examples: one mask per example, or one array broadcastable to
            the examples padded to the largest (e.g. a causal ``(T, T)`` mask).
        vmin, vmax: colour range; by default ``min(0, frames.min())`` and
            ``frames.max()`` over *all* frames, so colours compare across sliders.
        cmap: a matplotlib colormap name (default: the book's ``attnbook.viz.theme.SEQUENTIAL_CMAP``, colour-blind safe).
        digits: decimals in the hover read-out.
        position: initial slider positions (indices), default all zeros.
        row_slider: name of an extra slider that selects one row (one query):
            the row is outlined, and a :class:`LinePlot` can show its weights.
        plot: a :class:`LinePlot` drawn under the heatmap.
        labels_by: name of a slider whose frames have *their own* labels, e.g.
            ``"example"`` when every example is a different sentence. Then
            ``row_labels`` and/or ``col_labels`` may be lists of label lists, one
            per value of that slider, all of the same length (pad with ``""``
            and mask the padded cells) -- or pass the examples as a list instead.

    Raises:
        ValueError: frames whose shape disagrees with ``axes`` or the labels,
            non-finite values, an axis without values, bad positions
            (:class:`SliderError`, also when the browser sends them).
        TypeError: arguments of the wrong kind (e.g. ``axes`` not a mapping).
    """

    _esm = _bundle()
    _css = _HERE / "explorer.css"

    # Every synced trait is listed in js/contract.json, with what it holds (a test compares).
    contract_version = traitlets.Int(CONTRACT["version"]).tag(sync=True)
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
    hint = traitlets.Unicode("Hover over a cell to read its exact value.").tag(
        sync=True
    )
    row_slider = traitlets.Unicode("").tag(sync=True)
    labels_by = traitlets.Unicode("").tag(sync=True)
    trims = traitlets.List(traitlets.List(traitlets.Int())).tag(sync=True)
    row = traitlets.Int(0).tag(sync=True)
    plot = traitlets.Dict({}).tag(sync=True)
    plot_values = traitlets.Bytes(b"").tag(sync=True)
    # input mode (attnbook.export): what the reader types, and what the figure says about it
    input = traitlets.Dict({}).tag(sync=True)
    input_value = traitlets.Unicode("").tag(sync=True)
    input_note = traitlets.Unicode("").tag(sync=True)

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
        cmap: str = SEQUENTIAL_CMAP,
        digits: int = 3,
        position: Sequence[int] | None = None,
        row_slider: str | None = None,
        plot: LinePlot | None = None,
        labels_by: str | None = None,
    ) -> None:
        # what the traits would refuse with a traitlets.TraitError
        check_int("digits", digits, low=0)
        for name, text in (
            ("row_title", row_title),
            ("col_title", col_title),
            ("title", title),
        ):
            if not isinstance(text, str):
                raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        if position is not None and (
            not isinstance(position, Sequence)
            or isinstance(position, str)
            or not all(
                isinstance(p, numbers.Integral) and not isinstance(p, bool)
                for p in position
            )
        ):
            raise TypeError(
                f"position must be a list of slider indices (ints), got {position!r}"
            )
        super().__init__(
            row_title=row_title,
            col_title=col_title,
            title=title,
            colormap=_colormap_bytes(cmap),
            digits=digits,
        )
        if not isinstance(axes, Mapping):
            raise TypeError(
                f"axes must be a mapping of slider name -> values, got {type(axes).__name__}"
            )
        if row_slider is not None:
            if (
                not isinstance(row_slider, str)
                or not row_slider
                or row_slider in axes
            ):
                raise ValueError(
                    f"row_slider must be a new, non-empty slider name (not one of {list(axes)}), got {row_slider!r}"
                )
            self.row_slider = row_slider
        if labels_by is not None:
            if not isinstance(labels_by, str) or labels_by not in axes:
                raise ValueError(
                    f"labels_by must name one of the sliders {list(axes)}, got {labels_by!r}"
                )
            self.labels_by = labels_by
        self._array = np.zeros((0, 0))
        self._row_sets: list[list[str]] = []
        self._col_sets: list[list[str]] = []
        self.set_frames(
            frames,
            axes=axes,
            row_labels=row_labels,
            col_labels=col_labels,
            mask=mask,
            vmin=vmin,
            vmax=vmax,
            plot=plot,
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

        ``frames`` is an array or a list of examples, as in the constructor.
        Arguments left as ``None`` keep their current value (an existing plot
        must still fit the new frames); slider positions are kept where still
        valid and clamped otherwise. In a live kernel the browser redraws at once.
        """
        if axes is None:
            axes = dict(zip(self.axis_names, self.axis_labels, strict=True))
        if not isinstance(axes, Mapping):
            raise TypeError(
                f"axes must be a mapping of slider name -> values, got {type(axes).__name__}"
            )
        names = [str(k) for k in axes]
        ticks = [_labels(v, f"axes[{k!r}]") for k, v in axes.items()]
        for name, values in zip(names, ticks, strict=True):
            if len(values) == 0:
                raise ValueError(
                    f"slider axis {name!r} has no values; expected at least one"
                )

        trims: list[list[int]] = []
        padding = None
        labels_by = self.labels_by
        if _is_example_list(frames):
            if not names:
                raise ValueError(
                    "a list of examples needs a slider to pick one: give it as the first entry of axes"
                )
            if labels_by and labels_by != names[0]:
                raise ValueError(
                    f"with a list of examples, labels_by must be the first slider {names[0]!r}, got {labels_by!r}"
                )
            labels_by = names[0]
            frames, padding, trims = _stack_examples(
                frames, len(ticks[0]), names[0]
            )
            row_labels = _pad_labels(
                row_labels, [t[0] for t in trims], "row_labels"
            )
            col_labels = _pad_labels(
                col_labels, [t[1] for t in trims], "col_labels"
            )
            if isinstance(mask, (list, tuple)):
                mask = _example_masks(mask, trims, frames.shape)

        row_sets = (
            _label_sets(row_labels, "row_labels", labels_by)
            if row_labels is not None
            else self._row_sets
        )
        col_sets = (
            _label_sets(col_labels, "col_labels", labels_by)
            if col_labels is not None
            else self._col_sets
        )
        if (
            not row_sets or not col_sets
        ):  # None keeps the current labels: there are none yet
            raise TypeError(
                "row_labels and col_labels must be sequences of labels for a new explorer, "
                f"got {type(row_labels).__name__} and {type(col_labels).__name__}"
            )
        if labels_by:
            if labels_by not in names:
                raise ValueError(
                    f"labels_by slider {labels_by!r} is not among the new sliders {names}"
                )
            n_ticks = len(ticks[names.index(labels_by)])
            for what, sets in (("row_labels", row_sets), ("col_labels", col_sets)):
                if len(sets) not in (1, n_ticks):
                    raise ValueError(
                        f"{what} must hold one list of labels per value of slider {labels_by!r} "
                        f"({n_ticks}), or one shared list; got {len(sets)} lists"
                    )
        rows, cols = row_sets[0], col_sets[0]

        arr = _as_array(frames)
        expected = (*[len(t) for t in ticks], len(rows), len(cols))
        if arr.shape != expected:
            axes_desc = (
                ", ".join(
                    f"{n}={len(t)}" for n, t in zip(names, ticks, strict=True)
                )
                or "no sliders"
            )
            raise ValueError(
                f"frames must have shape {expected} (sliders: {axes_desc}; "
                f"{len(rows)} row labels, {len(cols)} column labels), got {arr.shape}"
            )
        if 0 in expected:
            raise ValueError(f"frames must not be empty, got shape {arr.shape}")

        masked = np.zeros(arr.shape, dtype=bool)
        if mask is not None:
            m = _mask_array(mask)
            try:
                masked = np.broadcast_to(m, arr.shape)
            except ValueError:
                raise ValueError(
                    f"mask of shape {m.shape} does not broadcast to frames of shape {arr.shape}"
                ) from None
        if padding is not None:
            masked = masked | padding
        shown = arr[~masked]
        if not np.all(np.isfinite(shown)):
            bad = int(np.size(shown) - np.count_nonzero(np.isfinite(shown)))
            raise ValueError(
                f"frames must be finite; got {bad} NaN/inf value(s) (use mask= to grey out cells)"
            )
        if shown.size and np.abs(shown).max() > _FLOAT16_MAX:
            raise ValueError(
                f"frames must fit float16 (|x| <= {_FLOAT16_MAX:g}), got max |x| = {np.abs(shown).max():g}"
            )

        for name, value in (("vmin", vmin), ("vmax", vmax)):
            if isinstance(value, bool) or not isinstance(
                value, (numbers.Real, type(None))
            ):
                raise TypeError(
                    f"{name} must be a number or None, got {type(value).__name__}"
                )
        lo = (
            float(min(0.0, shown.min()))
            if vmin is None and shown.size
            else float(vmin if vmin is not None else 0.0)
        )
        hi = (
            float(shown.max())
            if vmax is None and shown.size
            else float(vmax if vmax is not None else 1.0)
        )
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
            raise ValueError(f"need finite vmin <= vmax, got vmin={lo}, vmax={hi}")
        if hi == lo:
            hi = lo + 1.0

        if plot is not None:
            plot_spec, plot_values = plot.encode(
                expected[:-2], len(rows), len(cols)
            )
        elif self.plot:
            old_sizes = tuple(self.shape[:-2])
            if old_sizes != expected[:-2] or self.shape[-2:] != [
                len(rows),
                len(cols),
            ]:
                raise ValueError(
                    f"the current plot was made for sliders {old_sizes} and a {self.shape[-2:]} heatmap; "
                    f"pass plot= for the new frames of shape {expected}"
                )
            plot_spec, plot_values = dict(self.plot), self.plot_values
        else:
            plot_spec, plot_values = {}, b""

        payload = np.where(masked, np.nan, arr).astype("<f2")
        old = list(self.position)
        pos = [
            min(old[a], len(t) - 1) if a < len(old) else 0
            for a, t in enumerate(ticks)
        ]
        self._array = np.where(masked, np.nan, arr)
        with self.hold_sync():
            self.axis_names = names
            self.axis_labels = ticks
            self.labels_by = labels_by
            self._row_sets, self._col_sets = row_sets, col_sets
            # flat: the browser slices
            self.row_labels = [label for labels in row_sets for label in labels]
            self.col_labels = [label for labels in col_sets for label in labels]
            self.shape = list(expected)
            self.trims = trims
            self.vmin, self.vmax = lo, hi
            self.position = pos
            self.row = min(self.row, self._shown()[0] - 1)
            self.frames = payload.tobytes()
            self.plot = plot_spec
            self.plot_values = plot_values

    # ------------------------------------------------------------ validation
    def _shown(self, position: Sequence[int] | None = None) -> tuple[int, int]:
        """[rows, cols] drawn at ``position`` (default: now): the example's own size when trimmed."""
        if not self.shape:
            return (0, 0)
        if self.trims:
            k = (self.position if position is None else position)[
                self.axis_names.index(self.labels_by)
            ]
            return tuple(self.trims[k])
        return (self.shape[-2], self.shape[-1])

    @traitlets.validate("position")
    def _check_position(self, proposal: dict[str, Any]) -> list[int]:
        pos = list(proposal["value"])
        sizes = [len(t) for t in self.axis_labels]
        if len(pos) != len(sizes):
            raise SliderError(
                f"position needs one index per slider {self.axis_names}, got {pos}"
            )
        for name, p, n in zip(self.axis_names, pos, sizes, strict=True):
            if not 0 <= p < n:
                raise SliderError(
                    f"position for slider {name!r} must be in [0, {n - 1}], got {p}"
                )
        return pos

    @traitlets.validate("row")
    def _check_row(self, proposal: dict[str, Any]) -> int:
        row = int(proposal["value"])
        n_rows = self._shown()[0] if self.shape else len(self.row_labels)
        if n_rows and not 0 <= row < n_rows:
            raise SliderError(f"row must be in [0, {n_rows - 1}], got {row}")
        return row

    @traitlets.observe("position")
    def _keep_row_inside(self, change: dict[str, Any]) -> None:
        """A shorter example has fewer rows: move the row slider onto its last row."""
        n_rows = self._shown()[0]
        if n_rows and self.row >= n_rows:
            self.row = n_rows - 1

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply a state the browser sent; on a rejected value, put the browser back in step.

        traitlets has already rolled the trait back; we send the valid value to the
        front-end (its slider snaps back) and re-raise, so the kernel logs the error.
        """
        try:
            super().set_state(sync_data)
        except traitlets.TraitError:
            self.send_state([name for name in sync_data if name in self.keys])
            raise

    # ------------------------------------------------------------ accessors
    def _current(self, sets: list[list[str]], size: int) -> list[str]:
        labels = (
            sets[0]
            if len(sets) == 1
            else sets[self.position[self.axis_names.index(self.labels_by)]]
        )
        return labels[:size]

    @property
    def current_row_labels(self) -> list[str]:
        """The row labels of the frame shown now (they differ per frame with ``labels_by``)."""
        return self._current(self._row_sets, self._shown()[0])

    @property
    def current_col_labels(self) -> list[str]:
        """The column labels of the frame shown now."""
        return self._current(self._col_sets, self._shown()[1])

    @property
    def frame(self) -> np.ndarray:
        """The heatmap shown now (masked cells are NaN), shape ``(rows, cols)`` (trimmed examples: their own)."""
        rows, cols = self._shown()
        return self._array[tuple(self.position)][:rows, :cols]

    def select(self, **where: Any) -> None:
        """Move sliders by tick label or index, e.g. ``ex.select(head=3, layer="2")`` (row slider included)."""
        pos = list(self.position)
        row_value = None
        for name, value in where.items():
            if name and name == self.row_slider:
                row_value = value  # after the other sliders: with labels_by, the row labels depend on them
                continue
            if name not in self.axis_names:
                sliders = self.axis_names + (
                    [self.row_slider] if self.row_slider else []
                )
                raise ValueError(f"no slider named {name!r}; sliders are {sliders}")
            a = self.axis_names.index(name)
            labels = self.axis_labels[a]
            if isinstance(value, str) and value in labels:
                pos[a] = labels.index(value)
            elif isinstance(value, int | np.integer):
                pos[a] = int(value)
            else:
                raise ValueError(
                    f"slider {name!r}: expected an index or one of {labels}, got {value!r}"
                )
        self.position = pos
        if row_value is not None:
            rows = self.current_row_labels
            if isinstance(row_value, str) and row_value in rows:
                self.row = rows.index(row_value)
            elif isinstance(row_value, int | np.integer):
                self.row = int(row_value)
            else:
                raise ValueError(
                    f"slider {self.row_slider!r}: expected an index or one of {rows}, got {row_value!r}"
                )


# ------------------------------------------------------------------ frames from a model
def _weights_of(item: Any, what: str) -> np.ndarray:
    """A tensor/array of attention weights, or a module's stored ``.attention_weights``."""
    if not hasattr(item, "shape") and hasattr(item, "attention_weights"):
        item = item.attention_weights
        if item is None:
            raise ValueError(
                f"{what} stores no attention weights yet: run a forward pass that keeps them first"
            )
    if not hasattr(item, "shape"):
        raise TypeError(
            f"{what} must be attention weights (tensor or array) or a module with "
            f".attention_weights, got {type(item).__name__}"
        )
    arr = _as_array(item)
    if arr.ndim < 3:
        raise ValueError(
            f"{what} must be (batch, ..., n_queries, n_keys), got shape {arr.shape}"
        )
    return arr


def _lengths(lens: Any, batch: int, n: int, what: str) -> list[int]:
    if lens is None:
        return [n] * batch
    values = _as_array(lens)
    if values.shape != (batch,) or not np.all(values == np.round(values)):
        raise ValueError(
            f"{what} must be {batch} whole numbers (one per example), got {values.tolist()}"
        )
    out = [int(v) for v in values]
    if any(not 1 <= v <= n for v in out):
        raise ValueError(f"{what} must be in [1, {n}], got {out}")
    return out


def attention_frames(
    weights: Any, *, query_lens: Any = None, key_lens: Any = None
) -> list[np.ndarray]:
    """Per-example attention maps, each trimmed to its own length: the frames of a :class:`HeatmapExplorer`.

    Args:
        weights: attention weights ``(batch, ..., n_queries, n_keys)`` -- a tensor or
            array, or a module that stores them in ``.attention_weights`` (e.g.
            ``MultiHeadAttention``: ``(batch, heads, n_q, n_k)``) -- or a list of such,
            one per layer, stacked on a new axis after the batch: ``(batch, layers, ...)``.
        query_lens, key_lens: the valid length of each example, shape ``(batch,)``;
            ``None`` keeps every query / key.

    Returns:
        One float array per example, ``(..., query_lens[i], key_lens[i])``: pass the
        list to :class:`HeatmapExplorer` with the example slider first in ``axes``.
    """
    if isinstance(weights, (list, tuple)):
        if not weights:
            raise ValueError(
                "weights is an empty list; expected one entry per layer"
            )
        layers = [_weights_of(w, f"weights[{i}]") for i, w in enumerate(weights)]
        if len({w.shape for w in layers}) != 1:
            raise ValueError(
                f"every layer's weights must have one shape, got {[w.shape for w in layers]}"
            )
        arr = np.stack(layers, axis=1)  # (batch, layers, ..., n_q, n_k)
    else:
        arr = _weights_of(weights, "weights")
    batch, n_q, n_k = arr.shape[0], arr.shape[-2], arr.shape[-1]
    rows = _lengths(query_lens, batch, n_q, "query_lens")
    cols = _lengths(key_lens, batch, n_k, "key_lens")
    return [
        arr[i, ..., :r, :c].astype(np.float32)
        for i, (r, c) in enumerate(zip(rows, cols, strict=True))
    ]
