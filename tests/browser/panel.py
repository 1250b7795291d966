"""Driving the operator panel in a test: a fresh page, the login form, a visitor writing over REST, an inbox row."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.chat import Owner, Visitor
from tests.support.processes import ReplyxProcess
from tests.support.relay import Relay
from tests.support.timing import scaled

WAIT_MS = scaled(10) * 1000
DESKTOP = {"width": 1280, "height": 800}


def new_page(
    browser: Browser, viewport: dict[str, int] = DESKTOP, init_script: str | None = None
) -> tuple[BrowserContext, Page]:
    """A fresh browser context (own sessionStorage) and page, running init_script first in every document."""
    context = browser.new_context(viewport=viewport, locale="en-US")
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return context, page


def log_in(page: Page, server: ReplyxProcess | Relay, owner: Owner, route: str = "") -> None:
    """Open the panel (of a server, or through a relay in front of it) and log in through the form."""
    page.goto(f"{server.url}/admin{route}")
    page.fill("#login-email", owner.email)
    page.fill("#login-password", owner.password)
    page.click(".login-card button[type=submit]")
    expect(page.locator(".rail")).to_be_visible(timeout=WAIT_MS)


def visitor_says(server: ReplyxProcess, visitor: Visitor, text: str) -> dict[str, Any]:
    """The visitor sends a message over REST."""
    response = httpx.post(
        f"{server.url}/api/site/dialogs/{visitor.dialog_id}/messages",
        json={"text": text, "client_id": uuid.uuid4().hex},
        headers=visitor.headers,
    )
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def dialog_item(page: Page, dialog_id: int) -> Any:
    """The inbox row of a dialog."""
    return page.locator(f'.dialog-item[data-dialog-id="{dialog_id}"]')


def shown_history(page: Page) -> list[dict[str, Any]]:
    """Every stored message the open dialog shows, top to bottom: seq, sender and text (a notice's translation)."""
    return page.locator(".history .msg[data-seq]").evaluate_all(  # type: ignore[no-any-return]
        """els => els.map((el) => ({
          seq: Number(el.dataset.seq),
          sender: el.dataset.sender || "system",
          text: el.querySelector(".msg-body").innerText,
        }))"""
    )


def inbox_row(page: Page, dialog_id: int) -> dict[str, Any]:
    """What the inbox row of a dialog shows: the preview of its last message and its unread count (0 when none)."""
    return dialog_item(page, dialog_id).evaluate(  # type: ignore[no-any-return]
        """row => ({
          preview: row.querySelector(".preview-text").innerText,
          unread: Number((row.querySelector(".unread") || {}).innerText || 0),
          status: row.dataset.status,
        })"""
    )
