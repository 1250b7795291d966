"""The shared socket client (web/static/shared/socket.js) in Chromium, against a scripted socket endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute

from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

WAIT_MS = scaled(10) * 1000
# Longer than the longest wait before a second attempt (three times the 500 ms base).
NO_RETRY_MS = scaled(2.5) * 1000

START = """async () => {
  const { LiveSocket } = await import("/static/shared/socket.js");
  window.states = [];
  window.events = [];
  window.since = 7;
  window.live = new LiveSocket({
    url: () => `ws://${location.host}/scripted`,
    since: () => window.since,
    onEvent: (event) => window.events.push(event),
    onState: (state) => window.states.push(state),
  });
  window.live.start();
}"""


@pytest.fixture
def page(browser: Browser, server: ReplyxProcess) -> Iterator[Page]:
    """A page of replyx's origin, so the shared modules import as they do in the front ends."""
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    tab.goto(f"{server.url}/health")
    yield tab
    context.close()


def wait_until(page: Page, condition: Any) -> None:
    """Let the page run until a condition on the test's side holds."""
    waited = 0.0
    while not condition():
        assert waited < WAIT_MS, "condition not met in time"
        page.wait_for_timeout(50)
        waited += 50


def states(page: Page) -> list[dict[str, Any]]:
    """Every state the socket reported, in order."""
    return page.evaluate("window.states")  # type: ignore[no-any-return]


def test_retryable_closes_reconnect_with_since_and_terminal_ones_stop(page: Page) -> None:
    sockets: list[WebSocketRoute] = []
    from_page: list[str] = []

    def scripted(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        ws.on_message(lambda message: from_page.append(str(message)))

    page.route_web_socket(re.compile(r"/scripted"), scripted)
    page.evaluate(START)
    wait_until(page, lambda: len(sockets) == 1)
    assert sockets[0].url.endswith("/scripted?since=7")
    sockets[0].send(json.dumps({"type": "ready", "last_seq": 7}))
    sockets[0].send("__ping__")
    wait_until(page, lambda: "__pong__" in from_page)
    assert page.evaluate("window.live.state") == "live"
    assert page.evaluate("window.events") == [{"type": "ready", "last_seq": 7}]

    # A server restart: back off, then resume after the last seq the caller holds now.
    page.evaluate("window.since = 9")
    sockets[0].close(code=1012, reason="server restarting")
    wait_until(page, lambda: len(sockets) == 2)
    assert sockets[1].url.endswith("/scripted?since=9")
    retrying = [s for s in states(page) if s["state"] == "retrying"]
    assert retrying[0]["code"] == 1012 and retrying[0]["retryIn"] >= 500

    # Forbidden: retrying cannot help, so no further attempt is made.
    sockets[1].close(code=4003, reason="forbidden")
    wait_until(page, lambda: page.evaluate("window.live.state") == "stopped")
    assert states(page)[-1] == {"state": "stopped", "code": 4003}
    page.wait_for_timeout(NO_RETRY_MS)
    assert len(sockets) == 2

    # stop() while a retry is scheduled cancels it.
    page.evaluate("window.live.reconnect()")
    wait_until(page, lambda: len(sockets) == 3)
    sockets[2].close(code=1013, reason="server at capacity")
    wait_until(page, lambda: page.evaluate("window.live.state") == "retrying")
    page.evaluate("window.live.stop()")
    page.wait_for_timeout(NO_RETRY_MS)
    assert len(sockets) == 3
    assert states(page)[-1] == {"state": "idle"}


def test_the_close_codes_module_marks_the_terminal_codes(page: Page) -> None:
    terminal = page.evaluate(
        """async () => {
          const { CLOSE_CODES, isTerminal } = await import("/static/shared/closecodes.js");
          return [...CLOSE_CODES.keys(), 1000, 1006].filter((code) => isTerminal(code));
        }"""
    )
    assert terminal == [1009, 4001, 4003, 4004]


# Four seconds for the __pong__ after a wake, then the next attempt at most 1.5 s later.
WAKE_MS = scaled(8) * 1000


def test_resume_parameters_and_a_page_that_runs_again(page: Page) -> None:
    sockets: list[WebSocketRoute] = []
    from_page: list[str] = []

    def scripted(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        ws.on_message(lambda message: from_page.append(str(message)))

    page.route_web_socket(re.compile(r"/scripted"), scripted)
    page.evaluate("window.position = { since: 41, epoch: 'e1', skipped: null }")
    page.evaluate(START.replace("since: () => window.since,", "resume: () => window.position,"))
    wait_until(page, lambda: len(sockets) == 1)
    assert sockets[0].url.endswith("/scripted?since=41&epoch=e1")
    sockets[-1].send(json.dumps({"type": "ready"}))
    wait_until(page, lambda: page.evaluate("window.live.state") == "live")
    count = len(sockets)

    # A frozen page runs again: its socket must answer a __ping__ at once, and this one does.
    page.evaluate("document.dispatchEvent(new Event('resume'))")
    wait_until(page, lambda: "__ping__" in from_page)
    sockets[-1].send("__pong__")
    page.wait_for_timeout(NO_RETRY_MS)
    assert len(sockets) == count and page.evaluate("window.live.state") == "live"

    # Back online after the network changed: this socket stays silent, so a new one replaces it.
    from_page.clear()
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_until(page, lambda: "__ping__" in from_page)
    waited = 0.0
    while len(sockets) == count:
        assert waited < WAKE_MS, "no new socket after an unanswered wake probe"
        page.wait_for_timeout(100)
        waited += 100
    sockets[-1].send(json.dumps({"type": "ready"}))
    wait_until(page, lambda: page.evaluate("window.live.state") == "live")

    # Leaving the page closes the socket (so the back/forward cache may keep it); coming back reconnects at once.
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))")
    wait_until(page, lambda: page.evaluate("window.live.ws === null"))
    count = len(sockets)
    page.evaluate("window.position = { since: 44, epoch: 'e1' }")
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))")
    wait_until(page, lambda: len(sockets) == count + 1)
    assert sockets[-1].url.endswith("/scripted?since=44&epoch=e1")
