"""Fixtures and markers shared by the test modules.

Markers (``make unit`` deselects both: ``-m "not site and not cuda"``):

``site``
    The test reads the built book (``_build/html``). Without it the test is skipped with the reason,
    whichever module it is in; ``make test`` builds the site first and sets ``ATTNBOOK_REQUIRE_SITE=1``,
    which turns a missing site into a failure instead. Modules listed in ``SITE_MODULES`` get the
    marker here, so they need not repeat it.
``cuda``
    The test needs a CUDA device; skipped with the reason where there is none.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SITE_MODULES = {"test_site.py", "test_browser.py"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "site: needs the built book in _build/html (`make book`)"
    )
    config.addinivalue_line(
        "markers", "cuda: needs a CUDA device; skipped where there is none"
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    for item in items:
        if item.path.name in SITE_MODULES:
            item.add_marker(pytest.mark.site)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("site") and not (SITE / "index.html").is_file():
        reason = f"no built site in {SITE.relative_to(ROOT)}: run `make book` (`make test` builds it)"
        if os.environ.get("ATTNBOOK_REQUIRE_SITE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module of tiny steps (``pytestmark = pytest.mark.usefixtures("one_thread")``).

    On a busy 2-core machine two threads waiting for each other are many times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The built site served on a loopback port, for a module of browser tests."""
    from bookext.browser import serve

    with serve(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium (quiet, offline flags) for a module of browser tests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from bookext.browser import launch_chromium

    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()
