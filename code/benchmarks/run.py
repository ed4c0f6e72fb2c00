"""Benchmark the book: build times, chapter execution, page weight and explorer latency.

Run from the repository root (``make bench`` does this)::

    .venv/bin/python code/benchmarks/run.py [--root PATH]

Every number is measured once, in this one run, on this machine, and written to
``_build/bench.json`` (flat ``name -> number``) and ``_build/bench.md`` (a table).
Timings depend on the machine and its load, so they are reported, never asserted
in tests. If a build fails, the script exits non-zero, prints the end of the build log and
the Sphinx warnings, and keeps the whole log in ``_build/bench-build.log``.

Metrics
-------
``build.cold_s``
    Wall-clock seconds of ``make book`` (``code/bookext/notebooks.py build``) from nothing: the
    chapters executed in parallel into the execution cache (one chapter per usable core, each
    kernel on one thread), then the strict build (``jupyter-book build . -n -W --keep-going``),
    which reads the cache; its start-up overlaps the last chapters. ``_build/html``,
    ``_build/.doctrees``, ``_build/jupyter_execute`` and ``_build/.jupyter_cache`` are deleted
    first, so every chapter runs.
``build.warm_s``
    The same two steps again right after, nothing changed: the cache is used, no chapter runs.
``chapter.<stem>.exec_s`` / ``chapter.<stem>.peak_mb``
    Seconds the cold build spent executing chapter ``chapters/<stem>.md`` (with other chapters
    running beside it on the other cores), and the peak resident memory of its kernel (and
    anything the kernel started), polled every 0.2 s, in MiB.
``page.<stem>.kb``
    Weight of a notebook chapter's page: its HTML plus every local file it references
    under ``_images/`` or ``_downloads/``, in KiB (1 decimal).
``page.<stem>.transfer_gz_kb``
    What a first visit to a notebook chapter's page transfers, in KiB: every file Chromium
    actually requests while loading it (HTML, scripts, styles, fonts, images; an empty cache;
    explorers drawn and MathJax done, with the fonts it asked for), each counted gzipped
    (level 6, as a web server compresses text) except files that are compressed already
    (woff/woff2, images), which count as they are, plus the page's icon (Chromium fetches it
    outside the page, where Playwright does not see the request). HTTP headers are not counted.
``site.static_kb`` / ``site.vendored_js_kb``
    All of ``_static/`` (theme and vendored scripts), and the vendored scripts alone
    (``_static/attnbook/``), in KiB. Loaded by every page but cached by the browser, so
    counted once for the whole site rather than per page.
``explorer.redraw_p50_ms`` / ``explorer.redraw_p95_ms``
    Median and 95th percentile, in headless Chromium, of the time from setting a slider
    of an explorer and dispatching its ``input`` event until the next animation frame:
    what a reader waits for. It cannot go below one frame (~16.7 ms at 60 Hz).
    50 moves per page with explorers, pooled over pages.
``explorer.draw_p50_ms`` / ``explorer.draw_p95_ms``
    The same moves, timed only until the synchronous redraw returns: the explorer's own cost.
``softmax.ratio_vs_torch.fwd`` / ``softmax.ratio_vs_torch.fwd_bwd``
    ``attnbook.masked_softmax`` time divided by the idiom ``scores.masked_fill(~mask, -inf).softmax(-1)``
    (mask built from the same lengths) on (32, 8, 128, 128) scores with random lengths in [0, 128], one CPU
    thread: forward under ``no_grad``, and forward + backward. Medians of 21 interleaved repeats
    (``attnbook.profiling.softmax_speed``); ``softmax.<row>.fwd_ms`` / ``.fwd_bwd_ms`` are the raw rows.
``softmax.checks_ratio.fwd`` / ``softmax.checks_ratio_small.fwd``
    ``masked_softmax`` with its input checks divided by the same computation without them, on those scores
    and on small (4, 2, 8, 8) ones, where the checks' fixed cost shows most.
``explorer.ready_ms``
    Milliseconds from navigation start until every explorer a chapter page displays has drawn
    (its sliders are wired before it draws) and the frame showing them has been painted, in
    headless Chromium with the CPU slowed down 4x
    (DevTools' ``Emulation.setCPUThrottlingRate``) and an empty cache; the median over the
    chapter pages with explorers (``explorer.ready_max_ms``: the slowest page). Chromium runs as
    ``bookext.browser`` launches it, without preloading a new window's address-bar popup, which
    until session 13 ran beside every visit (``DISABLED_FEATURES``).
``explorer.first_ready_ms``
    The same visits, until the page's first explorer has drawn and the frame showing it has been
    painted (median over the pages): when a reader who starts at the top could use an explorer.
``page.fcp_ms``
    The first contentful paint of those same visits (median over the same pages): when the browser
    first shows any of the page's text or images. An explorer appears in that frame at the earliest,
    so ``explorer.ready_ms`` cannot be much below it (Chromium stamps the paint with the time the frame
    reached the screen, up to a frame after the ready signal); the difference is what the explorers
    add after the page's first paint.
``explorer.ready_alone_ms``
    The same measurement (median over the same pages, each visited right after its page) on the
    page cut down to its explorers: the widget state, the loader and each explorer's view, in
    page order, with no theme, text, figures or math. What the explorers cost by themselves on
    this machine: roughly the floor of ``explorer.ready_ms``, whatever the rest of the page
    becomes.
``mha.ratio_vs_torch.fwd`` / ``mha.ratio_vs_torch.fwd_bwd``
    The book's ``MultiHeadAttention`` time divided by ``nn.MultiheadAttention``'s, both returning
    per-head attention weights (book ``keep_weights=True``, torch ``need_weights=True,
    average_attn_weights=False``), for self-attention on a (32, 128, 256) batch with 8 heads and key padding
    (random lengths in [1, 128]) on one CPU thread: forward under ``no_grad`` in eval mode, and forward +
    backward. Medians of 21 interleaved repeats, measured after the builds by
    ``attnbook.profiling.mha_speed(key_padding=True)`` (the function chapter 5 prints, without padding).
``mha.ratio_vs_torch_fused.fwd`` / ``mha.ratio_vs_torch_fused.fwd_bwd``
    The same with both fused (book ``keep_weights=False``, torch ``need_weights=False``).
``mha.<implementation>.fwd_ms`` / ``.fwd_bwd_ms`` / ``.saved_mb``
    The raw rows of that measurement (``book_weights``, ``torch_weights``, ``book_fused``, ``torch_fused``,
    ``sdpa_core``); ``saved_mb`` is what autograd keeps for the backward pass.
``encoder.ratio_vs_torch.fwd`` / ``encoder.ratio_vs_torch.fwd_bwd``
    A post-norm ``attnbook.transformer.EncoderBlock`` (keeping its weights) divided by
    ``nn.TransformerEncoderLayer`` (which computes no weights), same sizes and padding, FFN width 1024
    (``attnbook.profiling.encoder_speed``); ``encoder.<row>.*`` are the raw rows.
anything else
    Figures the chapters print, recorded with ``attnbook.telemetry.record`` while the cold
    build executes them (``ATTNBOOK_METRICS=_build/metrics.jsonl``).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import html.parser
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import shutil
import sys
import tempfile
import time
from urllib.parse import unquote, urlsplit

import numpy as np
from playwright.sync_api import sync_playwright

sys.path.insert(
    0, str(pathlib.Path(__file__).resolve().parents[1])
)  # code/: the book-build helpers
import browser_models

from bookext.browser import OfflinePage, launch_chromium, serve, site_pages
from bookext.notebooks import build, chapters

#: Build outputs a cold build starts without; everything else under ``_build/`` is kept.
COLD_PATHS = ("html", ".doctrees", "jupyter_execute", ".jupyter_cache")
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MOVES_PER_PAGE = 50
LOG_TAIL_LINES = 60

Metrics = dict[str, float]

# Runs inside the page: moves the sliders one after another and times each redraw.
# Returns, per move, the time to the next frame and the synchronous redraw time (ms), and a
# description of every move after which no explorer redrew.
MOVE_SLIDERS_JS = """
async (moves) => {
  const sliders = [...document.querySelectorAll('.attn-explorer')].flatMap((explorer, e) =>
    [...explorer.querySelectorAll('input[type=range]')]
      .map((input, s) => ({explorer, input, name: `explorer ${e}, slider ${s}`, dir: 1}))
      .filter(({input}) => !input.disabled));  // an axis with a single value cannot move
  if (sliders.length === 0) return {times: [], draws: [], stale: ['no movable slider on the page']};
  const times = [], draws = [], stale = [];
  for (let k = 0; k < moves; k++) {
    const slider = sliders[k % sliders.length];
    const {explorer, input} = slider;
    const step = Number(input.step) || 1, now = Number(input.value);
    if (now + slider.dir * step > Number(input.max) || now + slider.dir * step < Number(input.min)) {
      slider.dir = -slider.dir;
    }
    const value = now + slider.dir * step;
    slider.dir = -slider.dir;  // alternate directions on the next visit of this slider
    const drawn = Number(explorer.dataset.drawn);
    const t0 = performance.now();
    input.value = String(value);
    input.dispatchEvent(new Event('input', {bubbles: true}));
    const t1 = performance.now();  // the redraw is synchronous: done here
    await new Promise(r => requestAnimationFrame(() => r()));
    const t2 = performance.now();  // and on screen with the next frame
    if (!(Number(explorer.dataset.drawn) > drawn)) stale.push(`${slider.name} -> ${value}`);
    draws.push(t1 - t0);
    times.push(t2 - t0);
  }
  return {times, draws, stale};
}
"""


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the final table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def kib(n_bytes: int) -> float:
    return round(n_bytes / 1024, 1)


def tree_bytes(folder: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- 1, 2: builds -------------------------------------------------------------------------------


def clean_for_cold_build(build: pathlib.Path) -> pathlib.Path:
    """Delete the outputs listed in ``COLD_PATHS``; return an emptied ``metrics.jsonl``."""
    for name in COLD_PATHS:
        shutil.rmtree(build / name, ignore_errors=True)
    build.mkdir(parents=True, exist_ok=True)
    metrics_file = build / "metrics.jsonl"
    metrics_file.write_text("", encoding="utf-8")
    return metrics_file


def timed_build(
    root: pathlib.Path, metrics_file: pathlib.Path
) -> tuple[float, Metrics]:
    """Run ``make book``'s steps (parallel execution, strict build); return the seconds and chapter metrics.

    Exits with the log tail if either step fails.
    """
    os.environ["ATTNBOOK_METRICS"] = str(
        metrics_file.resolve()
    )  # the kernels inherit it
    log_file = root / "_build" / "bench-build.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log_file.open("w", encoding="utf-8") as output:
        runs, status = build(chapters(root), root, log=log, output=output)
    seconds = time.perf_counter() - start
    stdout = log_file.read_text(encoding="utf-8")
    failed = [run for run in runs if run.error]
    if failed:
        for run in failed:
            print(f"{run.md.name} failed:\n{run.error}", file=sys.stderr)
        sys.exit(
            f"[bench] executing {', '.join(run.md.name for run in failed)} failed"
        )
    if status != 0:
        lines = stdout.splitlines()
        problems = [
            line for line in lines if "WARNING:" in line or "ERROR:" in line
        ]  # what -W turned fatal
        print(
            "\n".join(
                lines[-LOG_TAIL_LINES:]
                + ["", "Sphinx warnings and errors:", *problems]
            ),
            file=sys.stderr,
        )
        sys.exit(
            f"[bench] the book build failed (exit {status}); full log: {log_file}"
        )
    executed_in_build = stdout.count("Executing notebook")
    if executed_in_build:
        log(
            f"WARNING: the build executed {executed_in_build} chapter(s) itself: the cache did not match"
        )
    chapter_metrics: Metrics = {}
    for run in runs:
        chapter_metrics[f"chapter.{run.md.stem}.exec_s"] = round(run.seconds, 2)
        chapter_metrics[f"chapter.{run.md.stem}.peak_mb"] = round(run.peak_mb)
    return seconds, chapter_metrics


# -- 3: the machine --------------------------------------------------------------------------------

#: A load average above this share of the usable cores means something else was running.
BUSY_LOAD_PER_CORE = 0.25


def machine() -> dict[str, float]:
    cores = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        usable = cores
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cores": cores,
        "usable_cores": usable,
        "load1": load[0],
        "load5": load[1],
        "load15": load[2],
    }


def load_warning(at_start: dict[str, float]) -> str:
    """A warning when the load average at the start says other work shares the machine, else ''."""
    limit = BUSY_LOAD_PER_CORE * at_start["usable_cores"]
    if at_start["load1"] > limit or at_start["load5"] > limit:
        return (
            f"WARNING: load average {at_start['load1']:.2f} / {at_start['load5']:.2f} (1 / 5 min) at the start on "
            f"{at_start['usable_cores']:.0f} usable cores: other work is running, the timings are contaminated."
        )
    return ""


# -- 4: page weight -------------------------------------------------------------------------------


def is_notebook_chapter(source: pathlib.Path) -> bool:
    """A MyST notebook has a leading ``---`` front-matter block with a ``kernelspec:``."""
    lines = source.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "---":
        return False
    for line in lines[1:]:
        if line.strip() == "---":
            return False
        if line.startswith("kernelspec:"):
            return True
    return False


class _LinkCollector(html.parser.HTMLParser):
    """Collects the values of every ``src=`` and ``href=`` attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> None:
        self.links += [
            value for name, value in attrs if name in ("src", "href") and value
        ]


def local_assets(page: pathlib.Path, site: pathlib.Path) -> set[pathlib.Path]:
    """Files under ``_images/`` or ``_downloads/`` of ``site`` that ``page`` references."""
    collector = _LinkCollector()
    collector.feed(page.read_text(encoding="utf-8"))
    assets = set()
    for link in collector.links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        target = (page.parent / unquote(parts.path)).resolve()
        if target.is_file() and target.relative_to(site.resolve()).parts[0] in (
            "_images",
            "_downloads",
        ):
            assets.add(target)
    return assets


def page_weights(root: pathlib.Path, site: pathlib.Path) -> Metrics:
    """``page.<stem>.kb`` for every notebook chapter, plus the site-wide static totals."""
    metrics: Metrics = {}
    for page in sorted((site / "chapters").glob("*.html")):
        source = root / "chapters" / f"{page.stem}.md"
        if source.is_file() and is_notebook_chapter(source):
            size = page.stat().st_size + sum(
                a.stat().st_size for a in local_assets(page, site)
            )
            metrics[f"page.{page.stem}.kb"] = kib(size)
    metrics["site.static_kb"] = kib(tree_bytes(site / "_static"))
    metrics["site.vendored_js_kb"] = kib(tree_bytes(site / "_static" / "attnbook"))
    return metrics


#: Files a web server sends as they are: compressed already.
PRECOMPRESSED = {
    ".woff",
    ".woff2",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".gz",
    ".zip",
}


def transferred_bytes(site: pathlib.Path, base_url: str, urls: list[str]) -> int:
    """Bytes a first visit transfers for these loopback ``urls`` (text gzipped, see the docstring)."""
    total = 0
    for url in dict.fromkeys(
        u.split("#")[0] for u in urls
    ):  # each file once, as a cache would
        path = site / unquote(urlsplit(url).path).removeprefix(
            urlsplit(base_url).path
        )
        if path.is_dir():
            path = path / "index.html"
        data = path.read_bytes()
        total += (
            len(data)
            if path.suffix.lower() in PRECOMPRESSED
            else len(gzip.compress(data, compresslevel=6))
        )
    return total


def transfer_weights(root: pathlib.Path, site: pathlib.Path) -> Metrics:
    """``page.<stem>.transfer_gz_kb`` for every notebook chapter: what Chromium fetches on a first visit."""
    metrics: Metrics = {}
    with serve(site) as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for page in sorted((site / "chapters").glob("*.html")):
                source = root / "chapters" / f"{page.stem}.md"
                if not (source.is_file() and is_notebook_chapter(source)):
                    continue
                log(f"page transfer: {page.name}")
                with OfflinePage(
                    browser, f"{base_url}chapters/{page.name}"
                ) as visit:
                    if WIDGET_STATE in page.read_text(encoding="utf-8"):
                        visit.wait_for_explorers()
                    visit.wait_for_math()
                    fetched = list(visit.fetched) + visit.page.eval_on_selector_all(
                        'link[rel~="icon"]', "links => links.map(link => link.href)"
                    )
                metrics[f"page.{page.stem}.transfer_gz_kb"] = kib(
                    transferred_bytes(site, base_url, fetched)
                )
        finally:
            browser.close()
    return metrics


# -- 5: explorer latency --------------------------------------------------------------------------


def redraw_times_ms(browser: object, url: str) -> tuple[list[float], list[float]]:
    """Time ``MOVES_PER_PAGE`` slider moves on one page: (to next frame, redraw alone), in ms.

    Raises if any move left the figure as it was.
    """
    with OfflinePage(browser, url) as visit:
        visit.wait_for_explorers()
        result = visit.page.evaluate(MOVE_SLIDERS_JS, MOVES_PER_PAGE)
    if result["stale"]:
        raise RuntimeError(
            f"{url}: the figure did not redraw after: {'; '.join(result['stale'])}"
        )
    return [float(t) for t in result["times"]], [float(t) for t in result["draws"]]


def explorer_latency(site: pathlib.Path) -> Metrics:
    """``explorer.redraw_p50_ms`` / ``_p95_ms`` over all moves on all pages that embed widget state."""
    pages = [
        p
        for p in site_pages(site)
        if WIDGET_STATE in (site / p).read_text(encoding="utf-8")
    ]
    if not pages:
        raise RuntimeError(
            f"no page under {site} embeds widget state: the explorers were not saved by the build"
        )
    times: list[float] = []
    draws: list[float] = []
    with serve(site) as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for page in pages:
                log(f"explorer latency: {page}")
                to_frame, redraw = redraw_times_ms(browser, base_url + page)
                times += to_frame
                draws += redraw
        finally:
            browser.close()
    p50, p95 = np.percentile(times, [50, 95])
    d50, d95 = np.percentile(draws, [50, 95])
    return {
        "explorer.redraw_p50_ms": round(float(p50), 2),
        "explorer.redraw_p95_ms": round(float(p95), 2),
        "explorer.draw_p50_ms": round(float(d50), 2),
        "explorer.draw_p95_ms": round(float(d95), 2),
    }


# Logs "attnbook-first <ms>" when the page's first explorer has drawn once and the frame that
# shows it has been rendered (what a reader sees), and "attnbook-ready <ms>" when all N of them
# have (N filled in per page): a task of the highest priority posted from the next animation
# frame runs right after that frame's layout and paint (a timer would wait behind the page's
# loading tasks). It watches only the explorers' `data-drawn` attribute, and the page is not
# otherwise touched while it loads: polling it from Playwright (`wait_for_function`) would inject
# Playwright's own script into the page and charge its ~0.1 s of compiling to the figure.
READY_JS = """
(() => {
  const stamp = (message) => requestAnimationFrame(() => scheduler.postTask(
    () => console.debug(message + performance.now()), {priority: 'user-blocking'}));
  let first = true;
  new MutationObserver((records, observer) => {
    const drawn = [...document.querySelectorAll('.attn-explorer')].filter(e => Number(e.dataset.drawn) > 0).length;
    if (drawn > 0 && first) {
      first = false;
      stamp('attnbook-first ');
    }
    if (drawn < N) return;
    observer.disconnect();
    stamp('attnbook-ready ');
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-drawn']});
})();
"""
READY_MESSAGE = "attnbook-ready "
FIRST_MESSAGE = "attnbook-first "
#: The page's first contentful paint (ms after navigation), read once the explorers are ready. The
#: entry is added when that frame has reached the screen, which can come after the ready signal
#: (read at once, it was missing on a visit in session 13's bench): wait for it.
FCP_JS = """new Promise((resolve) => new PerformanceObserver((list, observer) => {
  const entry = list.getEntriesByName('first-contentful-paint')[0];
  if (entry) {
    observer.disconnect();
    resolve(entry.startTime);
  }
}).observe({type: 'paint', buffered: true}))"""


def explorer_views(html_text: str) -> int:
    """How many explorers a built page displays (widget views whose model is a HeatmapExplorer)."""
    state = re.search(
        r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>',
        html_text,
        re.DOTALL,
    )
    models = json.loads(state.group(1))["state"] if state else {}
    views = re.findall(
        r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>',
        html_text,
        re.DOTALL,
    )
    return sum(
        models.get(json.loads(v)["model_id"], {})
        .get("state", {})
        .get("_anywidget_id", "")
        .endswith("HeatmapExplorer")
        for v in views
    )


CPU_SLOWDOWN = 4

# What a chapter page's explorers need and nothing else: the loader, the widget state, the
# module preload (head) and each explorer's view with the script that draws it (body).
_ALONE_HEAD = re.compile(
    r'<link rel="modulepreload"[^>]*>|<script src="[^"]*/attnbook-embed\.js[^"]*"></script>'
    r'|<script type="application/vnd\.jupyter\.widget-state\+json">.*?</script>',
    re.DOTALL,
)
_ALONE_BODY = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">.*?</script>'
    r"<script>attnbookEmbed\.draw\(document\.currentScript\)</script>",
    re.DOTALL,
)


def explorers_alone(html_text: str) -> str:
    """A chapter page cut down to its explorers, in page order: no theme, text, figures or math."""
    head, body = _ALONE_HEAD.findall(html_text), _ALONE_BODY.findall(html_text)
    if len(head) != 3 or len(body) != explorer_views(html_text):
        raise ValueError(
            "expected a page drawn by attnbook-embed.js (one module preload, loader and widget "
            f"state; one view per explorer), got {len(head)} head parts and {len(body)} views"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<link rel="icon" href="data:,">\n'  # no request for /favicon.ico
        + "\n".join(head)
        + "\n</head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _ready_ms(
    browser: object, url: str, n: int, then: str | None = None
) -> list[float]:
    """One cold visit at ``CPU_SLOWDOWN``: ms from navigation until the page's first explorer is on
    screen and until all ``n`` are, then the value of the expression ``then`` evaluated in the
    page, if given."""
    with OfflinePage(
        browser,
        url,
        cpu_slowdown=CPU_SLOWDOWN,
        init_script=READY_JS.replace("N)", f"{n})"),
        wait_until="commit",  # the page's own signal, not its load event
    ) as visit:
        ready = visit.wait_for_console(READY_MESSAGE, timeout_s=300)
        times = [visit.wait_for_console(FIRST_MESSAGE), ready]
        return times if then is None else [*times, visit.page.evaluate(then)]


def explorer_ready(site: pathlib.Path) -> Metrics:
    """``explorer.ready_ms`` (median), ``explorer.ready_max_ms``, ``explorer.first_ready_ms`` and
    ``page.fcp_ms`` (medians) over the chapter pages with explorers, and
    ``explorer.ready_alone_ms`` (median) over those pages cut down to their explorers
    (:func:`explorers_alone`), each visited right after its page."""
    chapters = {
        p: (site / p).read_text(encoding="utf-8")
        for p in site_pages(site)
        if p.startswith("chapters/")
    }
    pages = {p: text for p, text in chapters.items() if WIDGET_STATE in text}
    if not pages:
        raise RuntimeError(f"no chapter page under {site} embeds widget state")
    ready: list[float] = []
    first_ready: list[float] = []
    first_paint: list[float] = []
    alone: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        # the cut-down pages, with the site's _static/ beside them
        cut = pathlib.Path(tmp)
        (cut / "_static").symlink_to((site / "_static").resolve())
        (cut / "index.html").symlink_to((site / "index.html").resolve())
        for page, text in pages.items():
            (cut / page).parent.mkdir(parents=True, exist_ok=True)
            (cut / page).write_text(explorers_alone(text), encoding="utf-8")
        with (
            serve(site) as base_url,
            serve(cut) as cut_url,
            sync_playwright() as playwright,
        ):
            browser = launch_chromium(playwright)
            try:
                for page, text in pages.items():
                    n = explorer_views(text)
                    first, r, fcp = _ready_ms(browser, base_url + page, n, FCP_JS)
                    ready.append(r)
                    first_ready.append(first)
                    first_paint.append(fcp)
                    alone.append(_ready_ms(browser, cut_url + page, n)[1])
                    log(
                        f"explorer ready: {page} {r:.0f} ms (the first {first:.0f} ms; first"
                        f" contentful paint {fcp:.0f} ms; its explorers alone {alone[-1]:.0f} ms)"
                    )
            finally:
                browser.close()
    return {
        "explorer.ready_ms": round(float(np.median(ready)), 1),
        "explorer.ready_max_ms": round(max(ready), 1),
        "explorer.first_ready_ms": round(float(np.median(first_ready)), 1),
        "page.fcp_ms": round(float(np.median(first_paint)), 1),
        "explorer.ready_alone_ms": round(float(np.median(alone)), 1),
    }


# -- 6: attention kernels -----------------------------------------------------------------------


def _rows(prefix: str, rows: dict[str, dict[str, float]]) -> Metrics:
    """``<prefix>.<row>.<field>`` for every row: "book, weights" -> "book_weights"."""
    metrics: Metrics = {}
    for name, row in rows.items():
        key = name.replace(", ", "_").replace(" ", "_").lower()
        metrics |= {
            f"{prefix}.{key}.{field}": round(value, 3)
            for field, value in row.items()
        }
    return metrics


def _ratio(
    rows: dict[str, dict[str, float]], mine: str, theirs: str, step: str
) -> float:
    return round(rows[mine][f"{step}_ms"] / rows[theirs][f"{step}_ms"], 3)


def attention_metrics(repeats: int = 21) -> Metrics:
    """``softmax.*``, ``mha.*`` and ``encoder.*``: the book's attention against torch's, via ``attnbook.profiling``."""
    import torch

    from attnbook.profiling import encoder_speed, mha_speed, softmax_speed

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the chapters (attnbook.get_device)
    try:
        soft = softmax_speed((32, 8, 128, 128), repeats=repeats)
        small = softmax_speed((4, 2, 8, 8), repeats=10 * repeats)
        mha = mha_speed(
            batch=32,
            length=128,
            width=256,
            heads=8,
            repeats=repeats,
            key_padding=True,
        )
        enc = encoder_speed(
            batch=32, length=128, width=256, heads=8, repeats=repeats
        )
    finally:
        torch.set_num_threads(threads)
    metrics = _rows("softmax", soft) | _rows("mha", mha) | _rows("encoder", enc)
    for step in ("fwd", "fwd_bwd"):
        metrics[f"softmax.ratio_vs_torch.{step}"] = _ratio(
            soft, "book", "torch idiom", step
        )
        metrics[f"mha.ratio_vs_torch.{step}"] = _ratio(
            mha, "book, weights", "torch, weights", step
        )
        metrics[f"mha.ratio_vs_torch_fused.{step}"] = _ratio(
            mha, "book, fused", "torch, fused", step
        )
        metrics[f"encoder.ratio_vs_torch.{step}"] = _ratio(
            enc, "book", "torch", step
        )
    metrics["softmax.checks_ratio.fwd"] = _ratio(
        soft, "book", "book, no checks", "fwd"
    )
    metrics["softmax.checks_ratio_small.fwd"] = _ratio(
        small, "book", "book, no checks", "fwd"
    )
    return metrics


# -- 7: figures recorded by the chapters ----------------------------------------------------------


def recorded_metrics(metrics_file: pathlib.Path) -> Metrics:
    """The JSON lines chapters appended via ``attnbook.telemetry.record``; later lines win."""
    recorded: Metrics = {}
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            recorded.update(json.loads(line))
    return recorded


def merge(measured: Metrics, recorded: Metrics) -> Metrics:
    clash = sorted(measured.keys() & recorded.keys())
    if clash:
        raise ValueError(
            f"chapters recorded metrics whose names the benchmark itself uses: {clash}"
        )
    return dict(sorted({**measured, **recorded}.items()))


# -- 8: report ------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def markdown_report(
    metrics: Metrics, at_start: dict[str, float], at_end: dict[str, float]
) -> str:
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "not installed"
    header = (
        f"Benchmarks of {datetime.date.today().isoformat()} on {at_start['cores']:.0f} cores "
        f"({at_start['usable_cores']:.0f} usable), Python {platform.python_version()}, torch {torch_version}; "
        f"one run, not asserted.\nLoad average (1 / 5 / 15 min) at the start {at_start['load1']:.2f} / "
        f"{at_start['load5']:.2f} / {at_start['load15']:.2f}, at the end {at_end['load1']:.2f} / "
        f"{at_end['load5']:.2f} / {at_end['load15']:.2f}."
    )
    if warning := load_warning(at_start):
        header += f"\n\n**{warning}**"
    rows = "\n".join(
        f"| `{name}` | {_fmt(value)} |" for name, value in metrics.items()
    )
    return f"{header}\n\n| metric | value |\n|---|---:|\n{rows}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root",
        type=pathlib.Path,
        default=pathlib.Path(__file__).resolve().parents[2],
        help="the book's repository root (default: the one holding this script)",
    )
    root = parser.parse_args().root.resolve()
    build = root / "_build"
    site = build / "html"

    at_start = machine()
    log(f"machine: {at_start}")
    if warning := load_warning(at_start):
        log(warning)
    metrics_file = clean_for_cold_build(build)
    log("cold build ...")
    cold_s, measured = timed_build(root, metrics_file)
    measured["build.cold_s"] = round(cold_s, 2)
    log("warm build ...")
    measured["build.warm_s"] = round(timed_build(root, metrics_file)[0], 2)
    measured |= page_weights(root, site)
    measured |= transfer_weights(root, site)
    measured |= explorer_latency(site)
    measured |= explorer_ready(site)
    log("models in the browser ...")
    measured |= browser_models.measure(site)  # benchmarks/browser_models.py
    log("attention kernel timings ...")
    measured |= attention_metrics()
    metrics = merge(measured, recorded_metrics(metrics_file))

    report = markdown_report(metrics, at_start, machine())
    (build / "bench.json").write_text(
        json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (build / "bench.md").write_text(report, encoding="utf-8")
    print(report, end="")


if __name__ == "__main__":
    main()
