"""HeatmapExplorer: validation, the compact payload, and the live-kernel round trip (no browser)."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import anywidget
import numpy as np
import pytest
import tomllib
import torch
import traitlets

from attnbook import HeatmapExplorer
from attnbook.viz import attention_frames
from attnbook.viz import explorer as explorer_module
from attnbook.viz.explorer import CONTRACT, JS_PARTS

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
    ex = HeatmapExplorer(
        torch.eye(3), axes={}, row_labels=list("abc"), col_labels=list("abc")
    )
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
        (
            np.zeros((3, 2, 2, 4)),
            {},
            r"frames must have shape \(3, 2, 2, 3\).*got \(3, 2, 2, 4\)",
        ),
        (np.zeros((3, 2, 3)), {}, r"frames must have shape \(3, 2, 2, 3\)"),
        (np.zeros((2, 2, 2, 3)), {}, r"head=3"),
        (np.zeros((3, 2, 2, 3)), {"row_labels": ["a"]}, r"1 row labels"),
        (
            np.zeros((3, 2, 2, 3)),
            {"axes": {"head": [], "temperature": [1, 2]}},
            r"slider axis 'head' has no values",
        ),
        (
            np.zeros((0, 3)),
            {"axes": {}, "row_labels": [], "col_labels": COLS},
            r"must not be empty",
        ),
        (np.full((3, 2, 2, 3), np.nan), {}, r"must be finite; got 36 NaN/inf"),
        (np.full((3, 2, 2, 3), np.inf), {}, r"must be finite"),
        (np.full((3, 2, 2, 3), 1e6), {}, r"must fit float16"),
        (
            np.zeros((3, 2, 2, 3)),
            {"mask": np.zeros((5,), dtype=bool)},
            r"does not broadcast",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_expected_and_got(
    frames: np.ndarray, kw: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make(frames, **kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"axes": [("head", [0, 1, 2])]}, r"axes must be a mapping"),
        ({"row_labels": "ab"}, r"row_labels must be a sequence of labels, got str"),
        ({"mask": np.zeros((2, 3))}, r"mask must be boolean"),
        # an IndexError, a traitlets.TraitError or a bare error before
        ({"row_labels": None}, r"row_labels and col_labels must be sequences"),
        ({"digits": 2.5}, r"digits must be an int"),
        ({"title": 3}, r"title must be a str"),
        ({"position": 1}, r"position must be a list of slider indices"),
        ({"vmin": "a"}, r"vmin must be a number"),
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
    with pytest.raises(
        ValueError, match=r"slider 'head' must be in \[0, 2\], got 3"
    ):
        ex.position = [3, 0]
    with pytest.raises(
        traitlets.TraitError, match="one index per slider"
    ):  # traitlets' own mechanism
        ex.position = [0]
    with pytest.raises(ValueError, match="no slider named 'layer'"):
        ex.select(layer=0)
    assert ex.position == [0, 0]


# ------------------------------------------------- live kernel round trip
class Recorder:
    """Stands in for the kernel's comm: records what Python sends to the browser."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict, list]] = []

    def send(
        self,
        data: dict | None = None,
        metadata: dict | None = None,
        buffers: list | None = None,
    ) -> None:
        self.messages.append((data or {}, buffers or []))

    def updates(self) -> list[dict]:
        return [d["state"] for d, _ in self.messages if d.get("method") == "update"]


def browser_sends(ex: HeatmapExplorer, state: dict) -> None:
    """Deliver the comm message the front-end sends when a reader moves a slider."""
    ex._handle_msg(
        {
            "content": {
                "data": {"method": "update", "state": state, "buffer_paths": []}
            },
            "buffers": [],
        }
    )


@pytest.fixture
def live() -> tuple[HeatmapExplorer, Recorder]:
    ex = make()
    rec = Recorder()
    ex.comm.send = rec.send  # type: ignore[method-assign]
    return ex, rec


def test_slider_moved_in_the_browser_reaches_python(
    live: tuple[HeatmapExplorer, Recorder],
) -> None:
    ex, _ = live
    seen = []
    ex.observe(lambda change: seen.append(change["new"]), names="position")
    frames = np.frombuffer(ex.frames, dtype="<f2").reshape(ex.shape)
    # the reader drags "head" to 2 and "temperature" to 1.0
    browser_sends(ex, {"position": [2, 1]})
    assert ex.position == [2, 1] and seen == [[2, 1]]
    np.testing.assert_allclose(ex.frame, frames[2, 1], atol=5e-4)


def test_python_moves_sliders_and_the_browser_is_told(
    live: tuple[HeatmapExplorer, Recorder],
) -> None:
    ex, rec = live
    ex.select(head=1, temperature="1")
    assert ex.position == [1, 1]
    assert any(u.get("position") == [1, 1] for u in rec.updates())


def test_python_pushes_new_frames_and_the_browser_gets_them(
    live: tuple[HeatmapExplorer, Recorder],
) -> None:
    ex, rec = live
    ex.position = [2, 1]
    new = np.random.default_rng(7).random((4, 2, 3))  # a different set of sliders
    ex.set_frames(
        new, axes={"layer": ["L1", "L2", "L3", "L4"]}, row_labels=["p", "q"]
    )
    assert (
        ex.shape == [4, 2, 3] and ex.axis_names == ["layer"] and ex.position == [2]
    )
    assert (
        ex.row_labels == ["p", "q"] and ex.col_labels == COLS
    )  # unchanged labels are kept
    state = rec.updates()[-1]
    assert state["shape"] == [4, 2, 3] and state["axis_names"] == ["layer"]
    sent = [b for d, bufs in rec.messages for b in bufs]
    assert any(bytes(b) == ex.frames for b in sent), (
        "the new frames were not sent as a binary buffer"
    )
    np.testing.assert_allclose(
        np.frombuffer(ex.frames, "<f2").reshape(4, 2, 3), new, atol=5e-4
    )


@pytest.mark.parametrize(
    "state",
    [{"position": [9, 9]}, {"position": [0]}, {"position": [2, 1], "row": 5}],
)
def test_out_of_range_values_from_the_browser_are_rejected(state: dict) -> None:
    ex = make_with_plot()
    rec = Recorder()
    ex.comm.send = rec.send  # type: ignore[method-assign]
    seen = []
    ex.observe(lambda change: seen.append(change["new"]), names=["position", "row"])
    browser_sends(ex, state)  # ipywidgets logs the SliderError; the kernel goes on
    assert ex.position == [0, 0] and ex.row == 0 and seen == [], (
        "a rejected value stayed set"
    )
    np.testing.assert_allclose(
        ex.frame, decode(ex)[0, 0], atol=5e-4
    )  # no IndexError
    # and the browser is put back in step: its slider snaps back to the valid value
    assert any(u.get("position") == [0, 0] for u in rec.updates())


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
def test_every_slider_position_shows_its_own_frame(
    sizes: list[int], rows: int, cols: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    frames = rng.random((*sizes, rows, cols))
    axes = {f"axis{i}": list(range(n)) for i, n in enumerate(sizes)}
    ex = HeatmapExplorer(
        frames, axes=axes, row_labels=range(rows), col_labels=range(cols)
    )
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
        series={
            "truth": np.sin(x),
            "fit": np.random.default_rng(0).random((3, 2, 5)),
        },
        points=([0.1, 0.5], [0.0, 1.0]),
        col_x=[0.0, 0.5, 1.0],
        row_x=[0.2, 0.8],
        xlabel="x",
    )
    return make(row_slider="query", plot=plot, **kw)


def test_plot_series_are_sent_as_float32_with_their_shapes() -> None:
    ex = make_with_plot()
    assert ex.plot["names"] == ["truth", "fit"] and ex.plot["shapes"] == [
        [5],
        [3, 2, 5],
    ]
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
    with pytest.raises(
        ValueError, match="row_slider must be a new, non-empty slider name"
    ):
        make(row_slider="head")


@pytest.mark.parametrize(
    ("plot", "message"),
    [
        (
            LinePlot(x=[0.0, 1.0], series={"f": np.zeros((3, 3, 2))}),
            r"plot.series\['f'\] must have shape \(2,\) or \(3, 2, 2\)",
        ),
        (LinePlot(x=[0.0, 1.0], series={"f": [0.0, np.nan]}), "must be finite"),
        (LinePlot(x=[0.0], series={"f": [0.0]}), "needs at least 2 values"),
        (
            LinePlot(x=[0.0, 1.0], series={"f": [0, 1]}, col_x=[0.0, 1.0]),
            r"plot.col_x must have shape \(3,\), got \(2,\)",
        ),
        (
            LinePlot(x=[0.0, 1.0], points=([0.0, 1.0], [1.0])),
            r"plot.points\[1\] must have shape \(2,\)",
        ),
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
    assert ex.row_labels == [
        "A",
        "B",
        "C",
        "D",
        "E",
        "F",
    ]  # flat; the browser slices block `position`
    assert ex.col_labels == [
        "a",
        "b",
        "",
        "",
        "x",
        "y",
        "z",
        "",
        "p",
        "q",
        "r",
        "s",
    ]
    assert ex.current_col_labels == ["a", "b", "", ""]
    ex.select(example="xyz", output="D")
    assert (
        ex.current_row_labels == ["C", "D"]
        and ex.row == 1
        and ex.current_col_labels == ["x", "y", "z", ""]
    )


def test_shared_labels_still_work_with_labels_by() -> None:
    ex = HeatmapExplorer(
        np.zeros((3, 2, 2)),
        axes={"example": [0, 1, 2]},
        labels_by="example",
        row_labels=["r1", "r2"],
        col_labels=[["a", "b"], ["c", "d"], ["e", "f"]],
    )
    assert ex.row_labels == ["r1", "r2"] and len(ex.col_labels) == 6


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"labels_by": "layer"},
            r"labels_by must name one of the sliders \['example'\]",
        ),
        (
            {"col_labels": [["a"], ["b"], ["c"]]},
            r"frames must have shape \(3, 2, 1\)|frames must have shape",
        ),
        (
            {"row_labels": [["A", "B"], ["C", "D"]]},
            r"one list of labels per value of slider 'example' \(3\)",
        ),
        (
            {"row_labels": [["A", "B"], ["C"], ["E", "F"]]},
            r"same length \(pad with ''\), got lengths \[2, 1, 2\]",
        ),
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


# ------------------------------------------------------- the Python <-> JS contract
JS_DIR = pathlib.Path(explorer_module.__file__).parent / "js"
JS_SOURCES = {p.name: p.read_text(encoding="utf-8") for p in JS_DIR.glob("*.js")}
TYPE_NAMES = {
    traitlets.Bytes: "bytes",
    traitlets.Int: "int",
    traitlets.Float: "float",
    traitlets.Unicode: "str",
    traitlets.Dict: "dict",
}


def trait_type(trait: traitlets.TraitType) -> str:
    if isinstance(trait, traitlets.List):
        return f"list[{trait_type(trait._trait)}]"
    return TYPE_NAMES[type(trait)]


def test_contract_lists_exactly_the_synced_traits_with_their_types() -> None:
    ours = set(HeatmapExplorer.class_trait_names(sync=True)) - set(
        anywidget.AnyWidget.class_trait_names(sync=True)
    )
    ours -= {"_esm", "_css"}  # anywidget's: the front-end itself
    assert ours == set(CONTRACT["traits"]), (
        "js/contract.json and HeatmapExplorer's synced traits differ"
    )
    for name, spec in CONTRACT["traits"].items():
        assert trait_type(HeatmapExplorer.class_traits()[name]) == spec["type"], (
            name
        )
        assert (
            spec["on_change"] in {"data", "view", "style", "none"} and spec["doc"]
        ), name
    assert (
        HeatmapExplorer.class_traits()["contract_version"].default_value
        == CONTRACT["version"]
    )


def test_plot_dict_follows_the_contract() -> None:
    ex = make_with_plot()
    keys = CONTRACT["plot"]
    assert set(ex.plot) <= set(keys), (
        f"plot keys not in the contract: {set(ex.plot) - set(keys)}"
    )
    assert {k for k, v in keys.items() if v["required"]} <= set(ex.plot)
    assert set(ex.plot) == set(keys)  # make_with_plot uses every optional key too


def test_the_front_end_reads_and_writes_only_contract_traits() -> None:
    traits = CONTRACT["traits"]
    read = {
        name
        for src in JS_SOURCES.values()
        for name in re.findall(r'\bget\("(\w+)"\)', src)
    }
    written = {
        name
        for src in JS_SOURCES.values()
        for name in re.findall(r'model\.set\("(\w+)"', src)
    }
    assert read and read <= set(traits), (
        f"JS reads traits missing from the contract: {read - set(traits)}"
    )
    assert written == {n for n, t in traits.items() if t.get("from_browser")}, (
        written
    )
    plot_keys = set(re.findall(r"\bspec\.(\w+)", JS_SOURCES["lineplot.js"]))
    assert plot_keys <= set(CONTRACT["plot"]), (
        f"JS reads plot keys missing from the contract: {plot_keys - set(CONTRACT['plot'])}"
    )
    # no hand-kept list of trait names: change handlers come from the contract
    assert not any(re.search(r'"change:\w', src) for src in JS_SOURCES.values())


def test_every_part_is_bundled_and_shipped_in_the_wheel() -> None:
    assert set(JS_PARTS) == set(JS_SOURCES), (
        "a js/ file is not in JS_PARTS (or the reverse)"
    )
    bundle = HeatmapExplorer._esm
    assert bundle == explorer_module._bundle()
    assert not re.search(r"^\s*import ", bundle, re.MULTILINE)
    assert re.findall(r"^export .*", bundle, re.MULTILINE) == [
        "export default { render: makeRender(CONTRACT) };"
    ]
    pyproject = tomllib.loads(
        (JS_DIR.parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    )
    globs = pyproject["tool"]["setuptools"]["package-data"]["attnbook.viz"]
    for name in [*JS_PARTS, "contract.json"]:
        assert any(pathlib.PurePath("js", name).match(g) for g in globs), (
            f"js/{name} would not be in the wheel"
        )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_bundle_is_one_es_module_that_exports_render(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "explorer.mjs"
    path.write_text(HeatmapExplorer._esm, encoding="utf-8")
    script = f"import({json.dumps(path.as_uri())}).then(m => console.log(typeof m.default.render))"
    out = subprocess.run(
        ["node", "-e", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip() == "function", out.stderr


# ------------------------------------------- variable-length examples, model weights


def ragged() -> tuple[list[np.ndarray], list[list[str]], list[list[str]]]:
    rng = np.random.default_rng(3)
    frames = [
        rng.random((2, 3, 4)),
        rng.random((2, 2, 2)),
        rng.random((2, 1, 3)),
    ]  # (head, rows_i, cols_i)
    rows = [list("abc"), list("de"), list("f")]
    cols = [list("pqrs"), list("tu"), list("vwx")]
    return frames, rows, cols


def make_ragged(**kw: object) -> HeatmapExplorer:
    frames, rows, cols = ragged()
    args = {
        "axes": {"example": ["one", "two", "three"], "head": [1, 2]},
        "row_labels": rows,
        "col_labels": cols,
        "row_slider": "query",
    } | kw
    return HeatmapExplorer(frames, **args)


def test_a_list_of_examples_is_drawn_trimmed_not_padded() -> None:
    frames, _, _ = ragged()
    ex = make_ragged()
    assert ex.labels_by == "example" and ex.shape == [3, 2, 3, 4]
    assert ex.trims == [[3, 4], [2, 2], [1, 3]]
    assert ex.row_labels == [
        "a",
        "b",
        "c",
        "d",
        "e",
        "",
        "f",
        "",
        "",
    ]  # blocks of the longest, as the contract says
    payload = decode(ex)
    assert (
        np.isnan(payload[1, :, 2:, :]).all()
        and np.isnan(payload[1, :, :, 2:]).all()
    )
    ex.select(example="two", head="2")
    np.testing.assert_array_equal(ex.frame, frames[1][1])  # the example's own size
    assert ex.current_row_labels == ["d", "e"] and ex.current_col_labels == [
        "t",
        "u",
    ]
    with pytest.raises(ValueError, match=r"row must be in \[0, 1\], got 2"):
        ex.row = 2
    assert ex.vmax == pytest.approx(max(f.max() for f in frames))


def test_moving_to_a_shorter_example_keeps_the_row_inside(
    live: tuple[HeatmapExplorer, Recorder],
) -> None:
    ex = make_ragged()
    rec = Recorder()
    ex.comm.send = rec.send  # type: ignore[method-assign]
    ex.select(query="c")
    browser_sends(ex, {"position": [2, 0]})  # example "three" has one row
    assert ex.position == [2, 0] and ex.row == 0
    assert any(u.get("row") == 0 for u in rec.updates())


def test_examples_with_masks_and_shared_labels() -> None:
    frames = [np.ones((3, 3)), np.ones((2, 2))]
    causal = np.triu(np.ones((3, 3), dtype=bool), 1)  # in the padded (3, 3) frame
    ex = HeatmapExplorer(
        frames,
        axes={"example": [0, 1]},
        row_labels=list("abc"),
        col_labels=list("abc"),
        mask=causal,
    )
    assert ex.trims == [[3, 3], [2, 2]]
    assert np.isnan(ex.frame[0, 1]) and ex.frame[1, 0] == 1.0
    ex.select(example=1)
    assert ex.current_row_labels == ["a", "b"]
    per_example = [
        np.zeros((3, 3), dtype=bool),
        np.array([[False, True], [False, False]]),
    ]
    ex.set_frames(frames, mask=per_example)
    assert np.isnan(ex.frame[0, 1]) and not np.isnan(ex.frame).all()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"axes": {"example": ["one", "two"], "head": [1, 2]}},
            r"frames holds 3 examples but slider 'example' has 2",
        ),
        (
            {"row_labels": [list("abc"), list("de")]},
            r"one list of labels per example \(3\), got 2",
        ),
        (
            {"col_labels": [list("pqrs"), list("tu"), list("vw")]},
            r"lengths \[4, 2, 3\], got \[4, 2, 2\]",
        ),
        ({"labels_by": "head"}, r"labels_by must be the first slider 'example'"),
        ({"axes": {}}, r"needs a slider to pick one"),
        (
            {"mask": [np.zeros((9, 9), dtype=bool)] * 3},
            r"mask\[0\] of shape \(9, 9\) does not broadcast",
        ),
    ],
)
def test_bad_example_lists(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_ragged(**kw)


def test_mismatched_example_shapes() -> None:
    with pytest.raises(ValueError, match="same slider sizes"):
        HeatmapExplorer(
            [np.zeros((2, 3, 3)), np.zeros((3, 3, 3))],
            axes={"example": [0, 1], "head": [0, 1]},
            row_labels=list("abc"),
            col_labels=list("abc"),
        )


def test_attention_frames_trims_each_example_from_a_model() -> None:
    from attnbook import MultiHeadAttention

    torch.manual_seed(0)
    mha = MultiHeadAttention(num_hiddens=8, num_heads=2).eval()
    x = torch.randn(3, 5, 8)
    lens = torch.tensor([5, 2, 3])
    with torch.no_grad():
        mha(x, x, x, lens)
    frames = attention_frames(
        mha, query_lens=lens, key_lens=lens
    )  # a module: its .attention_weights
    assert [f.shape for f in frames] == [(2, 5, 5), (2, 2, 2), (2, 3, 3)]
    np.testing.assert_allclose(
        frames[1], mha.attention_weights[1, :, :2, :2].numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        frames[1].sum(-1), 1.0, rtol=1e-5
    )  # trimming drops only masked keys
    layers = attention_frames(
        [mha, mha.attention_weights]
    )  # one entry per layer -> (layers, heads, ...)
    assert [f.shape for f in layers] == [(2, 2, 5, 5)] * 3
    ex = HeatmapExplorer(
        frames,
        axes={"example": ["a", "b", "c"], "head": [1, 2]},
        row_labels=[list("abcde"), list("ab"), list("abc")],
        col_labels=list("abcde"),
    )
    assert ex.trims == [[5, 5], [2, 2], [3, 3]]


def test_attention_frames_bad_input() -> None:
    class Fresh:
        attention_weights = None

    with pytest.raises(ValueError, match="stores no attention weights yet"):
        attention_frames(Fresh())
    with pytest.raises(ValueError, match=r"query_lens must be in \[1, 4\]"):
        attention_frames(torch.rand(2, 4, 4), query_lens=[0, 4])
    with pytest.raises(ValueError, match="key_lens must be 2 whole numbers"):
        attention_frames(torch.rand(2, 4, 4), key_lens=[1, 2, 3])
    with pytest.raises(ValueError, match=r"\(batch, \.\.\., n_queries, n_keys\)"):
        attention_frames(torch.rand(4, 4))
    with pytest.raises(TypeError, match="must be attention weights"):
        attention_frames("weights")
