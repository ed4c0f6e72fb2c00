"""The book's trained models in a real browser, on the built site, with the network cut off.

A page with an input box loads neither onnxruntime-web nor the model until the reader types;
then, for the inputs the build wrote a PyTorch reference for (``reference.json`` next to the
exported model), the in-browser output, tokens and attention equal PyTorch's within 1e-5; the
heatmap redraws; the box works from the keyboard alone; no console error, no request off the
machine. Needs a built site (``make book``) and Chromium.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any

import numpy as np
import pytest

from bookext.browser import OfflinePage

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.site

ROOT = pathlib.Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
MODELS = SITE / "_static" / "attnbook" / "models"
#: page -> the exported model its input box runs
INPUT_PAGES = {
    "chapters/04_bahdanau_attention.html": "ch04-dates",
    "chapters/07_transformer.html": "ch07-enfr",
}
PAD_PAGES = {"chapters/09_vision_transformer.html": "ch09-vit"}


def _input_explorer(visit: OfflinePage) -> Any:
    visit.wait_for_explorers()
    explorer = visit.page.locator(
        ".attn-explorer", has=visit.page.locator(".attn-input")
    )
    assert explorer.count() == 1, "expected one explorer with an input box"
    explorer.evaluate("e => e.scrollIntoView({block: 'center'})")
    return explorer


def _type(visit: OfflinePage, explorer: Any, text: str) -> dict[str, Any]:
    """Replace the box's text by keyboard (select all, type) and wait for the in-browser result."""
    before = int(explorer.evaluate("e => Number(e.dataset.inferred || 0)"))
    field = explorer.locator(".attn-input input")
    field.focus()
    visit.page.keyboard.press("Control+A")
    visit.page.keyboard.type(text)
    explorer.page.wait_for_function(
        "([e, n]) => Number(e.dataset.inferred || 0) > n && e.attnbookResult.text === e.querySelector('input').value",
        arg=[explorer.element_handle(), before],
        timeout=60_000,
    )
    return explorer.evaluate("e => e.attnbookResult")


def _fetched_runtime_or_model(visit: OfflinePage) -> list[str]:
    return [u for u in visit.fetched if "onnxruntime-web/" in u or "/models/" in u]


@pytest.mark.parametrize("page", sorted(INPUT_PAGES))
def test_model_in_the_browser_equals_pytorch(
    browser: Any, base_url: str, page: str
) -> None:
    name = INPUT_PAGES[page]
    reference = json.loads((MODELS / name / "reference.json").read_text("utf-8"))
    with OfflinePage(browser, base_url + page) as visit:
        explorer = _input_explorer(visit)
        assert _fetched_runtime_or_model(visit) == [], (
            "a page that is only read loaded the model"
        )
        canvas = explorer.locator("canvas.attn-heatmap")
        digests = {hashlib.sha256(canvas.screenshot()).hexdigest()}
        for ref in reversed(
            reference
        ):  # the first one is the box's initial text: type it last
            got = _type(visit, explorer, ref["text"])
            assert got["output"] == ref["output"], ref["text"]
            assert got["output_tokens"] == ref["output_tokens"], ref["text"]
            assert got["source_tokens"] == ref["source_tokens"], ref["text"]
            assert got["unknown"] == ref["unknown"], ref["text"]
            weights = [
                k
                for k in ("attention", "self_attention", "cross_attention")
                if k in ref
            ]
            assert weights, "the reference holds no attention"
            for (
                key
            ) in weights:  # ch. 4: (T, S); ch. 7: (L, h, T, T) and (L, h, T, S)
                want = np.array(ref[key])
                got_w = np.array(got[key]).reshape(want.shape)
                np.testing.assert_allclose(
                    got_w, want, rtol=0, atol=1e-5, err_msg=key
                )
            status = explorer.locator(".attn-input-status").inner_text()
            assert ref["output"] in status
            for token in ref["unknown"]:
                assert f"“{token}”" in status  # the visible <unk> note
            digests.add(hashlib.sha256(canvas.screenshot()).hexdigest())
        assert len(digests) > len(reference) // 2, (
            "typing did not redraw the heatmap"
        )
        assert _fetched_runtime_or_model(visit), (
            "the model was not fetched from the site"
        )
        assert visit.blocked == [], f"requests left the machine: {visit.blocked}"
        assert visit.errors == [], (
            f"console errors after using the model: {visit.errors}"
        )


@pytest.mark.parametrize("page", sorted(INPUT_PAGES))
def test_input_box_by_keyboard_alone(
    browser: Any, base_url: str, page: str
) -> None:
    with OfflinePage(browser, base_url + page) as visit:
        explorer = _input_explorer(visit)
        field = explorer.locator(".attn-input input")
        # reachable with Tab: start at the element before it in the document
        field.evaluate(
            "f => { const b = document.createElement('button'); b.id = 'before-box';"
            " f.closest('.attn-explorer').before(b); b.focus(); }"
        )
        visit.page.keyboard.press("Tab")
        assert field.evaluate("f => document.activeElement === f")
        visit.page.keyboard.press("End")
        visit.page.keyboard.press("Backspace")
        visit.page.keyboard.type("8")  # "... 1998"
        explorer.page.wait_for_function(
            "e => Number(e.dataset.inferred || 0) > 0",
            arg=explorer.element_handle(),
            timeout=60_000,
        )
        assert (
            explorer.evaluate("e => e.attnbookResult.text") == field.input_value()
        )
        for _ in range(3):
            visit.page.keyboard.press("Backspace")
        visit.page.keyboard.press("Control+A")
        visit.page.keyboard.press("Delete")  # an empty box: a note, no crash
        explorer.page.wait_for_function(
            "e => !e.querySelector('.attn-input-status').textContent.startsWith('Output')",
            arg=explorer.element_handle(),
        )
        assert visit.errors == [], visit.errors
        assert visit.blocked == [], visit.blocked


def _pad_result(explorer: Any, image: list[float]) -> dict[str, Any]:
    """Wait for the in-browser result of exactly this drawing."""
    explorer.page.wait_for_function(
        "([e, want]) => e.attnbookResult && e.attnbookResult.image.join() === want.join()",
        arg=[explorer.element_handle(), image],
        timeout=60_000,
    )
    return explorer.evaluate("e => e.attnbookResult")


@pytest.mark.parametrize("page", sorted(PAD_PAGES))
def test_drawing_in_the_browser_equals_pytorch(
    browser: Any, base_url: str, page: str
) -> None:
    reference = json.loads(
        (MODELS / PAD_PAGES[page] / "reference.json").read_text("utf-8")
    )
    with OfflinePage(browser, base_url + page) as visit:
        explorer = _input_explorer(visit)
        assert _fetched_runtime_or_model(visit) == [], (
            "a page that is only read loaded the model"
        )
        canvas = explorer.locator("canvas.attn-heatmap")
        cells = explorer.locator(".attn-pad-cell")
        digests = {hashlib.sha256(canvas.screenshot()).hexdigest()}
        for ref in reference[1:]:  # [0] is the starting image; [1] the cleared pad
            explorer.get_by_role("button", name="clear").click()
            image = np.array(ref["image"]).ravel()
            for i in np.flatnonzero(image >= 0.5):
                cells.nth(int(i)).click()  # paints an empty cell
            got = _pad_result(explorer, image.tolist())
            np.testing.assert_allclose(
                got["probs"], ref["probs"], rtol=0, atol=1e-5
            )
            frames = np.array(got["frames"]).reshape(np.shape(ref["frames"]))
            np.testing.assert_allclose(frames, ref["frames"], rtol=0, atol=1e-5)
            bars = explorer.locator(".attn-bar")
            assert bars.count() == len(ref["probs"])
            best = int(np.argmax(ref["probs"]))
            assert bars.nth(best).get_attribute("class") == "attn-bar attn-bar-best"
            digests.add(hashlib.sha256(canvas.screenshot()).hexdigest())
        assert len(digests) > len(reference) // 2, (
            "drawing did not redraw the heatmap"
        )
        assert visit.blocked == [], f"requests left the machine: {visit.blocked}"
        assert visit.errors == [], (
            f"console errors after using the model: {visit.errors}"
        )


@pytest.mark.parametrize("page", sorted(PAD_PAGES))
def test_pad_by_keyboard_alone(browser: Any, base_url: str, page: str) -> None:
    with OfflinePage(browser, base_url + page) as visit:
        explorer = _input_explorer(visit)
        first = explorer.locator(".attn-pad-cell").first
        start = first.evaluate(
            "c => Number(c.getAttribute('aria-pressed') === 'true')"
        )
        first.evaluate(
            "c => { const b = document.createElement('button'); b.id = 'before-pad';"
            " c.closest('.attn-explorer').before(b); b.focus(); }"
        )
        visit.page.keyboard.press("Tab")
        assert first.evaluate("c => document.activeElement === c")
        visit.page.keyboard.press("Space")
        explorer.page.wait_for_function(
            "e => e.attnbookResult", arg=explorer.element_handle(), timeout=60_000
        )
        image = explorer.evaluate("e => e.attnbookResult.image")
        assert image[0] == 1 - start
        assert first.get_attribute("aria-pressed") == str(bool(1 - start)).lower()
        assert visit.errors == [], visit.errors
        assert visit.blocked == [], visit.blocked
