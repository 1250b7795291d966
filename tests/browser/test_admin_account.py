"""The panel's account and abuse controls against a real replyx: logging out ends every session, a password change
keeps this tab and ends the others, blocking a visitor from a dialog and lifting the block, the login form's
throttled message, and the inbox's pages."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.browser.panel import WAIT_MS, dialog_item, log_in, new_page, visitor_says
from tests.browser.support import eventually
from tests.support.chat import Owner, create_assistant, create_owner, login, open_dialog
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

INBOX = re.compile(r"/ws/dialogs(\?|$)")
LIST_PAGE = re.compile(r"/api/dialogs\?limit=(\d+)&offset=(\d+)$")
# The panel's page of the dialog list (admin/inbox-store.js).
PAGE_SIZE = 100


@pytest.fixture
def desk(server: ReplyxProcess) -> Owner:
    """An owner of this test alone: these tests end its sessions and block its visitors."""
    return create_owner(server, "account")


def _token(page: Page) -> str:
    return page.evaluate("sessionStorage.getItem('replyx.token')")  # type: ignore[no-any-return]


def _me(server: ReplyxProcess, token: str) -> int:
    return httpx.get(f"{server.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_logout_ends_every_session_of_the_operator(browser: Browser, server: ReplyxProcess, desk: Owner) -> None:
    """The rail's Log out tells the server: this token answers 401 and another browser is sent to the login form."""
    here, page = new_page(browser)
    there, other = new_page(browser)
    try:
        log_in(page, server, desk)
        log_in(other, server, desk)
        expect(other.locator(".list-pane .live-dot.live-live")).to_be_visible()
        token = _token(page)
        assert _me(server, token) == 200

        page.click(".rail [data-action=logout]")
        expect(page.locator(".login-card .notice-logout")).to_be_visible()
        assert _token(page) is None
        assert _me(server, token) == 401
        # The other browser did nothing: its inbox socket was closed with 4001.
        expect(other.locator(".login-card .notice-expired")).to_contain_text("session has ended")
        assert _token(other) is None
    finally:
        here.close()
        there.close()


def test_password_change_keeps_this_tab_and_ends_the_others(
    browser: Browser, server: ReplyxProcess, desk: Owner, artifacts: Path
) -> None:
    """A wrong current password, a short or mistyped new one are refused in the form; a good change ends the
    other browser's session while this tab's inbox reconnects with the new token and stays live."""
    assistant = create_assistant(server.url, desk, name="Password desk")
    here, page = new_page(browser)
    there, other = new_page(browser)
    try:
        log_in(page, server, desk)
        log_in(other, server, desk)
        expect(other.locator(".list-pane .live-dot.live-live")).to_be_visible()
        old_token = _token(page)
        page.click(".rail [data-nav=account]")
        form = page.locator(".password-form")
        error = form.locator(".form-error")

        form.locator("#pw-current").fill("not my password")
        form.locator("#pw-new").fill("a much better one")
        form.locator("#pw-again").fill("a much better one")
        form.locator("[data-action=change-password]").click()
        expect(error).to_have_text("The current password is not right.")
        form.locator("#pw-current").fill(desk.password)
        form.locator("#pw-new").fill("short")
        form.locator("#pw-again").fill("short")
        form.locator("[data-action=change-password]").click()
        expect(error).to_contain_text("at least 8 characters")
        form.locator("#pw-new").fill("a much better one")
        form.locator("#pw-again").fill("a much better one!")
        form.locator("[data-action=change-password]").click()
        expect(error).to_have_text("The two new passwords are not the same.")
        assert _me(server, old_token) == 200  # nothing was sent yet

        form.locator("#pw-again").fill("a much better one")
        form.locator("[data-action=change-password]").click()
        expect(form.locator(".form-ok")).to_contain_text("Password changed")
        page.screenshot(path=str(artifacts / "admin-account.png"))
        expect(form.locator("#pw-current")).to_have_value("")

        # The other browser is logged out by its socket; this one has a new token and no login form.
        expect(other.locator(".login-card .notice-expired")).to_be_visible()
        new_token = _token(page)
        assert new_token and new_token != old_token
        assert _me(server, old_token) == 401 and _me(server, new_token) == 200
        expect(page.locator(".rail")).to_be_visible()
        assert page.locator(".login-card").count() == 0

        # The inbox went on with the new token: a new visitor shows up live.
        page.click(".rail [data-nav=inbox]")
        visitor = open_dialog(server.url, assistant)
        visitor_says(server, visitor, "After the password change")
        expect(dialog_item(page, visitor.dialog_id)).to_contain_text("After the password change")
        expect(page.locator(".list-pane .live-dot.live-live")).to_be_visible()
        login(server.url, desk.email, "a much better one")
    finally:
        here.close()
        there.close()


def test_block_a_visitor_from_the_dialog_and_unblock_on_the_blocks_page(
    browser: Browser, server: ReplyxProcess, desk: Owner, artifacts: Path
) -> None:
    """Cancel blocks nothing; confirming blocks the guest and its address and closes both of its conversations
    (the same address here); the blocks page lists both, and Unblock lifts each."""
    assistant = create_assistant(server.url, desk, name="Block desk")
    visitor = open_dialog(server.url, assistant)
    visitor_says(server, visitor, "Buy cheap watches!!!")
    same_address = open_dialog(server.url, assistant)
    visitor_says(server, same_address, "Me again, from another tab")
    blocks_url = f"{server.url}/api/blocks"
    context, page = new_page(browser)
    try:
        log_in(page, server, desk, f"#/inbox/{visitor.dialog_id}")
        expect(page.locator(".history .msg-user .msg-body")).to_have_text(["Buy cheap watches!!!"])
        block = page.locator(".details [data-action=block]")

        block.click()
        modal = page.locator("dialog.modal")
        expect(modal).to_contain_text("Block this visitor?")
        expect(modal.locator("[data-answer=cancel]")).to_be_focused()
        page.screenshot(path=str(artifacts / "admin-block-confirm.png"))
        page.keyboard.press("Escape")
        expect(modal).to_have_count(0)
        assert httpx.get(blocks_url, headers=desk.headers).json() == []

        block.click()
        modal.locator("[data-answer=confirm]").click()
        note = page.locator(".details .blocked-note")
        expect(note).to_contain_text("2 conversations closed.")
        expect(page.locator(".convo-state [data-status=closed]")).to_be_visible()
        expect(page.locator(".composer-input")).to_be_disabled()
        page.click(".filters [data-filter=closed]")
        expect(dialog_item(page, visitor.dialog_id)).to_have_attribute("data-status", "closed")
        expect(dialog_item(page, same_address.dialog_id)).to_have_attribute("data-status", "closed")
        page.screenshot(path=str(artifacts / "admin-blocked.png"))
        again = httpx.post(f"{server.url}/api/site/dialogs", json={"site_token": assistant["site_token"]})
        assert again.status_code == 403

        note.locator("a").click()
        rows = page.locator(".blocks-table tbody tr")
        expect(rows).to_have_count(2)
        guest = page.locator('.blocks-table tr[data-kind="guest"]')
        expect(guest).to_have_attribute("data-value", visitor.guest_id)
        expect(guest).to_contain_text("Visitor id")
        expect(page.locator('.blocks-table tr[data-kind="address"]')).to_have_attribute("data-value", "127.0.0.1")
        expect(guest).to_contain_text("You")
        page.screenshot(path=str(artifacts / "admin-blocks.png"))

        guest.locator("[data-action=unblock]").click()
        expect(rows).to_have_count(1)
        page.locator('.blocks-table tr[data-kind="address"] [data-action=unblock]').click()
        expect(page.locator(".blocks-page .list-empty")).to_contain_text("Nobody is blocked")
        assert httpx.get(blocks_url, headers=desk.headers).json() == []
        page.reload()
        expect(page.locator(".blocks-page .list-empty")).to_be_visible()
        open_dialog(server.url, assistant)  # the address may open dialogs again
    finally:
        context.close()


def test_the_login_form_says_how_long_to_wait_after_repeated_failures(browser: Browser, server: ReplyxProcess) -> None:
    """Past the free failures of an account the server answers 429 with Retry-After: the form says so with the
    seconds and keeps its button disabled until then; then the right password logs in."""
    throwaway = create_owner(server, "throttled")
    failures = 0
    while failures < 6:  # the account's 5 free failures, and one more: the next attempt waits 2 s
        answer = httpx.post(f"{server.url}/api/auth/login", json={"email": throwaway.email, "password": "nope"})
        if answer.status_code == 429:
            time.sleep(float(answer.headers["Retry-After"]))  # the server's own wait, not a guess
        else:
            assert answer.status_code == 401
            failures += 1
    context, page = new_page(browser)
    try:
        page.goto(f"{server.url}/admin")
        page.fill("#login-email", throwaway.email)
        page.fill("#login-password", "still wrong")
        submit = page.locator(".login-card button[type=submit]")
        submit.click()
        error = page.locator(".login-card .form-error")
        expect(error).to_have_text(re.compile(r"^Too many failed attempts\. Try again in \d+ seconds?\.$"))
        expect(submit).to_be_disabled()
        expect(submit).to_be_enabled(timeout=scaled(15) * 1000)
        expect(error).to_be_hidden()
        page.fill("#login-password", throwaway.password)
        submit.click()
        expect(page.locator(".rail")).to_be_visible()
    finally:
        context.close()


def test_the_inbox_pages_its_list_and_rereads_the_pages_shown_on_resync(
    browser: Browser, server: ReplyxProcess, desk: Owner
) -> None:
    """With more dialogs than a page, the first page lists the waiting one first and offers Load more; the next
    page completes the list; a `resync` reads both pages again and the list stays whole."""
    assistant = create_assistant(server.url, desk, name="Busy desk")
    waiting = open_dialog(server.url, assistant)
    httpx.post(f"{server.url}/api/site/dialogs/{waiting.dialog_id}/handoff", headers=waiting.headers).raise_for_status()
    with httpx.Client() as client:
        for _ in range(PAGE_SIZE + 4):
            body = {"site_token": assistant["site_token"], "guest_id": uuid.uuid4().hex}
            client.post(f"{server.url}/api/site/dialogs", json=body).raise_for_status()
    total = PAGE_SIZE + 5
    context, page = new_page(browser)
    reads: list[tuple[int, int]] = []

    def seen(url: str) -> None:
        if match := LIST_PAGE.search(url):
            reads.append((int(match[1]), int(match[2])))

    page.on("request", lambda request: seen(request.url))
    sockets: list[WebSocketRoute] = []
    positions: list[dict[str, Any]] = []

    def relay(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()
        sockets.append(ws)

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("{"):
                frame = json.loads(message)
                if isinstance(frame.get("offset"), int):
                    positions.append(frame)
            ws.send(message)

        upstream.on_message(to_page)
        ws.on_message(upstream.send)

    page.route_web_socket(INBOX, relay)
    try:
        log_in(page, server, desk)
        rows = page.locator(".dialog-list .dialog-item")
        expect(rows).to_have_count(PAGE_SIZE)
        expect(rows.first).to_have_attribute("data-dialog-id", str(waiting.dialog_id))
        more = page.locator("[data-action=load-more]")
        expect(more).to_be_visible()
        assert reads == [(PAGE_SIZE, 0)]

        more.click()
        expect(rows).to_have_count(total)
        expect(more).to_be_hidden()
        assert reads == [(PAGE_SIZE, 0), (PAGE_SIZE, PAGE_SIZE)]

        # The server says the feed cannot be replayed: every page shown is read again.
        last = positions[-1]
        sockets[-1].send(json.dumps({"type": "resync", "offset": last["offset"], "epoch": last["epoch"]}))
        eventually(page, lambda: len(reads) == 4, 10, "both pages read again")
        assert reads[2:] == [(PAGE_SIZE, 0), (PAGE_SIZE, PAGE_SIZE)]
        later = open_dialog(server.url, assistant)
        visitor_says(server, later, "Still live after the re-read")
        expect(dialog_item(page, later.dialog_id)).to_contain_text("Still live after the re-read")
        expect(rows).to_have_count(total + 1, timeout=WAIT_MS)
        expect(more).to_be_hidden()
    finally:
        context.close()
