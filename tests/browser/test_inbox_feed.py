"""The panel's inbox resumes its feed (offset and epoch) against a real replyx: it reads the dialog list once after
`ready`, reconnects with since+epoch without reading it again, reads it on `resync`, and an event it already had
changes nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.browser.panel import dialog_item, inbox_row, log_in, new_page, visitor_says
from tests.browser.support import eventually
from tests.browser.widget import take_over
from tests.support.chat import Owner, create_assistant, create_owner, open_dialog
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

INBOX = re.compile(r"/ws/dialogs(\?|$)")


class InboxTap:
    """The panel's inbox sockets, relayed to the real server with every frame from it recorded."""

    def __init__(self, page: Page) -> None:
        self.routes: list[WebSocketRoute] = []
        self.frames: list[dict[str, Any]] = []
        page.route_web_socket(INBOX, self._relay)

    def _relay(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        self.routes.append(ws)

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("{"):
                self.frames.append(json.loads(message))
            ws.send(message)

        server.on_message(to_page)
        ws.on_message(server.send)

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Frames of one type, in arrival order."""
        return [f for f in self.frames if f.get("type") == kind]


@pytest.fixture
def desk(server: ReplyxProcess) -> Owner:
    """An owner of this test alone."""
    return create_owner(server, "feed")


def test_the_inbox_resumes_its_feed_and_reads_the_list_only_when_told(
    browser: Browser, server: ReplyxProcess, desk: Owner
) -> None:
    assistant = create_assistant(server.url, desk, name="Feed desk")
    visitor = open_dialog(server.url, assistant)
    take_over(server.url, desk, visitor.dialog_id)
    visitor_says(server, visitor, "Before the panel opened")
    context, page = new_page(browser)
    list_reads: list[str] = []
    page.on("request", lambda r: list_reads.append(r.url) if re.search(r"/api/dialogs(\?|$)", r.url) else None)
    tap = InboxTap(page)
    try:
        log_in(page, server, desk)
        row = dialog_item(page, visitor.dialog_id)
        expect(row).to_contain_text("Before the panel opened")
        assert "since=" not in tap.routes[0].url and len(list_reads) == 1
        ready = tap.events("ready")[0]
        assert isinstance(ready["offset"], int) and ready["epoch"]

        visitor_says(server, visitor, "Live one")
        expect(row).to_contain_text("Live one")
        live = tap.events("message")[-1]
        assert list(live)[:2] == ["offset", "epoch"]
        unread = inbox_row(page, visitor.dialog_id)["unread"]

        # The same event again, and an unnumbered copy (as during a broker outage): nothing changes.
        for copy in (live, {k: v for k, v in live.items() if k not in ("offset", "epoch")}):
            tap.routes[-1].send(json.dumps(copy))
        page.wait_for_timeout(scaled(0.3) * 1000)
        assert inbox_row(page, visitor.dialog_id)["unread"] == unread

        # A restart: the panel resumes after the last offset it had, and what it missed is replayed.
        tap.routes[-1].close(code=1012, reason="server restarting")
        visitor_says(server, visitor, "While you were away")
        eventually(page, lambda: len(tap.routes) == 2, 10, "a second inbox socket")
        assert f"since={live['offset']}" in tap.routes[1].url and f"epoch={live['epoch']}" in tap.routes[1].url
        expect(row).to_contain_text("While you were away")
        eventually(page, lambda: len(tap.events("ready")) == 2, 10, "the second ready")
        assert inbox_row(page, visitor.dialog_id)["unread"] == unread + 1
        page.wait_for_timeout(scaled(0.5) * 1000)
        assert len(list_reads) == 1, list_reads

        # A resync: the list is read again, and the panel goes on from the position it names.
        last = tap.events("message")[-1]
        tap.routes[-1].send(json.dumps({"type": "resync", "offset": last["offset"], "epoch": last["epoch"]}))
        eventually(page, lambda: len(list_reads) == 2, 10, "a list read after resync")
        visitor_says(server, visitor, "After the resync")
        expect(row).to_contain_text("After the resync")
        tap.routes[-1].close(code=1012, reason="server restarting")
        eventually(page, lambda: len(tap.routes) == 3, 10, "a third inbox socket")
        assert f"since={tap.events('message')[-1]['offset']}" in tap.routes[2].url
        assert inbox_row(page, visitor.dialog_id)["unread"] == unread + 2
    finally:
        context.close()
