"""A Chromium the test starts itself and drives over the DevTools protocol: the one way to freeze its pages for real.

Chromium freezes only hidden pages. Playwright turns focus emulation on for every page it
creates, which keeps the page visible, so `Page.setWebLifecycleState` on such a page fires
`freeze` and `resume` but leaves its timers and sockets running. The default context of a
browser Playwright attaches to with `no_defaults` has no such emulation: there a DevTools
session can hide a page, freeze it (no script, no timers, no events until it is thawed) and
show it again, as a phone does with a tab in the background.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from playwright.sync_api import Browser, CDPSession, Page, Playwright

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.support.processes import free_port
from tests.support.timing import scaled


class DevToolsChromium:
    """Headless Chromium with a DevTools port on loopback, attached to by Playwright without its defaults."""

    def __init__(self, playwright: Playwright) -> None:
        self.playwright = playwright
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="replyx-chromium-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.browser: Browser | None = None

    def start(self) -> Browser:
        """Start Chromium and attach; new pages of `browser.contexts[0]` can be frozen."""
        args = [chromium_path(), "--headless", *CHROMIUM_ARGS, f"--user-data-dir={self.profile}"]
        args += ["--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={self.port}", "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + scaled(20)
        while self.browser is None:
            try:
                self.browser = self.playwright.chromium.connect_over_cdp(
                    f"http://127.0.0.1:{self.port}", no_defaults=True
                )
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.1)
        return self.browser

    def stop(self) -> None:
        """Detach, stop Chromium and remove its profile."""
        if self.browser is not None:
            with contextlib.suppress(Exception):
                self.browser.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def lifecycle(page: Page) -> CDPSession:
    """The page's own DevTools session, kept on the page, for frozen()."""
    session: CDPSession | None = getattr(page, "_lifecycle_session", None)
    if session is None:
        session = page.context.new_cdp_session(page)
        page._lifecycle_session = session  # type: ignore[attr-defined]
    return session


@contextlib.contextmanager
def frozen(page: Page) -> Iterator[None]:
    """The page hidden and frozen until the block ends, then resumed and shown again, as a tab the user comes back to.

    Focus emulation is what keeps a page visible in headless Chromium: turned off it lets the
    page be hidden (and so frozen), turned on again it shows the page.
    """
    session = lifecycle(page)
    session.send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    session.send("Page.setWebLifecycleState", {"state": "frozen"})
    try:
        yield
    finally:
        session.send("Page.setWebLifecycleState", {"state": "active"})
        session.send("Emulation.setFocusEmulationEnabled", {"enabled": True})


class PageWatch:
    """A page seen through its own DevTools session, which keeps track where Playwright does not.

    After a restore from the back/forward cache Playwright no longer lists the page's iframes;
    the DevTools session still finds them, evaluates in them (in an isolated world: same DOM,
    own globals) and reports every WebSocket the page opens and why a page was not cached.
    """

    def __init__(self, page: Page) -> None:
        self.session = page.context.new_cdp_session(page)
        self.sockets: list[str] = []
        self.not_cached: list[dict[str, Any]] = []
        self.session.on("Network.webSocketCreated", lambda event: self.sockets.append(event["url"]))
        self.session.on("Page.backForwardCacheNotUsed", lambda event: self.not_cached.append(event))
        self.session.send("Page.enable")
        self.session.send("Network.enable")

    def evaluate(self, url_part: str, expression: str) -> Any:
        """The value of a script expression in the frame whose URL contains url_part."""
        tree = self.session.send("Page.getFrameTree")["frameTree"]
        frame_id = next(frame["id"] for frame in self._frames(tree) if url_part in frame["url"])
        world = self.session.send("Page.createIsolatedWorld", {"frameId": frame_id, "worldName": "test"})
        answer = self.session.send(
            "Runtime.evaluate",
            {"expression": expression, "contextId": world["executionContextId"], "returnByValue": True},
        )
        assert "exceptionDetails" not in answer, answer
        return answer["result"].get("value")

    def _frames(self, node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node["frame"]
        for child in node.get("childFrames", []):
            yield from self._frames(child)
