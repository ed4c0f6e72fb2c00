"""Open the built site the way a reader does, with the network cut off.

Shared by the browser tests (``code/tests/test_browser.py``) and the benchmarks
(``code/benchmarks/run.py``): serve ``_build/html`` on loopback, drive Chromium
with Playwright, block (``DEAD_PROXY``) and record every request that would leave
the machine, and collect console errors.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import pathlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from typing_extensions import Self

__all__ = [
    "CHROMIUM_FLAGS",
    "OfflinePage",
    "launch_chromium",
    "serve",
    "site_pages",
]

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: Where Chromium sends every request that is not for this machine: a port nothing listens on,
#: so the request fails at once (``net::ERR_PROXY_CONNECTION_FAILED``). Loopback addresses never
#: go through a proxy (Chromium bypasses it for them), so the served site loads directly.
DEAD_PROXY = "http://127.0.0.1:9"
#: The features Playwright switches off (1.65, ``chromiumSwitches.ts``). Chromium obeys only the
#: last ``--disable-features`` on its command line, and Playwright's comes before ours, so ours
#: repeats them (``test_browser.py`` reads the browser's command line and fails if Playwright adds one).
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
#: Also off: the omnibox popup. Chromium's headless mode builds a whole browser window, and Chromium
#: 156 preloads that window's address-bar popup, a WebUI page (``chrome://omnibox-popup.top-chrome``),
#: in a renderer of its own. Every fresh browser context opens a window, so every visit of the browser
#: tests and of ``make bench`` paid for it while the page loaded: 1.3-2.7 s of CPU in that renderer,
#: and a busier browser process (which answers the page's navigation and font requests), on this
#: 2-core machine. A reader's window loaded its popup when it opened, not with the chapter.
DISABLED_FEATURES = (
    *PLAYWRIGHT_DISABLED_FEATURES,
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
)
#: Flags for a quiet headless Chromium on a closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    f"--proxy-server={DEAD_PROXY}",
    "--disable-features=" + ",".join(DISABLED_FEATURES),
]


def site_pages(site: pathlib.Path) -> list[str]:
    """Every reader-facing HTML page of a built site, as paths relative to its root."""
    skip = ("_static/", "_sources/", "_images/")
    return sorted(
        rel
        for p in site.rglob("*.html")
        if not (rel := p.relative_to(site).as_posix()).startswith(skip)
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(site: pathlib.Path) -> Iterator[str]:
    """Serve ``site`` on a free loopback port; yields the base URL (ending in ``/``)."""
    if not (site / "index.html").is_file():
        raise FileNotFoundError(
            f"no built site at {site} (index.html missing); run `make book` first"
        )
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def launch_chromium(playwright: Any) -> Any:
    """Debian's ``chromium`` (or ``$CHROMIUM``) if installed, else Playwright's own build, with
    ``CHROMIUM_FLAGS``."""
    exe = (
        os.environ.get("CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    kwargs = {"executable_path": exe} if exe else {}
    proxy = urlparse(DEAD_PROXY)
    with socket.socket() as probe:
        if probe.connect_ex((proxy.hostname, proxy.port)) == 0:
            raise RuntimeError(
                f"something listens on {DEAD_PROXY}, the address Chromium is told to send "
                "off-machine requests to so that they fail: pick a free port for DEAD_PROXY"
            )
    return playwright.chromium.launch(args=CHROMIUM_FLAGS, **kwargs)


class OfflinePage:
    """One page in a fresh browser context (empty cache) of a browser from :func:`launch_chromium`;
    requests that would leave the machine fail there (``DEAD_PROXY``) and are listed in
    ``blocked``, the loopback ones in ``fetched``. Requests are only watched, not intercepted (a
    Playwright route holds each request until this Python process lets it go, which adds to the
    page-load timings of ``make bench``).

    ``cpu_slowdown`` > 1 throttles the page's CPU through the DevTools protocol (Chromium's
    ``Emulation.setCPUThrottlingRate``, as DevTools' "4x slowdown") from before navigation;
    ``touch`` emulates a touch screen (``page.touchscreen``); ``color_scheme`` is "light"/"dark";
    ``init_script`` runs in the page before any of its own scripts. ``wait_until`` is when the
    constructor returns: "load" (then also no request for 0.5 s), or "commit" (the first bytes of
    the page arrived) for callers that wait for a signal of their own. Waits time out after
    ``timeout_s`` (a shared, busy machine loads a page in seconds, not milliseconds).
    """

    def __init__(
        self,
        browser: Any,
        url: str,
        viewport: tuple[int, int] = (1280, 900),
        *,
        cpu_slowdown: float = 1.0,
        touch: bool = False,
        color_scheme: str | None = None,
        init_script: str | None = None,
        wait_until: str = "load",
        timeout_s: float = 120,
    ) -> None:
        options: dict[str, Any] = {
            "viewport": {"width": viewport[0], "height": viewport[1]}
        }
        if touch:
            options |= {"has_touch": True, "is_mobile": True}
        if color_scheme:
            options["color_scheme"] = color_scheme
        self.context = browser.new_context(**options)
        self.context.set_default_timeout(timeout_s * 1000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.fetched: list[str] = []
        self.messages: list[str] = []  # every console message, in order
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self._in_flight: set[Any] = set()
        self.page.on("request", lambda r: self._in_flight.add(r))
        self.page.on("requestfinished", lambda r: self._in_flight.discard(r))
        self.page.on("requestfailed", lambda r: self._in_flight.discard(r))
        self.context.on("request", self._record)
        if init_script:
            self.context.add_init_script(init_script)
        if cpu_slowdown != 1.0:
            self.cdp = self.context.new_cdp_session(self.page)
            self.cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
        self.page.goto(url, wait_until=wait_until)
        self._timeout_s = timeout_s
        if wait_until == "load":
            self.wait_for_network_idle()

    def wait_for_network_idle(self, quiet_s: float = 0.5) -> None:
        """Wait until no request of the page has been in flight for ``quiet_s``.

        Playwright's own ``networkidle`` state sometimes never arrives on a busy machine
        (every request finished, yet no event after 120 s), so this counts the requests itself.
        """
        deadline = time.monotonic() + self._timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_s:
            if time.monotonic() > deadline:
                pending = sorted(r.url for r in self._in_flight)
                raise TimeoutError(
                    f"requests still in flight after {self._timeout_s:.0f} s: {pending}"
                )
            self.page.wait_for_timeout(100)  # lets Playwright deliver the events
            if self._in_flight:
                quiet_since = time.monotonic()

    def _console(self, message: Any) -> None:
        self.messages.append(message.text)
        if message.type == "error":
            self.errors.append(message.text)

    def wait_for_console(
        self, prefix: str, timeout_s: float | None = None
    ) -> float:
        """Wait for a console message starting with ``prefix``; returns the number after it.

        Unlike ``page.wait_for_function``, this leaves the page alone while it loads (Playwright
        injects its own script into a page it polls).
        """
        timeout_s = timeout_s or self._timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            for text in self.messages:
                if text.startswith(prefix):
                    return float(text[len(prefix) :])
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no console message {prefix!r} in {timeout_s} s"
                )
            self.page.wait_for_timeout(50)  # lets Playwright deliver the events

    def _record(self, request: Any) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        if (urlparse(url).hostname or "") in LOOPBACK:
            self.fetched.append(url)
        else:
            self.blocked.append(url)

    def wait_for_math(self) -> int:
        """Wait until MathJax (if the page loads it) has typeset the page and its fonts are in;
        return the number of formulas."""
        if not self.page.locator('script[src*="mathjax"]').count():
            return 0
        self.page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
        )
        self.page.evaluate(
            "async () => { await MathJax.startup.promise; await document.fonts.ready; }"
        )
        self.wait_for_network_idle()  # fonts MathJax asked for
        return self.page.locator("mjx-container").count()

    def wait_for_explorers(self) -> int:
        """Wait until every ``.attn-explorer`` on the page has drawn once; return how many there are."""
        self.page.wait_for_function(
            "() => document.querySelectorAll('.attn-explorer').length > 0 &&"
            " [...document.querySelectorAll('.attn-explorer')].every(e => Number(e.dataset.drawn) > 0)"
        )
        return self.page.locator(".attn-explorer").count()

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
