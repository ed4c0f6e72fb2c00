"""HeatmapExplorer: validation, the compact payload, and the live-kernel round trip (no browser)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnbook import HeatmapExplorer

AXES = {"head": [0, 1, 2], "temperature": [0.1, 1.0]}
ROWS, COLS = ["a", "b"], ["x", "y", "z"]


def make(frames: np.ndarray | None = None, **kw: object) -> HeatmapExplorer:
    if frames is None:
        frames = np.random.default_rng(0).random((3, 2, 2, 3))
    kw = {"axes": AXES, "row_labels": ROWS, "col_labels": COLS} | kw
    return HeatmapExplorer(frames, **kw)


def decode(ex: HeatmapExplorer) -> np.ndarray:
    return np.frombuffer(ex.frames, dtype="<f2").reshape(ex.shape)


# ---------------------------------------------------------------- payload
def test_payload_is_float16_in_the_declared_shape() -> None:
    frames = np.random.default_rng(1).random((3, 2, 2, 3))
    ex = make(frames)
    assert ex.shape == [3, 2, 2, 3]
    assert len(ex.frames) == frames.size * 2  # two bytes a cell
    np.testing.assert_allclose(decode(ex), frames, atol=5e-4)
    assert ex.axis_names == ["head", "temperature"]
    assert ex.axis_labels == [["0", "1", "2"], ["0.1", "1"]]
    assert (ex.vmin, ex.vmax) == (0.0, pytest.approx(frames.max()))


def test_accepts_torch_and_a_single_heatmap_without_sliders() -> None:
    ex = HeatmapExplorer(torch.eye(3), axes={}, row_labels=list("abc"), col_labels=list("abc"))
    assert ex.shape == [3, 3] and ex.position == [] and ex.axis_names == []
    np.testing.assert_array_equal(ex.frame, np.eye(3))


def test_mask_marks_cells_as_masked_not_zero() -> None:
    frames = np.full((3, 2, 2, 3), 0.5)
    mask = np.zeros((2, 3), dtype=bool)
    mask[:, 2] = True  # last key masked for every frame (broadcast)
    ex = make(frames, mask=mask)
    payload = decode(ex)
    assert np.isnan(payload[..., 2]).all() and not np.isnan(payload[..., :2]).any()
    assert np.isnan(ex.frame[:, 2]).all()


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("frames", "kw", "message"),
    [
        (np.zeros((3, 2, 2, 4)), {}, r"frames must have shape \(3, 2, 2, 3\).*got \(3, 2, 2, 4\)"),
        (np.zeros((3, 2, 3)), {}, r"frames must have shape \(3, 2, 2, 3\)"),
        (np.zeros((2, 2, 2, 3)), {}, r"head=3"),
        (np.zeros((3, 2, 2, 3)), {"row_labels": ["a"]}, r"1 row labels"),
        (np.zeros((3, 2, 2, 3)), {"axes": {"head": [], "temperature": [1, 2]}}, r"slider axis 'head' has no values"),
        (np.zeros((0, 3)), {"axes": {}, "row_labels": [], "col_labels": COLS}, r"must not be empty"),
        (np.full((3, 2, 2, 3), np.nan), {}, r"must be finite; got 36 NaN/inf"),
        (np.full((3, 2, 2, 3), np.inf), {}, r"must be finite"),
        (np.full((3, 2, 2, 3), 1e6), {}, r"must fit float16"),
        (np.zeros((3, 2, 2, 3)), {"mask": np.zeros((5,), dtype=bool)}, r"does not broadcast"),
    ],
)
def test_bad_input_raises_value_error_naming_expected_and_got(frames: np.ndarray, kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(frames, **kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"axes": [("head", [0, 1, 2])]}, r"axes must be a mapping"),
        ({"row_labels": "ab"}, r"row_labels must be a sequence of labels, got str"),
        ({"mask": np.zeros((2, 3))}, r"mask must be boolean"),
    ],
)
def test_wrong_kinds_raise_type_error(kw: dict, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make(**kw)


def test_unknown_colormap_and_bad_colour_range() -> None:
    with pytest.raises(ValueError, match="unknown colormap 'nope'"):
        make(cmap="nope")
    with pytest.raises(ValueError, match="vmin <= vmax"):
        make(vmin=1.0, vmax=0.0)


def test_position_is_validated() -> None:
    ex = make()
    with pytest.raises(ValueError, match=r"slider 'head' must be in \[0, 2\], got 3"):
        ex.position = [3, 0]
    with pytest.raises(ValueError, match="one index per slider"):
        ex.position = [0]
    with pytest.raises(ValueError, match="no slider named 'layer'"):
        ex.select(layer=0)
    assert ex.position == [0, 0]


# ------------------------------------------------- live kernel round trip
class Recorder:
    """Stands in for the kernel's comm: records what Python sends to the browser."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict, list]] = []

    def send(self, data: dict | None = None, metadata: dict | None = None, buffers: list | None = None) -> None:
        self.messages.append((data or {}, buffers or []))

    def updates(self) -> list[dict]:
        return [d["state"] for d, _ in self.messages if d.get("method") == "update"]


def browser_sends(ex: HeatmapExplorer, state: dict) -> None:
    """Deliver the comm message the front-end sends when a reader moves a slider."""
    ex._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


@pytest.fixture
def live() -> tuple[HeatmapExplorer, Recorder]:
    ex = make()
    rec = Recorder()
    ex.comm.send = rec.send  # type: ignore[method-assign]
    return ex, rec


def test_slider_moved_in_the_browser_reaches_python(live: tuple[HeatmapExplorer, Recorder]) -> None:
    ex, _ = live
    seen = []
    ex.observe(lambda change: seen.append(change["new"]), names="position")
    frames = np.frombuffer(ex.frames, dtype="<f2").reshape(ex.shape)
    # the reader drags "head" to 2 and "temperature" to 1.0
    browser_sends(ex, {"position": [2, 1]})
    assert ex.position == [2, 1] and seen == [[2, 1]]
    np.testing.assert_allclose(ex.frame, frames[2, 1], atol=5e-4)


def test_python_moves_sliders_and_the_browser_is_told(live: tuple[HeatmapExplorer, Recorder]) -> None:
    ex, rec = live
    ex.select(head=1, temperature="1")
    assert ex.position == [1, 1]
    assert any(u.get("position") == [1, 1] for u in rec.updates())


def test_python_pushes_new_frames_and_the_browser_gets_them(live: tuple[HeatmapExplorer, Recorder]) -> None:
    ex, rec = live
    ex.position = [2, 1]
    new = np.random.default_rng(7).random((4, 2, 3))  # a different set of sliders
    ex.set_frames(new, axes={"layer": ["L1", "L2", "L3", "L4"]}, row_labels=["p", "q"])
    assert ex.shape == [4, 2, 3] and ex.axis_names == ["layer"] and ex.position == [2]
    assert ex.row_labels == ["p", "q"] and ex.col_labels == COLS  # unchanged labels are kept
    state = rec.updates()[-1]
    assert state["shape"] == [4, 2, 3] and state["axis_names"] == ["layer"]
    sent = [b for d, bufs in rec.messages for b in bufs]
    assert any(bytes(b) == ex.frames for b in sent), "the new frames were not sent as a binary buffer"
    np.testing.assert_allclose(np.frombuffer(ex.frames, "<f2").reshape(4, 2, 3), new, atol=5e-4)


def test_recompute_on_slider_move(live: tuple[HeatmapExplorer, Recorder]) -> None:
    """The pattern chapters use live: observe a slider, push frames computed for it."""
    ex, _ = live

    def recompute(change: dict) -> None:
        t = float(ex.axis_labels[1][change["new"][1]])
        ex.set_frames(np.full((3, 2, 2, 3), t / 10))

    ex.observe(recompute, names="position")
    browser_sends(ex, {"position": [0, 1]})
    np.testing.assert_allclose(ex.frame, 0.1, atol=1e-3)


# ------------------------------------------------------------ properties
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_every_slider_position_shows_its_own_frame(sizes: list[int], rows: int, cols: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = rng.random((*sizes, rows, cols))
    axes = {f"axis{i}": list(range(n)) for i, n in enumerate(sizes)}
    ex = HeatmapExplorer(frames, axes=axes, row_labels=range(rows), col_labels=range(cols))
    payload = decode(ex)
    for index in np.ndindex(*sizes):
        ex.position = list(index)
        np.testing.assert_array_equal(ex.frame, frames[index])
        # the browser computes the same row-major offset into the flat buffer
        offset = int(np.ravel_multi_index(index, sizes)) if sizes else 0
        flat = payload.reshape(-1, rows, cols)[offset]
        np.testing.assert_allclose(flat, frames[index], atol=5e-4)


# ------------------------------------------------------- row slider, plot
from attnbook import LinePlot


def make_with_plot(**kw: object) -> HeatmapExplorer:
    x = np.linspace(0, 1, 5)
    plot = LinePlot(
        x=x,
        series={"truth": np.sin(x), "fit": np.random.default_rng(0).random((3, 2, 5))},
        points=([0.1, 0.5], [0.0, 1.0]),
        col_x=[0.0, 0.5, 1.0],
        row_x=[0.2, 0.8],
        xlabel="x",
    )
    return make(row_slider="query", plot=plot, **kw)


def test_plot_series_are_sent_as_float32_with_their_shapes() -> None:
    ex = make_with_plot()
    assert ex.plot["names"] == ["truth", "fit"] and ex.plot["shapes"] == [[5], [3, 2, 5]]
    values = np.frombuffer(ex.plot_values, dtype="<f4")
    assert values.size == 5 + 3 * 2 * 5
    np.testing.assert_allclose(values[:5], np.sin(np.linspace(0, 1, 5)), rtol=1e-6)
    lo, hi = ex.plot["ylim"]
    assert lo < 0.0 and hi > 1.0  # padded around every series and point


def test_row_slider_selects_a_row_by_label_or_index() -> None:
    ex = make_with_plot()
    assert ex.row_slider == "query" and ex.row == 0
    ex.select(query="b")
    assert ex.row == 1
    with pytest.raises(ValueError, match=r"row must be in \[0, 1\], got 2"):
        ex.row = 2
    with pytest.raises(ValueError, match="row_slider must be a new, non-empty slider name"):
        make(row_slider="head")


@pytest.mark.parametrize(
    ("plot", "message"),
    [
        (LinePlot(x=[0.0, 1.0], series={"f": np.zeros((3, 3, 2))}), r"plot.series\['f'\] must have shape \(2,\) or \(3, 2, 2\)"),
        (LinePlot(x=[0.0, 1.0], series={"f": [0.0, np.nan]}), "must be finite"),
        (LinePlot(x=[0.0], series={"f": [0.0]}), "needs at least 2 values"),
        (LinePlot(x=[0.0, 1.0], series={"f": [0, 1]}, col_x=[0.0, 1.0]), r"plot.col_x must have shape \(3,\), got \(2,\)"),
        (LinePlot(x=[0.0, 1.0], points=([0.0, 1.0], [1.0])), r"plot.points\[1\] must have shape \(2,\)"),
        (LinePlot(x=[0.0, 1.0]), "at least one series or points"),
    ],
)
def test_bad_plots_are_rejected(plot: LinePlot, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(plot=plot)


def test_new_frames_must_fit_the_existing_plot() -> None:
    ex = make_with_plot()
    ex.set_frames(np.zeros((3, 2, 2, 3)))  # same sliders: the plot stays
    assert ex.plot["names"] == ["truth", "fit"]
    with pytest.raises(ValueError, match="pass plot= for the new frames"):
        ex.set_frames(np.zeros((4, 2, 3)), axes={"layer": [1, 2, 3, 4]})


# ------------------------------------------------ labels that differ per frame
def make_per_example() -> HeatmapExplorer:
    frames = np.random.default_rng(0).random((3, 2, 4))
    return HeatmapExplorer(
        frames,
        axes={"example": ["ab", "xyz", "pqrs"]},
        labels_by="example",
        row_labels=[["A", "B"], ["C", "D"], ["E", "F"]],
        col_labels=[["a", "b", "", ""], ["x", "y", "z", ""], list("pqrs")],
        row_slider="output",
    )


def test_labels_by_sends_one_block_of_labels_per_slider_value() -> None:
    ex = make_per_example()
    assert ex.labels_by == "example"
    assert ex.row_labels == ["A", "B", "C", "D", "E", "F"]  # flat; the browser slices block `position`
    assert ex.col_labels == ["a", "b", "", "", "x", "y", "z", "", "p", "q", "r", "s"]
    assert ex.current_col_labels == ["a", "b", "", ""]
    ex.select(example="xyz", output="D")
    assert ex.current_row_labels == ["C", "D"] and ex.row == 1 and ex.current_col_labels == ["x", "y", "z", ""]


def test_shared_labels_still_work_with_labels_by() -> None:
    ex = HeatmapExplorer(np.zeros((3, 2, 2)), axes={"example": [0, 1, 2]}, labels_by="example",
                         row_labels=["r1", "r2"], col_labels=[["a", "b"], ["c", "d"], ["e", "f"]])
    assert ex.row_labels == ["r1", "r2"] and len(ex.col_labels) == 6


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"labels_by": "layer"}, r"labels_by must name one of the sliders \['example'\]"),
        ({"col_labels": [["a"], ["b"], ["c"]]}, r"frames must have shape \(3, 2, 1\)|frames must have shape"),
        ({"row_labels": [["A", "B"], ["C", "D"]]}, r"one list of labels per value of slider 'example' \(3\)"),
        ({"row_labels": [["A", "B"], ["C"], ["E", "F"]]}, r"same length \(pad with ''\), got lengths \[2, 1, 2\]"),
    ],
)
def test_labels_by_bad_input(kw: dict, message: str) -> None:
    args = {
        "axes": {"example": ["ab", "xyz", "pqrs"]},
        "labels_by": "example",
        "row_labels": [["A", "B"], ["C", "D"], ["E", "F"]],
        "col_labels": [list("abcd")] * 3,
    } | kw
    with pytest.raises(ValueError, match=message):
        HeatmapExplorer(np.zeros((3, 2, 4)), **args)
