"""The architecture diagrams in chapters/figures/ against their generator and the code they draw."""

from __future__ import annotations

import math
import pathlib
import re
import xml.etree.ElementTree as ET

import pytest
import torch

from attnbook import MultiHeadAttention
from attnbook.viz.theme import PALETTE
from bookext import diagrams

FIGURES = diagrams.figures_dir()
SVGS = sorted(FIGURES.glob("*.svg"))
NS = {"svg": "http://www.w3.org/2000/svg"}


def _root(path: pathlib.Path) -> ET.Element:
    return ET.parse(path).getroot()


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{{{NS['svg']}}}text")]


def _text_by_id(root: ET.Element) -> dict[str, str]:
    return {
        t.get("id"): "".join(t.itertext())
        for t in root.iter(f"{{{NS['svg']}}}text")
        if t.get("id")
    }


def test_every_diagram_is_committed_and_every_svg_has_a_generator() -> None:
    assert {p.stem for p in SVGS} == set(diagrams.DIAGRAMS)


@pytest.mark.parametrize("path", SVGS, ids=lambda p: p.name)
def test_svg_is_small_valid_and_described(path: pathlib.Path) -> None:
    assert path.stat().st_size < 60 * 1024, (
        f"{path.name} is {path.stat().st_size} bytes"
    )
    root = _root(path)  # parses, or raises
    assert root.tag == f"{{{NS['svg']}}}svg"
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    assert (x, y, w) == (0, 0, diagrams.WIDTH) and h > 0
    title, desc = root.find("svg:title", NS), root.find("svg:desc", NS)
    assert title is not None and len(title.text.strip()) > 10
    assert desc is not None and len(desc.text.strip()) > 40
    assert root.get("role") == "img"


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_committed_svg_says_what_the_generator_says(name: str) -> None:
    """Regenerating gives the same labels: a change in the code drawn (shapes, numbers) needs new figures.

    Labels, title and description are compared, not bytes: text widths come from the installed
    matplotlib's font metrics and may move a box by a fraction of a pixel on another machine.
    """
    fresh = ET.fromstring(
        diagrams.DIAGRAMS[name]().svg()
    )  # .svg() also checks overlaps and clipping
    committed = _root(FIGURES / f"{name}.svg")
    assert _texts(fresh) == _texts(committed), (
        f"run `python code/bookext/diagrams.py` to redraw {name}.svg"
    )
    for tag in ("title", "desc"):
        assert (
            fresh.find(f"svg:{tag}", NS).text
            == committed.find(f"svg:{tag}", NS).text
        )


def _evaluate(shape_text: str, sizes: dict[str, int]) -> tuple[int, ...]:
    """``"(B, h, nq, dh)"`` (the SVG's text, subscripts flattened) -> numbers, using ``sizes``."""
    dims = []
    for term in shape_text.strip("()").split(", "):
        value = 1
        for factor in re.split(r"\s*·\s*", term):
            factor = factor.replace(" ", "")
            if "+" in factor:
                value *= sum(
                    sizes[f] if f in sizes else int(f) for f in factor.split("+")
                )
            else:
                value *= sizes[factor]
        dims.append(value)
    return tuple(dims)


def test_multihead_diagram_shapes_match_the_module() -> None:
    """Every shape label of 05-multihead.svg, evaluated for sample sizes, equals the tensor's shape."""
    B, n_q, n_k, d, h = 2, 5, 7, 12, 3
    sizes = {"B": B, "nq": n_q, "nk": n_k, "d": d, "h": h, "dh": d // h}
    mha = MultiHeadAttention(d, h, query_size=d, key_size=d, value_size=d).eval()
    X_q, X_kv = torch.randn(B, n_q, d), torch.randn(B, n_k, d)
    with torch.no_grad():
        out = mha(X_q, X_kv, X_kv)
        v = mha.split_heads(mha.W_v(X_kv))
        heads = mha.attention_weights @ v
        measured = {
            "shape-queries": X_q.shape,
            "shape-keys": X_kv.shape,
            "shape-values": X_kv.shape,
            "shape-split_q-query": mha.split_heads(mha.W_q(X_q)).shape,
            "shape-split_k-key": mha.split_heads(mha.W_k(X_kv)).shape,
            "shape-split_k-value": v.shape,
            "shape-weights": mha.attention_weights.shape,
            "shape-heads": heads.shape,
            "shape-merged": mha.merge_heads(heads).shape,
            "shape-output": out.shape,
        }
    labels = _text_by_id(_root(FIGURES / "05-multihead.svg"))
    assert set(measured) <= set(labels), (
        f"shape labels missing: {set(measured) - set(labels)}"
    )
    for ident, shape in measured.items():
        assert _evaluate(labels[ident], sizes) == tuple(shape), (
            f"{ident}: {labels[ident]} vs {tuple(shape)}"
        )


def test_vit_diagram_token_shape_matches_the_model() -> None:
    from attnbook.vit import VisionTransformer

    B, image, patch, d = 2, 8, 2, 16
    model = VisionTransformer(
        image, patch, 10, num_hiddens=d, num_heads=2, num_layers=1, mlp_hiddens=8
    ).eval()
    with torch.no_grad():
        tokens = model.tokens(torch.zeros(B, 1, image, image))
    label = _text_by_id(_root(FIGURES / "09-vit.svg"))["shape-tokens"]
    assert _evaluate(label, {"B": B, "N": (image // patch) ** 2, "d": d}) == tuple(
        tokens.shape
    )


def test_code_names_in_diagrams_exist() -> None:
    """Method and class names printed in the diagrams (class ``code``) are the package's names."""
    import attnbook.vit

    found = 0
    for path in SVGS:
        for t in _root(path).iter(f"{{{NS['svg']}}}text"):
            if t.get("class") != "code":
                continue
            for name in re.findall(
                r"\b[a-z]+_[a-z_]+\b|\b[A-Z][a-z]+[A-Z]\w*\b", "".join(t.itertext())
            ):
                found += 1
                assert hasattr(MultiHeadAttention, name) or hasattr(
                    attnbook.vit, name
                ), f"{path.name}: {name}"
    assert found >= 3


def test_masking_diagram_gives_padded_keys_zero_weight() -> None:
    labels = _text_by_id(_root(FIGURES / "03-masking.svg"))
    weights = [float(labels[f"weight-{i}"]) for i in range(6)]
    assert weights[4:] == [0.0, 0.0] and math.isclose(
        sum(weights[:4]), 1.0, abs_tol=0.02
    )


def test_diagrams_use_the_theme_palette() -> None:
    text = "".join(p.read_text() for p in SVGS)
    for role in ("query", "key", "value"):
        assert text.count(PALETTE[role]) >= 10, role


def test_overlapping_or_clipped_labels_are_refused() -> None:
    d = diagrams.Diagram("t", 100, "a title", "a description")
    d.text(100, 50, "one label")
    d.text(110, 52, "another label")
    with pytest.raises(ValueError, match="overlap"):
        d.svg()
    d = diagrams.Diagram("t", 100, "a title", "a description")
    d.text(diagrams.WIDTH - 5, 50, "off the edge")
    with pytest.raises(ValueError, match="leaves the canvas"):
        d.svg()
    d = diagrams.Diagram("t", 100, "a title", "a description")
    d.box(100, 50, "a box")
    d.text(100, 66, "a label on its edge")
    with pytest.raises(ValueError, match="runs into a box"):
        d.svg()
    d = diagrams.Diagram("t", 100, "a title", "a description")
    with pytest.raises(ValueError, match="needs"):
        d.box(50, 50, "a long label", w=20)


def test_every_svg_renders_in_chromium(tmp_path: pathlib.Path) -> None:
    """Each SVG, loaded as an ``<img>`` at the column width, has an intrinsic size and draws."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from bookext.browser import launch_chromium

    with sync_api.sync_playwright() as p:
        try:
            browser = launch_chromium(p)
        except sync_api.Error as e:  # no Chromium on this machine
            pytest.skip(f"no Chromium: {e}")
        page = browser.new_page(viewport={"width": 800, "height": 600})
        html = "".join(
            f'<img alt="{p.stem}" src="{p.resolve().as_uri()}" style="width:750px">'
            for p in SVGS
        )
        index = tmp_path / "diagrams.html"
        index.write_text(f"<body>{html}</body>")
        page.goto(index.resolve().as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.naturalWidth, e.complete])"
        )
        browser.close()
    assert len(sizes) == len(SVGS)
    for alt, width, complete in sizes:
        assert complete and width == diagrams.WIDTH, (
            f"{alt}.svg did not load ({width})"
        )


def test_manifest_gives_every_diagram_a_figure_block_whose_numbers_are_in_the_svg() -> (
    None
):
    """chapters/figures/MANIFEST.md: one pasteable ``{figure}`` block per SVG, alt text true to the drawing."""
    manifest = (FIGURES / "MANIFEST.md").read_text(encoding="utf-8")
    blocks = re.findall(
        r"```\{figure\} figures/([\w-]+)\.svg\n(.*?)```", manifest, flags=re.DOTALL
    )
    assert sorted(name for name, _ in blocks) == sorted(p.stem for p in SVGS)
    for name, body in blocks:
        alt = re.search(r"^:alt: (.+)$", body, flags=re.MULTILINE)
        assert alt and ":width: 100%" in body, name
        caption = body.split(":width: 100%", 1)[1].strip()
        assert len(caption) > 80, f"{name}: caption too short"
        svg_text = " ".join(_texts(_root(FIGURES / f"{name}.svg")))
        for number in re.findall(r"\d+\.\d+", alt.group(1)):
            assert number in svg_text, (
                f"{name}: alt text says {number}, the drawing does not"
            )
