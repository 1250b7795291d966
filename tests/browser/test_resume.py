"""Pages that sleep, in Chromium against a real replyx: frozen (the DevTools lifecycle state), offline, kept in the
back/forward cache. The widget and the panel come back with every message once, in order, as stored."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.browser.devtools import DevToolsChromium, PageWatch, frozen
from tests.browser.panel import dialog_item, inbox_row, log_in, shown_history, visitor_says
from tests.browser.support import HostSite, assert_shows_stored, eventually
from tests.browser.widget import (
    SHOWN_MESSAGES,
    chat_frame,
    find_dialog,
    host_page,
    open_widget,
    send,
    shown_messages,
    stored_messages,
    take_over,
)
from tests.support.chat import Owner, create_assistant, create_owner, open_dialog
from tests.support.processes import ReplyxProcess
from tests.support.relay import Relay
from tests.support.timing import scaled

WAIT_MS = scaled(10) * 1000
# A page that runs again gives its socket 4 s to answer a __ping__, then reconnects after at
# most 1.5 s and is replayed what it missed. Waiting for the next heartbeat instead (30 s of
# silence, 10 s for the answer) would miss this bound by far.
WAKE_RECOVERY_MS = scaled(9) * 1000
RECOVERY_MS = scaled(20) * 1000
# The server closes a socket silent for 3 s (ping 1.5 s + pong 1.5 s).
SLEEPY = {"REPLYX_WS_PING_INTERVAL": "1.5", "REPLYX_WS_PONG_TIMEOUT": "1.5"}
# A page asleep for 1 s finds its socket alive, with what arrived meanwhile queued; one asleep
# for 5 s wakes on another network (Relay.change_network): its socket's path is dead and no
# close ever reaches the page, which must notice by itself. Both ways are tested.
NAPS = {"short": 1.0, "long": 5.0}
# Every document (the host page, the chat iframe, the panel) records the lifecycle events it got.
# The list is mirrored in the DOM, where a DevTools isolated world reads it (PageWatch).
LIFECYCLE = """
window.__lifecycle = [];
const seen = (what) => {
  window.__lifecycle.push(what);
  document.documentElement.dataset.lifecycle = window.__lifecycle.join(" ");
};
for (const type of ["freeze", "resume"]) document.addEventListener(type, () => seen(type));
for (const type of ["online", "offline"]) window.addEventListener(type, () => seen(type));
addEventListener("pageshow", (e) => seen(e.persisted ? "pageshow:restored" : "pageshow"));
addEventListener("pagehide", (e) => seen(e.persisted ? "pagehide:cached" : "pagehide"));
"""


@pytest.fixture(scope="module")
def sleepy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplyxProcess]:
    """A replyx whose heartbeat gives up on a silent socket after 3 s."""
    process = ReplyxProcess(tmp_path_factory.mktemp("sleepy"), env=SLEEPY).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def sleeper(sleepy: ReplyxProcess) -> Owner:
    """The owner account of this module's dialogs."""
    return create_owner(sleepy, "sleeper")


@pytest.fixture(scope="module")
def module_relay(sleepy: ReplyxProcess) -> Iterator[Relay]:
    """A relay in front of the server, for the module."""
    path = Relay(sleepy.port).start()
    yield path
    path.stop()


@pytest.fixture
def relay(module_relay: Relay) -> Iterator[Relay]:
    """The network path between the pages and the server, which a test can let die silently; no stalled
    connection outlives the test (the browser would reuse it for the next page)."""
    yield module_relay
    module_relay.cut()


@pytest.fixture(scope="module")
def site() -> Iterator[HostSite]:
    """The customer's site, on a port of its own."""
    host = HostSite()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def freezable(playwright: Playwright) -> Iterator[BrowserContext]:
    """The context whose pages can be frozen for real (tests/browser/devtools.py)."""
    chromium = DevToolsChromium(playwright)
    browser = chromium.start()
    yield browser.contexts[0]
    chromium.stop()


def open_tab(context: BrowserContext) -> Page:
    """A desktop-sized tab that records lifecycle events (in every frame) and page errors."""
    page = context.new_page()
    page.add_init_script(LIFECYCLE)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.set_default_timeout(WAIT_MS)
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    return page


def visitor_browser(browser: Browser) -> BrowserContext:
    """A visitor's browser profile of its own."""
    return browser.new_context(locale="en-US")


def sockets_opened(page: Page) -> list[str]:
    """The URL of every WebSocket the page (any of its frames) opens from now on."""
    urls: list[str] = []
    page.on("websocket", lambda ws: urls.append(ws.url))
    return urls


def operator_says(server: ReplyxProcess, owner: Owner, dialog_id: int, text: str) -> None:
    """An operator replies over REST."""
    response = httpx.post(
        f"{server.url}/api/dialogs/{dialog_id}/messages",
        json={"text": text, "client_id": uuid.uuid4().hex},
        headers=owner.headers,
    )
    response.raise_for_status()


def listed(server: ReplyxProcess, owner: Owner, dialog_id: int) -> dict[str, Any]:
    """The dialog's summary in the stored dialog list."""
    rows = httpx.get(f"{server.url}/api/dialogs", headers=owner.headers).json()
    return next(row for row in rows if row["id"] == dialog_id)


def widget_with_operator(
    page: Page, server: ReplyxProcess, owner: Owner, site: HostSite, name: str, via: str | None = None
) -> Any:
    """Embed a new assistant's widget (loaded from via, by default the server), write a first message and let an
    operator take the dialog over."""
    assistant = create_assistant(server.url, owner, name=name, allowed_domains=[site.domain])
    widget_js = f"{via or server.url}/widget.js"
    page.goto(site.add(host_page(widget_js, site_token=assistant["site_token"], lang="en")))
    frame = open_widget(page)
    send(frame, "Anyone there?")
    expect(frame.locator("li.me.pending")).to_have_count(0)
    dialog_id = find_dialog(server.url, owner, assistant["id"])["id"]
    take_over(server.url, owner, dialog_id)
    expect(frame.locator("#messages")).to_contain_text("An operator joined")
    return frame, dialog_id


def reconnected_with_since(urls: list[str]) -> list[str]:
    """The dialog sockets among urls that resumed after a seq they already had."""
    return [url for url in urls if "since=" in url and "since=0" not in url]


def test_a_frozen_widget_shows_what_was_posted_meanwhile_once_in_order(
    freezable: BrowserContext, sleepy: ReplyxProcess, sleeper: Owner, site: HostSite, relay: Relay
) -> None:
    page = open_tab(freezable)
    try:
        frame, dialog_id = widget_with_operator(page, sleepy, sleeper, site, "Night shop", via=relay.url)
        for nap, seconds in NAPS.items():
            opened = sockets_opened(page)
            with frozen(page):
                for i in (1, 2, 3):
                    operator_says(sleepy, sleeper, dialog_id, f"{nap} nap {i}")
                if nap == "long":
                    relay.change_network()
                time.sleep(scaled(seconds))
            arrived = frame.locator("li.them .text", has_text=f"{nap} nap")
            expect(arrived).to_have_count(3, timeout=WAKE_RECOVERY_MS)
            assert chat_frame(page).evaluate("window.__lifecycle").count("resume") >= 1
            if nap == "long":
                assert reconnected_with_since(opened), opened
        send(frame, "Thanks, got them all")
        expect(frame.locator("li.me.pending")).to_have_count(0)
        assert_shows_stored(shown_messages(frame), stored_messages(sleepy.url, sleeper, dialog_id))
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()


def test_a_frozen_panel_shows_what_was_posted_meanwhile_in_the_dialog_and_the_inbox(
    freezable: BrowserContext, sleepy: ReplyxProcess, sleeper: Owner, relay: Relay
) -> None:
    assistant = create_assistant(sleepy.url, sleeper, name="Night desk")
    watched, other = open_dialog(sleepy.url, assistant), open_dialog(sleepy.url, assistant)
    for visitor in (watched, other):
        take_over(sleepy.url, sleeper, visitor.dialog_id)  # the assistant stays quiet
        visitor_says(sleepy, visitor, f"First from {visitor.dialog_id}")
    page = open_tab(freezable)
    try:
        log_in(page, relay, sleeper, f"#/inbox/{watched.dialog_id}")
        expect(page.locator(".history .msg-user .msg-body")).to_have_text([f"First from {watched.dialog_id}"])
        expect(dialog_item(page, other.dialog_id)).to_contain_text(f"First from {other.dialog_id}")
        for nap, seconds in NAPS.items():
            opened = sockets_opened(page)
            with frozen(page):
                for i in (1, 2, 3):
                    visitor_says(sleepy, watched, f"{nap} nap {i}")
                for i in (1, 2):
                    visitor_says(sleepy, other, f"{nap} nap elsewhere {i}")
                if nap == "long":
                    relay.change_network()
                time.sleep(scaled(seconds))
            history = page.locator(".history .msg-user .msg-body", has_text=f"{nap} nap")
            expect(history).to_have_count(3, timeout=WAKE_RECOVERY_MS)
            row = dialog_item(page, other.dialog_id)
            expect(row).to_contain_text(f"{nap} nap elsewhere 2", timeout=WAKE_RECOVERY_MS)
            assert page.evaluate("window.__lifecycle").count("resume") >= 1
            if nap == "long":
                assert reconnected_with_since(opened), opened
        assert_shows_stored(shown_history(page), stored_messages(sleepy.url, sleeper, watched.dialog_id))
        stored = listed(sleepy, sleeper, other.dialog_id)
        assert inbox_row(page, other.dialog_id) == {
            "preview": stored["last_message"]["text"],
            "unread": stored["unread"],
            "status": stored["status"],
        }
        assert stored["unread"] >= 5
        assert inbox_row(page, watched.dialog_id)["preview"] == "long nap 3"
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()


def test_offline_while_both_sides_write_then_everything_arrives_once_in_order(
    browser: Browser, sleepy: ReplyxProcess, sleeper: Owner, site: HostSite, relay: Relay
) -> None:
    visitor_context, panel_context = visitor_browser(browser), visitor_browser(browser)
    page, panel = open_tab(visitor_context), open_tab(panel_context)
    try:
        frame, dialog_id = widget_with_operator(page, sleepy, sleeper, site, "Train shop", via=relay.url)
        log_in(panel, relay, sleeper, f"#/inbox/{dialog_id}")
        expect(panel.locator(".history .msg-user .msg-body")).to_have_text(["Anyone there?"])

        # The network goes away, and with it the path the open sockets used: no close reaches them.
        for context in (visitor_context, panel_context):
            context.set_offline(True)
        relay.change_network()
        send(frame, "visitor offline 1")
        for text in ("operator offline 1", "operator offline 2"):
            panel.fill(".composer-input", text)
            panel.press(".composer-input", "Enter")
        send(frame, "visitor offline 2")
        expect(panel.locator(".pending-list .msg.pending")).to_have_count(2)
        expect(frame.locator("#conn")).to_contain_text("No connection")
        for context in (visitor_context, panel_context):
            context.set_offline(False)

        expect(panel.locator(".pending-list .msg.pending")).to_have_count(0, timeout=WAKE_RECOVERY_MS)
        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAKE_RECOVERY_MS)
        expect(frame.locator("li.them .text", has_text="operator offline")).to_have_count(2, timeout=WAKE_RECOVERY_MS)
        expect(panel.locator(".history .msg-user .msg-body", has_text="visitor offline")).to_have_count(2)
        stored = stored_messages(sleepy.url, sleeper, dialog_id)
        texts = [m["text"] for m in stored]
        for text in ("visitor offline 1", "visitor offline 2", "operator offline 1", "operator offline 2"):
            assert texts.count(text) == 1, texts
        assert texts.index("operator offline 1") < texts.index("operator offline 2")
        assert texts.index("visitor offline 1") < texts.index("visitor offline 2")
        assert_shows_stored(shown_messages(frame), stored)
        assert_shows_stored(shown_history(panel), stored)
        assert "online" in chat_frame(page).evaluate("window.__lifecycle")
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        visitor_context.close()
        panel_context.close()


@pytest.fixture(scope="module")
def caching_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with its back/forward cache, which Playwright turns off by default."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    yield browser
    browser.close()


def test_back_and_forward_the_widget_shows_what_was_posted_while_away(
    caching_browser: Browser, sleepy: ReplyxProcess, sleeper: Owner, site: HostSite
) -> None:
    context = visitor_browser(caching_browser)
    page = open_tab(context)
    watch = PageWatch(page)
    try:
        _, dialog_id = widget_with_operator(page, sleepy, sleeper, site, "Corner shop")
        chat_frame(page).evaluate("window.__alive = 'before leaving'")
        before = len(watch.sockets)
        page.goto(site.add("<!doctype html><title>Elsewhere</title><p>Another page of the shop.</p>"))
        for i in (1, 2, 3):
            operator_says(sleepy, sleeper, dialog_id, f"while away {i}")
        # A page restored from the cache fires no load event: wait for the navigation only.
        page.go_back(wait_until="commit")

        # Playwright loses the iframes of a restored page: the DevTools session reads the chat.
        def chat_shows(text: str) -> list[dict[str, Any]]:
            shown: list[dict[str, Any]] = watch.evaluate("/chat-iframe", SHOWN_MESSAGES)
            return shown if any(text in m["text"] for m in shown) else []

        eventually(page, lambda: chat_shows("while away 3"), RECOVERY_MS / 1000, "the messages posted while away")
        lifecycle = watch.evaluate("/chat-iframe", "document.documentElement.dataset.lifecycle").split()
        assert "pageshow:restored" in lifecycle, f"not restored from the back/forward cache: {watch.not_cached}"
        assert "pagehide:cached" in lifecycle
        assert "pageshow:restored" in page.evaluate("window.__lifecycle")  # the host page, the same document
        assert reconnected_with_since(watch.sockets[before:]), watch.sockets

        operator_says(sleepy, sleeper, dialog_id, "Welcome back")
        shown = eventually(page, lambda: chat_shows("Welcome back"), 10, "a live message after the restore")
        assert_shows_stored(shown, stored_messages(sleepy.url, sleeper, dialog_id))
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
