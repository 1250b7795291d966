"""The operator panel at /admin in headless Chromium, against a real replyx and real sockets."""

from __future__ import annotations

import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, WebSocketRoute, expect

from tests.browser.panel import dialog_item, log_in, new_page, visitor_says
from tests.browser.support import HostSite, SocketLoop
from tests.support.chat import (
    ChatSocket,
    Owner,
    create_assistant,
    create_owner,
    login,
    open_dialog,
    socket_paths,
)
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

T = TypeVar("T")
WAIT_MS = scaled(10) * 1000
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b> & done'


@pytest.fixture(scope="module")
def panel_owner(server: ReplyxProcess) -> Owner:
    """An owner account of its own, so other tests' dialogs never show in this inbox."""
    return create_owner(server, "panel")


@pytest.fixture(scope="module")
def colleague(server: ReplyxProcess, panel_owner: Owner) -> Owner:
    """A second operator of the same owner account."""
    email = f"colleague-{uuid.uuid4().hex[:8]}@example.test"
    password = uuid.uuid4().hex
    server.cli("admin", "add-operator", "--owner", panel_owner.email, "--email", email, "--password", password)
    return login(server.url, email, password)


@pytest.fixture(scope="module")
def shop(server: ReplyxProcess, panel_owner: Owner) -> dict[str, Any]:
    """An assistant of the panel owner."""
    return create_assistant(server.url, panel_owner, name="Corner shop", greeting="Hello! How can I help?")


def test_login_then_visitor_dialog_and_messages_arrive_live(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any], sockets: SocketLoop
) -> None:
    """A new dialog appears in the inbox and its messages in the open view, without a reload."""
    context, page = new_page(browser)
    try:
        page.goto(f"{server.url}/admin")
        page.fill("#login-email", panel_owner.email)
        page.fill("#login-password", "wrong password")
        page.click(".login-card button[type=submit]")
        expect(page.locator(".login-card .form-error")).to_be_visible()
        log_in(page, server, panel_owner)
        page.evaluate("window.__loaded = true")

        visitor = open_dialog(server.url, shop)
        visitor_says(server, visitor, "Where is my order?")
        item = dialog_item(page, visitor.dialog_id)
        expect(item).to_contain_text("Where is my order?")
        expect(item.locator(".unread")).to_be_visible()

        item.click()
        history = page.locator(".history")
        expect(history.locator(".msg-user .msg-body")).to_have_text(["Where is my order?"])
        expect(item.locator(".unread")).to_have_count(0)

        visitor_says(server, visitor, "It has been a week.")
        expect(history.locator(".msg-user .msg-body").last).to_have_text("It has been a week.")
        seqs = [int(s) for s in history.locator(".msg[data-seq]").evaluate_all("els => els.map(e => e.dataset.seq)")]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        expect(item).to_contain_text("It has been a week.")

        site = sockets.connect(server.ws_url + socket_paths(visitor, panel_owner)["site"])
        sockets.run(site.send_json({"type": "typing", "state": "start"}))
        expect(page.locator(".convo .typing")).to_contain_text("typing")
        sockets.run(site.send_json({"type": "typing", "state": "stop"}))
        expect(page.locator(".convo .typing")).to_be_hidden()

        page.fill(".composer-input", "Let me check that for you.")
        page.press(".composer-input", "Enter")
        mine = history.locator(".msg-operator.mine .msg-body")
        expect(mine).to_have_text(["Let me check that for you."])
        expect(page.locator(".pending-list .msg")).to_have_count(0)
        got = sockets.run(_message_with_text(site, "Let me check that for you."))
        assert got["sender"] == "operator"
        expect(page.locator(".convo-state")).to_contain_text("You are handling this conversation")
        assert page.evaluate("window.__loaded") is True
        sockets.run(site.close())
    finally:
        context.close()


async def _message_with_text(sock: ChatSocket, text: str, timeout: float = 10) -> dict[str, Any]:
    while True:
        event = await sock.next(timeout, type="message")
        if event["message"]["text"] == text:
            return event["message"]  # type: ignore[no-any-return]


async def _status(sock: ChatSocket, status: str, timeout: float = 10) -> dict[str, Any]:
    while True:
        event = await sock.next(timeout, type="status")
        if event["status"] == status:
            return event


def test_two_operators_see_takeover_and_reply_live(
    browser: Browser,
    server: ReplyxProcess,
    panel_owner: Owner,
    colleague: Owner,
    shop: dict[str, Any],
    sockets: SocketLoop,
) -> None:
    """One operator takes over and replies; the other operator and the visitor see both live."""
    visitor = open_dialog(server.url, shop)
    visitor_says(server, visitor, "Can a human help me?")
    site = sockets.connect(server.ws_url + socket_paths(visitor, panel_owner)["site"])
    first_ctx, first = new_page(browser)
    second_ctx, second = new_page(browser)
    try:
        log_in(first, server, panel_owner, f"#/inbox/{visitor.dialog_id}")
        log_in(second, server, colleague, f"#/inbox/{visitor.dialog_id}")
        for page in (first, second):
            expect(page.locator(".history .msg-user .msg-body")).to_have_text(["Can a human help me?"])
            expect(page.locator(".convo-actions [data-action=takeover]")).to_be_visible()

        first.click(".convo-actions [data-action=takeover]")
        expect(first.locator(".convo-state")).to_contain_text("You are handling this conversation")
        holder = second.locator(".convo-state .holder")
        expect(holder).to_contain_text("Handled by panel-")
        expect(second.locator(".convo-state .chip")).to_have_text("Operator")
        expect(dialog_item(second, visitor.dialog_id).locator(".chip")).to_have_text("Operator")
        expect(second.locator(".convo-actions [data-action=takeover]")).to_have_attribute(
            "title", re.compile("^Take over from panel-")
        )
        expect(second.locator(".convo-actions [data-action=release]")).to_be_visible()
        status = sockets.run(_status(site, "operator"))
        assert status["operator"]["name"].startswith("panel-")

        first.fill(".composer-input", "Hi, I am here to help.")
        first.press(".composer-input", "Enter")
        expect(second.locator(".history .msg-operator .msg-body").last).to_have_text("Hi, I am here to help.")
        expect(second.locator(".history .msg-operator").last).not_to_have_class("mine")
        reply = sockets.run(_message_with_text(site, "Hi, I am here to help."))
        assert reply["sender"] == "operator"

        second.click(".convo-actions [data-action=release]")
        expect(first.locator(".convo-state .chip")).to_have_text("Assistant")
        sockets.run(_status(site, "ai"))
        first.click(".convo-actions [data-action=close]")
        expect(second.locator(".convo-state .chip")).to_have_text("Closed")
        expect(second.locator(".composer-input")).to_be_disabled()
        sockets.run(_status(site, "closed"))
        texts = [m["text"] for m in site.received_messages()]
        assert texts.count("Hi, I am here to help.") == 1
    finally:
        sockets.run(site.close())
        first_ctx.close()
        second_ctx.close()


def test_visitor_html_is_shown_as_text_and_never_runs(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any]
) -> None:
    """Stored XSS: HTML and script from a visitor appear literally in the preview and the dialog."""
    context, page = new_page(browser)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    try:
        log_in(page, server, panel_owner)
        visitor = open_dialog(server.url, shop)
        visitor_says(server, visitor, XSS)
        item = dialog_item(page, visitor.dialog_id)
        expect(item.locator(".preview-text")).to_have_text(XSS)
        item.click()
        expect(page.locator(".history .msg-user .msg-body")).to_have_text([XSS])
        page.reload()
        expect(page.locator(".history .msg-user .msg-body")).to_have_text([XSS])
        expect(dialog_item(page, visitor.dialog_id).locator(".preview-text")).to_have_text(XSS)
        assert page.locator(".history img, .history script, .history b, .dialog-list img, .dialog-list b").count() == 0
        assert page.evaluate("window.__xss") is None
        assert alerts == []
    finally:
        context.close()


def test_assistant_created_in_panel_embeds_a_working_widget(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner
) -> None:
    """Create an assistant with a domain and FAQ; its copied snippet opens a working widget."""
    context, page = new_page(browser)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    shop_site = HostSite()
    try:
        log_in(page, server, panel_owner, "#/assistants/new")
        page.fill("#a-name", "Parcel help")
        page.fill("#a-greeting", "Hi! Ask me about parcels.")
        page.fill("#a-domains", f"http://{shop_site.domain}/")
        page.press("#a-domains", "Enter")
        expect(page.locator(f'.chip-domain[data-domain="{shop_site.domain}"]')).to_be_visible()
        page.click("[data-action=add-faq]")
        page.locator(".faq-q").last.fill("How long does parcel delivery take?")
        page.locator(".faq-a").last.fill("Parcels arrive within three working days.")
        page.click("[data-action=save]")
        expect(page).to_have_url(_assistant_url_re(server))
        assistant_id = int(page.url.rsplit("/", 1)[1])
        code = page.locator(".embed-code")
        expect(code).to_contain_text("data-site-token")

        page.click("[data-action=copy-embed]")
        expect(page.locator("[data-action=copy-embed]")).to_contain_text("Copied")
        snippet = page.evaluate("navigator.clipboard.readText()")
        assert snippet == code.text_content()
        assert "/widget.js" in snippet

        stored = httpx.get(f"{server.url}/api/assistants/{assistant_id}", headers=panel_owner.headers).json()
        assert stored["allowed_domains"] == [shop_site.domain]
        assert stored["faq"] == [
            {"question": "How long does parcel delivery take?", "answer": "Parcels arrive within three working days."}
        ]

        site_ctx = browser.new_context(viewport=DESKTOP)
        try:
            site_page = site_ctx.new_page()
            site_page.set_default_timeout(WAIT_MS)
            site_page.goto(shop_site.add(f"<!doctype html><title>Shop</title><h1>Shop</h1>{snippet}"))
            site_page.locator(".launcher").click()
            chat = site_page.frame_locator("iframe")
            expect(chat.locator("#messages")).to_contain_text("Hi! Ask me about parcels.")
            chat.locator("#input").fill("How long does parcel delivery take?")
            chat.locator("#input").press("Enter")
            expect(chat.locator("#messages")).to_contain_text("three working days")
        finally:
            site_ctx.close()

        page.click("[data-nav=inbox]")
        page.click(".filter[data-filter=active]")
        expect(page.locator(".dialog-list")).to_contain_text("three working days")
    finally:
        shop_site.stop()
        context.close()


def _assistant_url_re(server: ReplyxProcess) -> Any:
    return re.compile(re.escape(f"{server.url}/admin#/assistants/") + r"\d+$")


def test_connections_page_counts_rise_and_drop(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any], sockets: SocketLoop
) -> None:
    """Sockets opened by the test show per pool on their dialog's row and leave when closed."""
    visitor = open_dialog(server.url, shop)
    paths = socket_paths(visitor, panel_owner)
    context, page = new_page(browser)
    opened: list[ChatSocket] = []
    try:
        log_in(page, server, panel_owner, "#/connections")
        row = page.locator(f'tr[data-dialog="{visitor.dialog_id}"]')
        expect(page.locator(".stat-card[data-stat=inbox] .stat-value")).not_to_have_text("0")
        expect(row).to_have_count(0)

        opened += [sockets.connect(server.ws_url + paths["site"]) for _ in range(2)]
        opened.append(sockets.connect(server.ws_url + paths["widget"]))
        opened.append(sockets.connect(server.ws_url + paths["admin"]))
        expect(row.locator("[data-pool=site]")).to_have_text("2")
        expect(row.locator("[data-pool=widget]")).to_have_text("1")
        expect(row.locator("[data-pool=admin]")).to_have_text("1")
        expect(row.locator("[data-pool=total]")).to_have_text("4")
        expect(row).to_contain_text("online")

        sockets.run(opened.pop(0).close())
        expect(row.locator("[data-pool=site]")).to_have_text("1")
        expect(row.locator("[data-pool=total]")).to_have_text("3")
        sockets.run(opened.pop(0).close())
        sockets.run(opened.pop(0).close())
        expect(row.locator("[data-pool=total]")).to_have_text("1")
        expect(row).to_contain_text("offline")
        sockets.run(opened.pop(0).close())
        expect(row).to_have_count(0)
    finally:
        for sock in opened:
            sockets.run(sock.close())
        context.close()


def test_expired_session_returns_to_login_and_keeps_the_draft(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any]
) -> None:
    """A 401 shows the login form; after logging in the dialog and its unsent draft are back."""
    visitor = open_dialog(server.url, shop)
    visitor_says(server, visitor, "Are you open on Sunday?")
    context, page = new_page(browser)
    try:
        log_in(page, server, panel_owner, f"#/inbox/{visitor.dialog_id}")
        # The dialog view settles first (history and status drawn), as a person would see it.
        expect(page.locator(".history .msg-user .msg-body")).to_have_text(["Are you open on Sunday?"])
        expect(page.locator(".convo-actions [data-action=takeover]")).to_be_visible()
        page.fill(".composer-input", "We are open from ten to")
        page.evaluate("sessionStorage.setItem('replyx.token', 'expired.token.value')")
        page.click(".convo-actions [data-action=takeover]")
        expect(page.locator(".login-card .notice")).to_be_visible()
        page.fill("#login-email", panel_owner.email)
        page.fill("#login-password", panel_owner.password)
        page.click(".login-card button[type=submit]")
        expect(page.locator(".composer-input")).to_have_value("We are open from ten to")
        expect(page.locator(".history .msg-user .msg-body")).to_have_text(["Are you open on Sunday?"])
    finally:
        context.close()


def test_reply_sent_while_offline_is_delivered_once_after_reconnect(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any], sockets: SocketLoop
) -> None:
    """A reply typed while the connection is down stays pending, then arrives exactly once."""
    visitor = open_dialog(server.url, shop)
    visitor_says(server, visitor, "Hello?")
    site = sockets.connect(server.ws_url + socket_paths(visitor, panel_owner)["site"])
    context, page = new_page(browser)
    offline = threading.Event()
    routes: list[WebSocketRoute] = []
    urls: list[str] = []
    lost: list[int] = []

    def dialog_socket(ws: WebSocketRoute) -> None:
        urls.append(ws.url)
        if offline.is_set():
            ws.close(code=1013, reason="server at capacity")
            return
        ws.connect_to_server()
        routes.append(ws)

    def replies(route: Route) -> None:
        if offline.is_set():
            route.abort()
        elif not lost:
            lost.append(route.fetch().status)  # stored by the server, but the answer never arrives
            route.fulfill(status=503, json={"detail": "storage is unavailable, retry shortly"})
        else:
            route.continue_()

    try:
        page.route_web_socket(re.compile(rf"/ws/dialogs/{visitor.dialog_id}\b"), dialog_socket)
        page.route(f"{server.url}/api/dialogs/{visitor.dialog_id}/messages", replies)
        log_in(page, server, panel_owner, f"#/inbox/{visitor.dialog_id}")
        expect(page.locator(".history .msg-user .msg-body")).to_have_text(["Hello?"])

        offline.set()
        routes[-1].close(code=1012, reason="server restarting")
        expect(page.locator(".convo-banner")).to_be_visible()
        page.fill(".composer-input", "Sorry for the wait!")
        page.press(".composer-input", "Enter")
        pending = page.locator(".pending-list .msg.pending")
        expect(pending).to_have_count(1)
        page.wait_for_timeout(scaled(1.5) * 1000)
        stored = httpx.get(f"{server.url}/api/dialogs/{visitor.dialog_id}/messages", headers=panel_owner.headers)
        assert "Sorry for the wait!" not in [m["text"] for m in stored.json()["messages"]]

        offline.clear()
        expect(pending).to_have_count(0, timeout=WAIT_MS * 3)
        expect(page.locator(".history .msg-operator.mine .msg-body")).to_have_text(["Sorry for the wait!"])
        expect(page.locator(".convo-banner")).to_be_hidden()
        assert lost == [201]
        assert any("since=" in url and not url.endswith("since=0") for url in urls[1:])
        sockets.run(_message_with_text(site, "Sorry for the wait!"))
        stored = httpx.get(f"{server.url}/api/dialogs/{visitor.dialog_id}/messages", headers=panel_owner.headers)
        assert [m["text"] for m in stored.json()["messages"]].count("Sorry for the wait!") == 1
        page.reload()
        expect(page.locator(".history .msg-operator .msg-body")).to_have_text(["Sorry for the wait!"])
        assert [m["text"] for m in site.received_messages()].count("Sorry for the wait!") == 1
    finally:
        sockets.run(site.close())
        context.close()


def test_heartbeat_is_answered_and_a_seq_gap_is_filled_over_rest(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any]
) -> None:
    """The panel answers `__ping__` with `__pong__`, and fetches a message the socket never delivered."""
    visitor = open_dialog(server.url, shop)
    visitor_says(server, visitor, "First question")
    context, page = new_page(browser)
    from_page: list[str] = []
    sockets_of_page: list[WebSocketRoute] = []
    gap_fetches: list[str] = []

    def dialog_socket(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()
        sockets_of_page.append(ws)

        def to_server(message: str | bytes) -> None:
            from_page.append(str(message))
            upstream.send(message)

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"text":"Lost on the way"' in message:
                return  # the socket loses this event; the next seq reveals the gap
            ws.send(message)

        ws.on_message(to_server)
        upstream.on_message(to_page)

    page.on("request", lambda r: gap_fetches.append(r.url) if "until=" in r.url else None)
    try:
        page.route_web_socket(re.compile(rf"/ws/dialogs/{visitor.dialog_id}\b"), dialog_socket)
        log_in(page, server, panel_owner, f"#/inbox/{visitor.dialog_id}")
        user_bodies = page.locator(".history .msg-user .msg-body")
        expect(user_bodies).to_have_text(["First question"])

        sockets_of_page[-1].send("__ping__")
        _wait_until(lambda: "__pong__" in from_page, page)

        lost = visitor_says(server, visitor, "Lost on the way")
        page.wait_for_timeout(scaled(0.5) * 1000)
        expect(user_bodies).to_have_text(["First question"])
        visitor_says(server, visitor, "Did you get that?")
        expect(user_bodies).to_have_text(["First question", "Lost on the way", "Did you get that?"])
        assert any(f"since={lost['seq'] - 1}" in url and f"until={lost['seq']}" in url for url in gap_fetches)
        seqs = page.locator(".history .msg[data-seq]").evaluate_all("els => els.map(e => Number(e.dataset.seq))")
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        context.close()


def test_notices_are_shown_by_code_in_the_interface_language(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any], artifacts: Path
) -> None:
    """Handoff notices are translated from their code and args; a code the panel does not know shows its text."""
    email = f"anna-{uuid.uuid4().hex[:8]}@example.test"
    password = uuid.uuid4().hex
    server.cli(
        "admin",
        "add-operator",
        "--owner",
        panel_owner.email,
        "--email",
        email,
        "--password",
        password,
        "--name",
        "Анна",
    )
    anna = Owner(email, password, "")
    visitor = open_dialog(server.url, shop)
    visitor_says(server, visitor, "Позовите человека, пожалуйста")
    httpx.post(f"{server.url}/api/site/dialogs/{visitor.dialog_id}/handoff", headers=visitor.headers).raise_for_status()
    context, page = new_page(browser)
    sockets_of_page: list[WebSocketRoute] = []

    def dialog_socket(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        sockets_of_page.append(ws)

    try:
        page.route_web_socket(re.compile(rf"/ws/dialogs/{visitor.dialog_id}\b"), dialog_socket)
        log_in(page, server, anna, f"#/inbox/{visitor.dialog_id}")
        notices = page.locator(".history .msg-system .msg-body")
        expect(notices).to_have_text(["The visitor asked for a human operator."])
        page.click(".rail .lang-switch [data-lang=ru]")
        expect(notices).to_have_text(["Посетитель попросил оператора."])

        page.click(".convo-actions [data-action=takeover]")
        expect(notices.last).to_have_text("Анна подключается к диалогу.")
        page.click(".convo-actions [data-action=release]")
        expect(notices.last).to_have_text("Диалог снова ведёт ассистент.")
        page.click(".convo-actions [data-action=close]")
        expect(notices).to_have_text(
            [
                "Посетитель попросил оператора.",
                "Анна подключается к диалогу.",
                "Диалог снова ведёт ассистент.",
                "Диалог закрыт.",
            ]
        )
        codes = page.locator(".history .msg-system").evaluate_all("els => els.map(e => e.dataset.notice)")
        assert codes == ["human_requested", "operator_joined", "assistant_returned", "conversation_closed"]

        # What a later release may send: a code this panel does not know, and a system line without one.
        stored = httpx.get(f"{server.url}/api/dialogs/{visitor.dialog_id}/messages", headers=panel_owner.headers)
        last_seq = stored.json()["messages"][-1]["seq"]
        for seq, extra in ((last_seq + 1, {"notice": "from_the_future", "args": {"x": 1}}), (last_seq + 2, {})):
            message = {"id": 0, "seq": seq, "sender": "system", "text": f"Fallback line {seq}.", "client_id": None}
            message["created_at"] = stored.json()["messages"][-1]["created_at"]
            event = {"type": "message", "dialog_id": visitor.dialog_id, "message": {**message, **extra}}
            sockets_of_page[-1].send(json.dumps(event))
        expect(notices.last).to_have_text(f"Fallback line {last_seq + 2}.")
        expect(notices.nth(4)).to_have_text(f"Fallback line {last_seq + 1}.")
        page.screenshot(path=str(artifacts / "admin-notices-ru.png"))
    finally:
        context.close()


def test_the_panel_shows_messages_in_seq_order_and_fetches_a_gap_before_a_later_message(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any]
) -> None:
    """A message that arrives early waits in the timeline until the one before it is fetched over REST."""
    visitor = open_dialog(server.url, shop)
    httpx.post(
        f"{server.url}/api/dialogs/{visitor.dialog_id}/takeover", headers=panel_owner.headers
    ).raise_for_status()  # the assistant stays quiet, so only these messages take seqs
    visitor_says(server, visitor, "First")
    context, page = new_page(browser)
    sockets_of_page: list[WebSocketRoute] = []
    held: list[str | bytes] = []
    forwarded: list[str] = []
    gap_requests: list[Route] = []

    def dialog_socket(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()
        sockets_of_page.append(ws)
        ws.on_message(lambda message: upstream.send(message))

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"text":"Second"' in message:
                held.append(message)  # delivered late, after the gap was filled from REST
                return
            forwarded.append(str(message))
            ws.send(message)

        upstream.on_message(to_page)

    try:
        page.route_web_socket(re.compile(rf"/ws/dialogs/{visitor.dialog_id}\b"), dialog_socket)
        gap_url = re.compile(rf"/api/dialogs/{visitor.dialog_id}/messages\?.*until=")
        page.route(gap_url, lambda route: gap_requests.append(route))
        log_in(page, server, panel_owner, f"#/inbox/{visitor.dialog_id}")
        bodies = page.locator(".history .msg-user .msg-body")
        expect(bodies).to_have_text(["First"])

        second = visitor_says(server, visitor, "Second")
        visitor_says(server, visitor, "Third")
        _wait_until(lambda: bool(gap_requests) and any('"text":"Third"' in f for f in forwarded), page)
        assert f"since={second['seq'] - 1}&until={second['seq']}" in gap_requests[0].request.url
        expect(bodies).to_have_text(["First"])  # "Third" waits for the seq before it

        gap_requests[0].continue_()
        expect(bodies).to_have_text(["First", "Second", "Third"])
        sockets_of_page[-1].send(held[0])  # the lost event turns up after all: shown once
        visitor_says(server, visitor, "Fourth")
        expect(bodies).to_have_text(["First", "Second", "Third", "Fourth"])
        seqs = page.locator(".history .msg[data-seq]").evaluate_all("els => els.map(e => Number(e.dataset.seq))")
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        context.close()


def _wait_until(condition: Any, page: Page, timeout_ms: float = WAIT_MS) -> None:
    waited = 0.0
    while not condition():
        assert waited < timeout_ms, "condition not met in time"
        page.wait_for_timeout(100)
        waited += 100


def test_keyboard_only_operator(
    browser: Browser, server: ReplyxProcess, panel_owner: Owner, shop: dict[str, Any]
) -> None:
    """Log in, find a dialog, open it and reply without touching the mouse."""
    visitor = open_dialog(server.url, shop)
    visitor_says(server, visitor, "Keyboard check, anyone?")
    context, page = new_page(browser)
    try:
        page.goto(f"{server.url}/admin")
        expect(page.locator("#login-email")).to_be_focused()
        page.keyboard.type(panel_owner.email)
        page.keyboard.press("Tab")
        page.keyboard.type(panel_owner.password)
        page.keyboard.press("Enter")
        expect(page.locator(".rail")).to_be_visible()
        expect(dialog_item(page, visitor.dialog_id)).to_be_visible()
        page.keyboard.press("/")
        expect(page.locator(".search-input")).to_be_focused()
        page.keyboard.type("Keyboard check")
        expect(page.locator(".dialog-list .dialog-item")).to_have_count(1)
        page.keyboard.press("Alt+ArrowDown")
        expect(page.locator(".composer-input")).to_be_focused()
        page.keyboard.type("Yes, I am here.")
        page.keyboard.press("Enter")
        expect(page.locator(".history .msg-operator.mine .msg-body")).to_have_text(["Yes, I am here."])
        page.keyboard.press("Escape")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement && document.activeElement.tagName")
        assert focused in {"BUTTON", "A", "TEXTAREA", "INPUT"}
    finally:
        context.close()


def test_panel_reconnects_after_a_server_restart_and_catches_up(browser: Browser, tmp_path: Path) -> None:
    """Server down and up again: inbox and dialog reconnect by themselves and show what was missed."""
    own = ReplyxProcess(tmp_path / "restart").start()
    context, page = new_page(browser)
    try:
        owner = create_owner(own, "restart")
        assistant = create_assistant(own.url, owner, name="Night shift")
        visitor = open_dialog(own.url, assistant)
        visitor_says(own, visitor, "Before the restart")
        log_in(page, own, owner, f"#/inbox/{visitor.dialog_id}")
        expect(page.locator(".history .msg-user .msg-body")).to_have_text(["Before the restart"])
        expect(page.locator(".list-pane .live-dot")).to_have_class(_has("live-live"))

        own.stop()
        expect(page.locator(".list-pane .live-dot")).to_have_class(_has("live-retrying"))
        expect(page.locator(".convo-banner")).to_be_visible()
        own.start()
        visitor_says(own, visitor, "After the restart")
        later = open_dialog(own.url, assistant)
        visitor_says(own, later, "A new visitor while you were away")

        expect(page.locator(".history .msg-user .msg-body")).to_have_text(
            ["Before the restart", "After the restart"], timeout=WAIT_MS * 3
        )
        expect(dialog_item(page, later.dialog_id)).to_contain_text("A new visitor", timeout=WAIT_MS * 3)
        expect(page.locator(".list-pane .live-dot")).to_have_class(_has("live-live"))
        expect(page.locator(".convo-banner")).to_be_hidden()
    finally:
        context.close()
        own.stop()


def test_screenshots_of_the_panel(
    browser: Browser,
    server: ReplyxProcess,
    panel_owner: Owner,
    shop: dict[str, Any],
    artifacts: Path,
    sockets: SocketLoop,
) -> None:
    """Inbox, dialog, assistant and connections pages at 1280 px and 768 px, in English and Russian."""
    waiting = open_dialog(server.url, shop)
    visitor_says(server, waiting, "Hi! My parcel says delivered but it is not here.")
    httpx.post(f"{server.url}/api/site/dialogs/{waiting.dialog_id}/handoff", headers=waiting.headers)
    talk = open_dialog(server.url, shop)
    visitor_says(server, talk, "Do you deliver on weekends?\nI am at home only on Saturday.")
    httpx.post(
        f"{server.url}/api/dialogs/{talk.dialog_id}/messages",
        json={"text": "Yes, Saturday delivery is available in the city."},
        headers=panel_owner.headers,
    )
    last = visitor_says(server, talk, "Great, thank you!")
    online = sockets.connect(server.ws_url + socket_paths(talk, panel_owner)["site"])
    sockets.run(online.send_json({"type": "read", "seq": last["seq"]}))
    context, page = new_page(browser)
    try:
        log_in(page, server, panel_owner)
        expect(dialog_item(page, waiting.dialog_id)).to_have_class(_has("status-requested"))
        first = page.locator(".dialog-list .dialog-item").first
        expect(first).to_have_attribute("data-status", "requested")
        page.screenshot(path=str(artifacts / "admin-inbox.png"))
        page.goto(f"{server.url}/admin#/inbox/{talk.dialog_id}")
        expect(page.locator(".history .msg-user")).to_have_count(2)
        expect(page.locator(".history .msg-operator .msg-foot")).to_contain_text("Seen")
        sockets.run(online.send_json({"type": "typing", "state": "start"}))
        expect(page.locator(".convo .typing")).to_be_visible()
        page.screenshot(path=str(artifacts / "admin-dialog.png"))

        page.goto(f"{server.url}/admin#/assistants/{shop['id']}")
        expect(page.locator(".embed-code")).to_contain_text("widget.js")
        page.screenshot(path=str(artifacts / "admin-assistant.png"))
        page.goto(f"{server.url}/admin#/connections")
        expect(page.locator(f'tr[data-dialog="{talk.dialog_id}"] [data-pool=site]')).to_have_text("1")
        page.screenshot(path=str(artifacts / "admin-connections.png"))

        page.set_viewport_size(TABLET)
        page.goto(f"{server.url}/admin#/inbox/{talk.dialog_id}")
        expect(page.locator(".composer-input")).to_be_visible()
        expect(page.locator(".list-pane")).to_be_hidden()
        page.screenshot(path=str(artifacts / "admin-dialog-768.png"))
        assert page.evaluate("document.scrollingElement.scrollWidth") <= TABLET["width"]
        page.click(".back-btn")
        expect(page.locator(".list-pane")).to_be_visible()
        page.screenshot(path=str(artifacts / "admin-inbox-768.png"))

        page.set_viewport_size(DESKTOP)
        page.click(".rail .lang-switch [data-lang=ru]")
        expect(page.locator(".rail [data-nav=inbox]")).to_contain_text("Входящие")
        page.goto(f"{server.url}/admin#/inbox/{waiting.dialog_id}")
        expect(page.locator(".convo-state")).to_contain_text("Ждёт оператора")
        page.screenshot(path=str(artifacts / "admin-dialog-ru.png"))
        page.reload()
        expect(page.locator(".rail [data-nav=inbox]")).to_contain_text("Входящие")
        page.click(".rail .lang-switch [data-lang=en]")
        expect(page.locator(".rail [data-nav=inbox]")).to_contain_text("Inbox")
    finally:
        sockets.run(online.close())
        context.close()
    for name in ("admin-inbox.png", "admin-dialog.png", "admin-assistant.png", "admin-dialog-768.png"):
        assert (artifacts / name).stat().st_size > 10_000


def _has(css_class: str) -> Any:
    return re.compile(rf"(^|\s){re.escape(css_class)}(\s|$)")
