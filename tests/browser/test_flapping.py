"""A flapping network in front of a real Chromium: a relay between the browser and the project's nginx cuts every
connection every 2-4 s while the visitor types in the widget and an operator in the panel. Both end with every
message once, in order, as stored, and the panel's inbox list matches the database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.panel import inbox_row, log_in, new_page, shown_history, visitor_says
from tests.browser.support import HostSite, assert_shows_stored, eventually
from tests.browser.widget import find_dialog, host_page, open_widget, send, shown_messages, stored_messages, take_over
from tests.reliability.figures import record
from tests.reliability.profile import pick
from tests.support.chat import Owner, create_assistant, create_owner, open_dialog
from tests.support.processes import ReplyxProcess
from tests.support.relay import Relay
from tests.support.services import Nginx, find_binary
from tests.support.timing import scaled

# How long both sides keep writing through the flapping network: about 2 minutes under
# REPLYX_STRESS=1, enough for a handful of cuts in `make test`.
DURATION_S = pick(25.0, 120.0)
# A cut every 2 to 4 s: most reconnects land between two writes, some in the middle of one.
CUT_EVERY_S = (2.0, 4.0)
# Each side writes about once every 2 s (well under the visitor's 20 messages per 10 s).
WRITE_PAUSE_MS = 2000
# After the last cut: the next attempt comes within 1.5 s, a reply that failed is retried
# within 5 s, and the replay brings the rest.
SETTLE_S = 30.0
WAIT_MS = scaled(10) * 1000


@pytest.fixture
def edge(server: ReplyxProcess, tmp_path: Path) -> Iterator[Relay]:
    """The project's nginx in front of the server, and the relay in front of nginx: what Chromium talks to."""
    binary = find_binary("nginx", "/usr/sbin/nginx")
    if binary is None:
        pytest.skip("nginx is not installed (make test installs it)")
    nginx = Nginx(tmp_path / "nginx", binary, [server.port])
    nginx.check()
    nginx.start()
    relay = Relay(nginx.port).start()
    yield relay
    relay.stop()
    nginx.stop()


@pytest.fixture
def site() -> Iterator[HostSite]:
    """The customer's site."""
    host = HostSite()
    yield host
    host.stop()


def listed(server: ReplyxProcess, owner: Owner) -> dict[int, dict[str, Any]]:
    """The stored dialog list, by id."""
    return {row["id"]: row for row in httpx.get(f"{server.url}/api/dialogs", headers=owner.headers).json()}


def test_a_flapping_network_loses_nothing_and_repeats_nothing(
    browser: Browser, server: ReplyxProcess, edge: Relay, site: HostSite
) -> None:
    owner = create_owner(server, "flapping")
    assistant = create_assistant(server.url, owner, name="Flaky shop", allowed_domains=[site.domain])
    elsewhere = open_dialog(server.url, create_assistant(server.url, owner, name="Quiet shop"))
    take_over(server.url, owner, elsewhere.dialog_id)
    visitor_context = browser.new_context(locale="en-US")
    page = visitor_context.new_page()
    page.set_default_timeout(WAIT_MS)
    panel_context, panel = new_page(browser)
    errors: list[str] = []
    for tab in (page, panel):
        tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(site.add(host_page(f"{edge.url}/widget.js", site_token=assistant["site_token"], lang="en")))
        frame = open_widget(page)
        send(frame, "visitor 0")
        expect(frame.locator("li.me.pending")).to_have_count(0)
        dialog_id = find_dialog(server.url, owner, assistant["id"])["id"]
        take_over(server.url, owner, dialog_id)  # the assistant stays quiet; the operator answers
        log_in(panel, edge, owner, f"#/inbox/{dialog_id}")
        expect(panel.locator(".history .msg-user .msg-body")).to_have_text(["visitor 0"])

        typed = {"visitor": ["visitor 0"], "operator": [], "elsewhere": []}
        edge.flap(CUT_EVERY_S)
        started = time.monotonic()
        while time.monotonic() - started < DURATION_S:
            n = len(typed["operator"]) + 1
            send(frame, f"visitor {n}")
            typed["visitor"].append(f"visitor {n}")
            panel.fill(".composer-input", f"operator {n}")
            panel.press(".composer-input", "Enter")
            typed["operator"].append(f"operator {n}")
            if n % 2 == 0:
                visitor_says(server, elsewhere, f"elsewhere {n // 2}")
                typed["elsewhere"].append(f"elsewhere {n // 2}")
            page.wait_for_timeout(WRITE_PAUSE_MS)
        edge.calm()
        flapped_s = time.monotonic() - started

        expect(frame.locator("li.me.pending")).to_have_count(0, timeout=scaled(SETTLE_S) * 1000)
        expect(panel.locator(".pending-list .msg.pending")).to_have_count(0, timeout=scaled(SETTLE_S) * 1000)
        stored = stored_messages(server.url, owner, dialog_id)
        texts = [m["text"] for m in stored]
        for text in typed["visitor"] + typed["operator"]:
            assert texts.count(text) == 1, (text, texts)
        for side in ("visitor", "operator"):
            mine = [t for t in texts if t in typed[side]]
            assert mine == typed[side], (side, mine)  # each side's messages stored in the order typed

        def widget_caught_up() -> list[dict[str, Any]]:
            shown = shown_messages(frame)
            return shown if len(shown) == len(stored) else []

        def panel_caught_up() -> list[dict[str, Any]]:
            shown = shown_history(panel)
            return shown if len(shown) == len(stored) else []

        assert_shows_stored(eventually(page, widget_caught_up, SETTLE_S, "the widget's history"), stored)
        assert_shows_stored(eventually(panel, panel_caught_up, SETTLE_S, "the panel's history"), stored)

        rows = listed(server, owner)
        other = rows[elsewhere.dialog_id]
        expected = {"preview": other["last_message"]["text"], "unread": other["unread"], "status": other["status"]}
        eventually(panel, lambda: inbox_row(panel, elsewhere.dialog_id) == expected, SETTLE_S, "the inbox row")
        assert other["last_message"]["text"] == typed["elsewhere"][-1]
        open_row = inbox_row(panel, dialog_id)
        assert open_row["preview"] == rows[dialog_id]["last_message"]["text"] == texts[-1]
        assert open_row["status"] == rows[dialog_id]["status"]
        assert errors == []

        figures = {
            "seconds": round(flapped_s, 1),
            "cuts": edge.cuts,
            "connections_cut": edge.connections_cut,
            "connections": edge.accepted,
            "messages_visitor": len(typed["visitor"]),
            "messages_operator": len(typed["operator"]),
            "messages_elsewhere": len(typed["elsewhere"]),
            "stored_in_dialog": len(stored),
        }
        record("browser_flapping", figures)
        print("flapping network:", figures)
    finally:
        visitor_context.close()
        panel_context.close()
