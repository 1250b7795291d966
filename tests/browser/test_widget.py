"""The visitor's widget in headless Chromium: embedded on a page of another origin, against real replyx servers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.support import HostSite, SocketLoop
from tests.browser.widget import (
    assert_once_in_order,
    chat,
    chat_frame,
    find_dialog,
    host_page,
    open_widget,
    operator_url,
    page_with,
    send,
    stored_texts,
    take_over,
    texts_in_order,
)
from tests.support.chat import Owner, create_assistant, create_owner, login
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

T = TypeVar("T")
WAIT_MS = scaled(10) * 1000
# Reconnect back-off is capped at ~15 s, so recovery gets that plus room.
RECOVERY_MS = scaled(30) * 1000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
XSS = "<img src=x onerror=alert(1)> and <script>alert(2)</script>"


# ---- helpers -----------------------------------------------------------------


class SocketCutter:
    """A TCP relay in front of replyx that can cut every connection and refuse new ones for a while."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = threading.Event()
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The relay's HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self.lock:
            self.open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        """Drop every relayed connection (no close frame) and refuse new ones."""
        self.refusing.set()
        with self.lock:
            victims = list(self.open)
        for sock in victims:
            self._drop(sock)

    def restore(self) -> None:
        """Relay new connections again."""
        self.refusing.clear()

    def close(self) -> None:
        """Stop relaying for good."""
        self.cut()
        self.listener.close()


# ---- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[HostSite]:
    """The customer's site, on a port of its own."""
    host = HostSite()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def widget_owner(server: ReplyxProcess) -> Owner:
    """An owner account of its own, so the dialogs of other tests never mix with these."""
    return create_owner(server, "widget")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (its own localStorage) for each test."""
    ctx = browser.new_context(viewport=DESKTOP, locale="en-US")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab that records every alert/confirm dialog and page error."""
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.errors = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))  # type: ignore[attr-defined]
    yield tab
    assert tab.errors == [], tab.errors  # type: ignore[attr-defined]


# ---- tests ---------------------------------------------------------------------


def test_embedded_widget_reaches_the_operator_and_shows_the_reply(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, sockets: SocketLoop, page: Page
) -> None:
    assistant = create_assistant(
        server.url, widget_owner, name="Corner shop", greeting="Hello! How can we help?", allowed_domains=[site.domain]
    )
    inbox = sockets.connect(f"{server.ws_url}/ws/dialogs?token={widget_owner.token}")
    embed = httpx.get(f"{server.url}/api/assistants/{assistant['id']}/embed-code", headers=widget_owner.headers)
    snippet = embed.json()["embed_code"]
    assert (
        snippet == f'<script src="{server.url}/widget.js" data-site-token="{assistant["site_token"]}" async></script>'
    )
    page.goto(site.add(page_with(snippet)))

    # The page keeps its globals and its CSS; the widget lives in its shadow root.
    expect(page.locator("replyx-widget .launcher")).to_be_visible(timeout=WAIT_MS)
    leaked = page.evaluate(
        "Object.keys(window).filter((k) => !window.__keysBefore.includes(k) && k !== '__keysBefore')"
    )
    assert leaked == ["__sheetsBefore"]
    assert page.evaluate("document.styleSheets.length === window.__sheetsBefore")
    assert page.evaluate("getComputedStyle(document.getElementById('probe')).color") == "rgb(1, 2, 3)"
    launcher_bg = page.evaluate(
        "getComputedStyle(document.querySelector('replyx-widget').shadowRoot.querySelector('.launcher'))"
        ".backgroundColor"
    )
    assert launcher_bg != "rgb(255, 105, 180)"  # the host's hotpink buttons stay out

    frame = open_widget(page)
    expect(frame.locator("#messages")).to_contain_text("Hello! How can we help?")
    question = f"Where is my order? {uuid.uuid4().hex[:6]}"
    send(frame, question)
    expect(frame.locator("li.me .text")).to_have_text([question], timeout=WAIT_MS)
    expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)

    async def visitor_message() -> dict[str, Any]:
        while True:
            event = await inbox.next(timeout=10, type="message")
            if event["message"]["text"] == question:
                return event

    event = sockets.run(visitor_message())
    assert event["message"]["sender"] == "user"
    assert event["message"]["client_id"]
    dialog_id = event["dialog_id"]
    operator = sockets.connect(operator_url(server, widget_owner, dialog_id))
    frame.locator("#input").press_sequentially("One more", delay=20)
    typing = sockets.run(operator.next(timeout=10, type="typing"))
    assert (typing["sender"], typing["state"]) == ("user", "start")
    frame.locator("#input").fill("")
    sockets.run(operator.send_message("It left the warehouse today, see https://example.com/track?id=7."))
    reply = frame.locator("li.them .text", has_text="It left the warehouse today")
    expect(reply).to_be_visible(timeout=WAIT_MS)
    link = reply.locator("a")
    expect(link).to_have_attribute("href", "https://example.com/track?id=7")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(frame.locator("#messages")).to_contain_text("An operator joined")

    # Closing hides the panel but keeps the iframe and its socket: the next answer shows as unread.
    chat_frame(page).evaluate("window.__alive = 'same document'")
    page.locator("replyx-widget .launcher").click()
    expect(page.locator("replyx-widget .panel")).to_be_hidden(timeout=WAIT_MS)
    sockets.run(operator.send_message("Anything else?"))
    badge = page.locator("replyx-widget .badge")
    expect(badge).to_have_text("1", timeout=WAIT_MS)
    expect(badge).to_be_visible()
    expect(page.locator("replyx-widget .preview")).to_contain_text("Anything else?")
    page.locator("replyx-widget .launcher").click()
    expect(badge).to_be_hidden(timeout=WAIT_MS)
    assert chat_frame(page).evaluate("window.__alive") == "same document"

    async def read_by_visitor() -> dict[str, Any]:
        while True:
            event = await operator.next(timeout=10, type="read")
            if event["reader"] == "user" and event["seq"] >= 5:
                return event

    assert sockets.run(read_by_visitor())["seq"] >= 5
    sockets.run(operator.close())
    sockets.run(inbox.close())


def test_dropped_connection_loses_nothing_and_repeats_nothing(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, sockets: SocketLoop, page: Page
) -> None:
    relay = SocketCutter(server.port)
    try:
        assistant = create_assistant(server.url, widget_owner, name="Relay shop", allowed_domains=[site.domain])
        page.goto(site.add(host_page(f"{relay.url}/widget.js", site_token=assistant["site_token"], lang="en")))
        frame = open_widget(page)
        send(frame, "first")
        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
        dialog = find_dialog(server.url, widget_owner, assistant["id"])
        take_over(server.url, widget_owner, dialog["id"])
        operator = sockets.connect(operator_url(server, widget_owner, dialog["id"]))
        expect(frame.locator("#messages")).to_contain_text("An operator joined", timeout=WAIT_MS)
        page.evaluate("window.__alive = 'host'")
        chat_frame(page).evaluate("window.__alive = 'chat'")

        relay.cut()
        expect(frame.locator("#conn")).to_have_text("Reconnecting…", timeout=WAIT_MS)
        for i in (1, 2, 3):
            sockets.run(operator.send_message(f"operator {i}"))
        send(frame, "visitor 1")
        send(frame, "visitor 2")
        expect(frame.locator("li.me.pending")).to_have_count(2)
        page.wait_for_timeout(scaled(1) * 1000)
        expect(frame.locator("li.them .text", has_text="operator")).to_have_count(0)

        relay.restore()
        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=RECOVERY_MS)
        expect(frame.locator("li.them .text", has_text="operator")).to_have_count(3, timeout=WAIT_MS)
        expect(frame.locator("#conn")).to_have_text("", timeout=WAIT_MS)
        shown = texts_in_order(frame)
        assert_once_in_order(shown, ["first", "operator 1", "operator 2", "operator 3", "visitor 1", "visitor 2"])
        seqs = [int(s) for s in frame.locator("#messages li").evaluate_all("rows => rows.map(r => r.dataset.seq)")]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        assert page.evaluate("window.__alive") == "host"
        assert chat_frame(page).evaluate("window.__alive") == "chat"

        async def visitor_messages() -> list[str]:
            while [m["text"] for m in operator.received_messages()].count("visitor 2") < 1:
                await operator.next(timeout=10, type="message")
            await asyncio.sleep(scaled(1))
            return [m["text"] for m in operator.received_messages() if m["sender"] == "user"]

        from_visitor = sockets.run(visitor_messages())
        assert from_visitor.count("visitor 1") == 1 and from_visitor.count("visitor 2") == 1
        stored = stored_texts(server.url, widget_owner, dialog["id"])
        assert stored.count("visitor 1") == 1 and stored.count("visitor 2") == 1
        sockets.run(operator.close())
    finally:
        relay.close()


def test_server_restart_with_the_same_database_loses_nothing(
    tmp_path: Path, site: HostSite, sockets: SocketLoop, page: Page
) -> None:
    own = ReplyxProcess(tmp_path / "replyx").start()
    try:
        owner = create_owner(own, "restart")
        assistant = create_assistant(own.url, owner, name="Restart shop", allowed_domains=[site.domain])
        page.goto(site.add(host_page(f"{own.url}/widget.js", site_token=assistant["site_token"], lang="en")))
        frame = open_widget(page)
        send(frame, "before the restart")
        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
        dialog = find_dialog(own.url, owner, assistant["id"])
        take_over(own.url, owner, dialog["id"])
        expect(frame.locator("#messages")).to_contain_text("An operator joined", timeout=WAIT_MS)
        chat_frame(page).evaluate("window.__alive = 'chat'")

        own.stop()
        expect(frame.locator("#conn")).to_have_text("Reconnecting…", timeout=WAIT_MS)
        send(frame, "typed while down 1")
        send(frame, "typed while down 2")
        expect(frame.locator("li.me.pending")).to_have_count(2)
        own.start()
        for i in (1, 2, 3):
            response = httpx.post(
                f"{own.url}/api/dialogs/{dialog['id']}/messages",
                json={"text": f"after restart {i}"},
                headers=owner.headers,
            )
            assert response.status_code == 201

        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=RECOVERY_MS)
        expect(frame.locator("li.them .text", has_text="after restart")).to_have_count(3, timeout=WAIT_MS)
        shown = texts_in_order(frame)
        assert_once_in_order(shown, ["after restart 1", "after restart 2", "after restart 3"])
        assert_once_in_order(shown, ["before the restart", "typed while down 1", "typed while down 2"])
        seqs = [int(s) for s in frame.locator("#messages li").evaluate_all("rows => rows.map(r => r.dataset.seq)")]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        assert chat_frame(page).evaluate("window.__alive") == "chat"
        stored = stored_texts(own.url, owner, dialog["id"])
        assert stored.count("typed while down 1") == 1 and stored.count("typed while down 2") == 1
        assert len(shown) == len(stored) == len(seqs)  # every stored message shown, system notices included
    finally:
        own.stop()


def test_markup_in_messages_is_shown_as_text(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, sockets: SocketLoop, page: Page
) -> None:
    assistant = create_assistant(server.url, widget_owner, name="Careful shop", allowed_domains=[site.domain])
    page.goto(site.add(host_page(f"{server.url}/widget.js", assistant_id=str(assistant["id"]), lang="en")))
    frame = open_widget(page)
    send(frame, XSS)
    expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
    dialog = find_dialog(server.url, widget_owner, assistant["id"])
    operator = sockets.connect(operator_url(server, widget_owner, dialog["id"]))
    sockets.run(operator.send_message(f"Echo: {XSS} javascript:alert(3) <a href=javascript:alert(4)>x</a>"))
    expect(frame.locator("li.them .text", has_text="Echo:")).to_be_visible(timeout=WAIT_MS)
    page.wait_for_timeout(scaled(1) * 1000)

    assert frame.locator("li.me .text").all_inner_texts() == [XSS]
    echo = frame.locator("li.them .text", has_text="Echo:").inner_text()
    assert echo == f"Echo: {XSS} javascript:alert(3) <a href=javascript:alert(4)>x</a>"
    assert frame.locator("#messages img, #messages script").count() == 0
    assert frame.locator("#messages a").count() == 0
    assert page.dialogs == []  # type: ignore[attr-defined]
    sockets.run(operator.close())


def test_reload_resumes_the_same_dialog_with_its_history(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, sockets: SocketLoop, page: Page
) -> None:
    assistant = create_assistant(
        server.url, widget_owner, name="Memory shop", greeting="Welcome back anytime.", allowed_domains=[site.domain]
    )
    url = site.add(host_page(f"{server.url}/widget.js", site_token=assistant["site_token"], lang="en"))
    page.goto(url)
    frame = open_widget(page)
    send(frame, "Do you ship to Riga?")
    expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
    dialog = find_dialog(server.url, widget_owner, assistant["id"])
    operator = sockets.connect(operator_url(server, widget_owner, dialog["id"]))
    sockets.run(operator.send_message("Yes, in 3 days."))
    expect(frame.locator("li.them .text", has_text="Yes, in 3 days.")).to_be_visible(timeout=WAIT_MS)
    before = texts_in_order(frame)

    page.reload()
    frame = open_widget(page)
    expect(frame.locator("li.them .text", has_text="Yes, in 3 days.")).to_be_visible(timeout=WAIT_MS)
    assert texts_in_order(frame) == before
    send(frame, "Great, thanks")
    expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
    assert find_dialog(server.url, widget_owner, assistant["id"])["id"] == dialog["id"]
    assert "Great, thanks" in stored_texts(server.url, widget_owner, dialog["id"])
    sockets.run(operator.close())


def test_a_site_outside_the_allowed_domains_cannot_frame_the_chat(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, page: Page
) -> None:
    allowed = create_assistant(server.url, widget_owner, name="Allowed here", allowed_domains=[site.domain])
    elsewhere = create_assistant(server.url, widget_owner, name="Elsewhere", allowed_domains=["shop.example"])

    response = httpx.get(f"{server.url}/chat-iframe", params={"site_token": elsewhere["site_token"]})
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'self' shop.example *.shop.example" in policy
    assert "script-src 'self'" in policy

    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text) if "frame-ancestors" in message.text else None)
    page.goto(site.add(host_page(f"{server.url}/widget.js", site_token=elsewhere["site_token"], lang="en")))
    page.locator("replyx-widget .launcher").click()
    page.wait_for_timeout(scaled(2) * 1000)
    assert refusals, "Chromium did not report a frame-ancestors violation"
    frame = next(f for f in page.frames if f is not page.main_frame)
    assert "/chat-iframe" not in frame.url or frame.evaluate("document.getElementById('app')") is None
    assert all("/chat-iframe" not in f.url for f in page.frames if f.url.startswith(server.url))

    page.goto(site.add(host_page(f"{server.url}/widget.js", site_token=allowed["site_token"], lang="en")))
    expect(open_widget(page).locator("#app")).to_be_visible()


def test_a_rotated_site_token_stops_the_widget_with_a_clear_message(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, page: Page
) -> None:
    relay = SocketCutter(server.port)
    try:
        assistant = create_assistant(server.url, widget_owner, name="Rotating shop", allowed_domains=[site.domain])
        page.goto(site.add(host_page(f"{relay.url}/widget.js", site_token=assistant["site_token"], lang="en")))
        frame = open_widget(page)
        send(frame, "hello")
        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
        dialog = find_dialog(server.url, widget_owner, assistant["id"])
        relay.cut()
        rotated = httpx.post(
            f"{server.url}/api/assistants/{assistant['id']}/rotate-token", headers=widget_owner.headers
        )
        rotated.raise_for_status()
        relay.restore()
        notice = frame.locator("#notice")
        expect(notice).to_contain_text("access key has changed", timeout=RECOVERY_MS)
        expect(frame.locator("#composer")).to_be_hidden()
        attempts = f"[Site] WebSocket connection attempt for dialog {dialog['id']}"
        count = server.log().count(attempts)
        page.wait_for_timeout(scaled(4) * 1000)
        assert server.log().count(attempts) == count, "the widget kept reconnecting after 4001"
    finally:
        relay.close()


def test_keyboard_aria_and_russian_interface(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, page: Page
) -> None:
    assistant = create_assistant(server.url, widget_owner, name="Лавка", greeting="Здравствуйте!")
    page.goto(site.add(host_page(f"{server.url}/widget.js", site_token=assistant["site_token"], lang="ru")))
    launcher = page.locator("replyx-widget .launcher")
    expect(launcher).to_have_attribute("aria-label", "Открыть чат", timeout=WAIT_MS)
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    frame = chat(page)
    box = frame.locator("#input")
    expect(box).to_be_focused(timeout=WAIT_MS)
    expect(box).to_have_attribute("placeholder", "Напишите сообщение…")
    expect(frame.locator("[role=log]")).to_have_count(1)
    expect(frame.locator("[role=status]").first).to_be_attached()
    expect(frame.locator("#human")).to_have_text("Позвать оператора")
    page.keyboard.type("Привет")
    page.keyboard.press("Enter")
    expect(frame.locator("li.me .text")).to_have_text(["Привет"], timeout=WAIT_MS)
    expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
    frame.locator("#human").click()
    expect(frame.locator("#messages")).to_contain_text("Мы позвали оператора", timeout=WAIT_MS)
    expect(frame.locator("#subtitle")).to_have_text("Ждём оператора…")
    box.press("Escape")
    expect(launcher).to_have_attribute("aria-expanded", "false", timeout=WAIT_MS)
    expect(launcher).to_be_focused()


def test_handoff_notices_show_in_russian_with_the_operators_name(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, page: Page, artifacts: Path
) -> None:
    email = f"anna-{uuid.uuid4().hex[:6]}@example.test"
    password = uuid.uuid4().hex
    server.cli(
        "admin",
        "add-operator",
        "--owner",
        widget_owner.email,
        "--email",
        email,
        "--password",
        password,
        "--name",
        "Анна",
    )
    anna = login(server.url, email, password)
    assistant = create_assistant(server.url, widget_owner, name="Лавка", allowed_domains=[site.domain])
    page.goto(site.add(host_page(f"{server.url}/widget.js", site_token=assistant["site_token"], lang="ru")))
    frame = open_widget(page)
    send(frame, "Здравствуйте")
    expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
    dialog = find_dialog(server.url, widget_owner, assistant["id"])

    take_over(server.url, anna, dialog["id"])
    notices = frame.locator("li.system .pill")
    expect(notices.last).to_have_text("Оператор подключился: Анна", timeout=WAIT_MS)
    expect(frame.locator("#subtitle")).to_have_text("Анна · Поддержка")
    httpx.post(f"{server.url}/api/dialogs/{dialog['id']}/release", headers=anna.headers).raise_for_status()
    expect(notices.last).to_have_text("Ассистент снова в диалоге", timeout=WAIT_MS)

    # After a reload the notices come from the replay, still by code, and the name from its args.
    take_over(server.url, anna, dialog["id"])
    page.reload()
    frame = open_widget(page)
    expect(frame.locator("li.system .pill")).to_have_text(
        ["Оператор подключился: Анна", "Ассистент снова в диалоге", "Оператор подключился: Анна"], timeout=WAIT_MS
    )
    expect(frame.locator("#subtitle")).to_have_text("Анна · Поддержка")
    page.screenshot(path=str(artifacts / "widget-notices-ru.png"))


def test_inline_mode_fills_its_container_in_the_browser_language(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, browser: Browser, artifacts: Path
) -> None:
    assistant = create_assistant(server.url, widget_owner, name="Встроенный чат", greeting="Чем помочь?")
    container = '<div id="support" style="all: unset; display: block; width: 420px; height: 560px"></div>'
    snippet = (
        f'<script src="{server.url}/widget.js" data-site-token="{assistant["site_token"]}" '
        'data-mode="inline" data-target="#support" async></script>'
    )
    context = browser.new_context(viewport=DESKTOP, locale="ru-RU")
    try:
        page = context.new_page()
        page.goto(site.add(page_with(snippet, body=container)))
        frame = chat(page)
        expect(frame.locator("#input")).to_have_attribute("placeholder", "Напишите сообщение…", timeout=WAIT_MS)
        expect(page.locator("replyx-widget .launcher")).to_have_count(0)
        expect(frame.locator("#close")).to_be_hidden()
        box = page.locator("#support replyx-widget .panel").bounding_box()
        assert box is not None and round(box["width"]) == 420 and round(box["height"]) == 560
        send(frame, "Здравствуйте")
        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
        page.screenshot(path=str(artifacts / "widget-inline-ru.png"))
    finally:
        context.close()


def test_a_page_with_a_strict_csp_of_its_own_shows_the_styled_widget(
    server: ReplyxProcess, widget_owner: Owner, site: HostSite, page: Page
) -> None:
    assistant = create_assistant(server.url, widget_owner, name="Strict shop", allowed_domains=[site.domain])
    policy = f"default-src 'none'; script-src {server.url}; frame-src {server.url}"
    strict = f"""<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="{policy}"></head>
<body><p>Strict page</p><script src="{server.url}/widget.js" data-site-token="{assistant["site_token"]}"
data-lang="en" async></script></body></html>"""
    page.goto(site.add(strict))
    launcher = page.locator("replyx-widget .launcher")
    expect(launcher).to_be_visible(timeout=WAIT_MS)
    assert launcher.bounding_box() == pytest.approx(
        {"x": 1280 - 24 - 60, "y": 800 - 24 - 60, "width": 60, "height": 60}
    )
    frame = open_widget(page)
    send(frame, "hello from a strict page")
    expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)


def test_screenshots_desktop_and_phone(
    server: ReplyxProcess, widget_owner: Owner, sockets: SocketLoop, browser: Browser, artifacts: Path
) -> None:
    email = f"anna-{uuid.uuid4().hex[:6]}@example.test"
    password = uuid.uuid4().hex
    server.cli(
        "admin",
        "add-operator",
        "--owner",
        widget_owner.email,
        "--email",
        email,
        "--password",
        password,
        "--name",
        "Anna",
    )
    anna = login(server.url, email, password)
    assistant = create_assistant(
        server.url,
        widget_owner,
        name="Fernwood",
        greeting="Hi! I'm Fernwood's assistant. Ask me about delivery, returns or your order.",
        faq=[{"question": "How long does delivery take?", "answer": "Delivery takes 2-4 working days."}],
    )
    for name, viewport, scale in (("desktop", DESKTOP, 1), ("phone-360", PHONE, 2)):
        context = browser.new_context(viewport=viewport, device_scale_factor=scale, locale="en-US")
        try:
            page = context.new_page()
            page.goto(f"{server.url}/demo?assistant_id={assistant['id']}&lang=en")
            frame = open_widget(page)
            send(frame, "Hi! How long does delivery take to Berlin?")
            expect(frame.locator("li.me.pending")).to_have_count(0, timeout=WAIT_MS)
            dialog = next(
                d
                for d in httpx.get(f"{server.url}/api/dialogs", headers=widget_owner.headers).json()
                if d["assistant_id"] == assistant["id"] and d["status"] != "closed"
            )
            page.wait_for_timeout(scaled(1) * 1000)
            operator = sockets.connect(operator_url(server, anna, dialog["id"]))
            sockets.run(
                operator.send_message(
                    "Hi, I'm Anna from Fernwood. Berlin is 2 days — here's the tracker: https://fernwood.example/track"
                )
            )
            expect(frame.locator("li.them .text", has_text="Anna")).to_be_visible(timeout=WAIT_MS)
            last_seq = httpx.get(f"{server.url}/api/dialogs/{dialog['id']}", headers=anna.headers).json()["last_seq"]
            sockets.run(operator.send_json({"type": "read", "seq": last_seq}))
            sockets.run(operator.send_json({"type": "typing", "state": "start"}))
            expect(frame.locator("#typing")).to_be_visible(timeout=WAIT_MS)
            frame.locator("#input").fill("Perfect, thank you!")
            page.wait_for_timeout(400)
            width = chat_frame(page).evaluate("document.documentElement.scrollWidth <= innerWidth")
            assert width, "the chat scrolls sideways"
            page.screenshot(path=str(artifacts / f"widget-{name}.png"))
            # Closed again: the answer that arrives meanwhile shows on the launcher.
            frame.locator("#close").click()
            sockets.run(operator.send_json({"type": "typing", "state": "stop"}))
            sockets.run(operator.send_message("Anything else I can help with?"))
            expect(page.locator("replyx-widget .badge")).to_have_text("1", timeout=WAIT_MS)
            page.wait_for_timeout(400)
            page.screenshot(path=str(artifacts / f"widget-{name}-closed.png"))
            sockets.run(operator.close())
            httpx.post(f"{server.url}/api/dialogs/{dialog['id']}/close", headers=widget_owner.headers)
        finally:
            context.close()
    assert (artifacts / "widget-desktop.png").stat().st_size > 10_000
    assert (artifacts / "widget-phone-360.png").stat().st_size > 10_000
