"""Headless Chromium (Debian's) driven by Playwright, shared by the browser tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.browser.support import SocketLoop

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium_path() -> str:
    """Debian's chromium binary, installed by `make test` when missing."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    return path


# Module scope: the sync driver keeps an event loop running while it lives, which would
# stop the asyncio tests of other modules from starting theirs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """The Playwright driver, for one test module."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium per test module; tests open their own contexts."""
    browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def sockets() -> Iterator[SocketLoop]:
    """A loop thread for the module's WebSocket clients, beside the sync browser driver."""
    loop = SocketLoop()
    yield loop
    loop.stop()
