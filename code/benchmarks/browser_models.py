"""The book's trained models in the reader's browser: what the first use costs and how fast they run.

For every page with an input box (``attnbook.export``), on the built site with the network cut
off, in a fresh browser context (empty cache):

``browser_model.<stem>.first_result_ms``
    from the reader's first input to its result drawn: onnxruntime-web and the model are
    fetched and compiled in that time (cold).
``browser_model.<stem>.infer_ms``
    median time of one in-browser inference over ``RUNS`` further inputs (the greedy decode of a
    whole date in chapter 4, one forward pass in chapter 9), without drawing.
``browser_model.<stem>.first_use_kb`` / ``.first_use_gz_kb``
    bytes fetched because of the first input (runtime + model), as files and as a server that
    gzips text would send them; a page that is only read fetches none of them.

Run as ``python code/benchmarks/browser_models.py`` on a built site, or through ``run.py``.
"""

from __future__ import annotations

import json
import pathlib
import re
import statistics
import sys
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from bookext.browser import OfflinePage, launch_chromium, serve

RUNS = 9
#: An input per page kind, and further ones for the timing runs.
DATES = [
    "March 7, 2023",
    "1 Jan 2000",
    "2/29/48",
    "Tue, 7 Mar 2023",
    "20230307",
    "7.3.2023",
]


def _wait_result(explorer: Any, before: int) -> dict[str, Any]:
    explorer.page.wait_for_function(
        "([e, n]) => Number(e.dataset.inferred || 0) > n",
        arg=[explorer.element_handle(), before],
        timeout=120_000,
    )
    return explorer.evaluate("e => e.attnbookResult")


def use_once(visit: OfflinePage, explorer: Any, k: int) -> dict[str, Any]:
    """One input, the way a reader gives it: type a date, or toggle a cell of the pad."""
    before = int(explorer.evaluate("e => Number(e.dataset.inferred || 0)"))
    field = explorer.locator(".attn-input input[type=text]")
    if field.count():
        field.fill(DATES[k % len(DATES)])
    else:
        explorer.locator(".attn-pad-cell").nth((5 * k + 3) % 64).click()
    return _wait_result(explorer, before)


def input_pages(site: pathlib.Path) -> list[str]:
    pages = sorted((site / "chapters").glob("*.html"))
    has_input = re.compile(r'"input":\s*\{"kind"')
    return [p.name for p in pages if has_input.search(p.read_text("utf-8"))]


def _bytes(site: pathlib.Path, base_url: str, urls: list[str]) -> tuple[int, int]:
    import gzip

    raw = gz = 0
    for url in dict.fromkeys(urls):
        path = site / unquote(urlsplit(url).path).removeprefix(
            urlsplit(base_url).path
        )
        data = path.read_bytes()
        raw += len(data)
        gz += len(gzip.compress(data, compresslevel=6))
    return raw, gz


def measure(site: pathlib.Path) -> dict[str, float]:
    metrics: dict[str, float] = {}
    with serve(site) as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for name in input_pages(site):
                stem = name.removesuffix(".html")
                with OfflinePage(browser, f"{base_url}chapters/{name}") as visit:
                    visit.wait_for_explorers()
                    explorer = visit.page.locator(
                        ".attn-explorer", has=visit.page.locator(".attn-input")
                    )
                    explorer.evaluate("e => e.scrollIntoView({block: 'center'})")
                    # the page's lazy images that scrolling brought near the screen load now,
                    # not inside the first use (a 23 KB figure in chapter 4, counted in some runs)
                    visit.wait_for_network_idle()
                    loaded = len(visit.fetched)
                    first = use_once(visit, explorer, 0)
                    raw, gz = _bytes(site, base_url, visit.fetched[loaded:])
                    times = [
                        use_once(visit, explorer, k)["infer_ms"]
                        for k in range(1, RUNS + 1)
                    ]
                    if visit.errors:
                        raise RuntimeError(f"{name}: console errors {visit.errors}")
                metrics[f"browser_model.{stem}.first_result_ms"] = round(
                    first["first_result_ms"], 1
                )
                metrics[f"browser_model.{stem}.infer_ms"] = round(
                    statistics.median(times), 2
                )
                metrics[f"browser_model.{stem}.first_use_kb"] = round(raw / 1024, 1)
                metrics[f"browser_model.{stem}.first_use_gz_kb"] = round(
                    gz / 1024, 1
                )
        finally:
            browser.close()
    return metrics


if __name__ == "__main__":
    root = pathlib.Path(__file__).resolve().parents[2]
    print(json.dumps(measure(root / "_build" / "html"), indent=2))
