"""Driving the embedded widget in a test: a customer's page that embeds it, the chat iframe, the REST side."""

from __future__ import annotations

import html
import threading
from typing import Any

import httpx
from playwright.sync_api import Frame, FrameLocator, Page, expect

from tests.support.chat import Owner
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

WAIT_MS = scaled(10) * 1000


def host_page(widget_src: str, **attrs: str) -> str:
    """A customer's page with opinionated CSS that embeds the widget with one script tag."""
    attributes = " ".join(f'data-{k.replace("_", "-")}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    return page_with(f'<script src="{html.escape(widget_src, quote=True)}" {attributes} async></script>')


def page_with(snippet: str, body: str = "") -> str:
    """A customer's page with opinionated CSS and the given embed snippet pasted before </body>."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A shop</title>
<style>
  body {{ font: 17px Georgia, serif; margin: 40px; background: #fbfaf7; color: #222; }}
  button, div {{ background: hotpink; border: 3px dashed lime; font-size: 30px; }}
  iframe {{ border: 8px solid red; }}
  p#probe {{ color: rgb(1, 2, 3); }}
</style></head>
<body><h1>A shop that knows nothing about replyx</h1><p id="probe">Plain page text.</p>{body}
<script>window.__keysBefore = Object.keys(window); window.__sheetsBefore = document.styleSheets.length;</script>
{snippet}
</body></html>"""


def chat(page: Page) -> FrameLocator:
    """The chat iframe inside the widget's shadow root."""
    return page.frame_locator("replyx-widget iframe")


def chat_frame(page: Page) -> Frame:
    """The chat iframe's Frame, for evaluating script inside it."""
    for frame in page.frames:
        if "/chat-iframe" in frame.url:
            return frame
    raise AssertionError(f"no chat iframe among {[f.url for f in page.frames]}")


def open_widget(page: Page) -> FrameLocator:
    """Click the launcher and wait until the chat is ready for typing."""
    page.locator("replyx-widget .launcher").click()
    frame = chat(page)
    expect(frame.locator("#input")).to_be_visible(timeout=WAIT_MS)
    return frame


def send(frame: FrameLocator, text: str) -> None:
    """Type a message and press Enter, as a visitor does."""
    box = frame.locator("#input")
    box.fill(text)
    box.press("Enter")


def texts_in_order(frame: FrameLocator) -> list[str]:
    """The text of every message row, top to bottom."""
    return frame.locator("#messages li .text, #messages li .pill").all_inner_texts()


def find_dialog(base_url: str, owner: Owner, assistant_id: int) -> dict[str, Any]:
    """The dialog the widget opened with this assistant (waits until it exists)."""
    deadline = scaled(10)
    waited = 0.0
    while waited < deadline:
        rows = httpx.get(f"{base_url}/api/dialogs", headers=owner.headers).json()
        mine = [d for d in rows if d["assistant_id"] == assistant_id]
        if mine:
            assert len(mine) == 1, mine
            return mine[0]
        threading.Event().wait(0.1)
        waited += 0.1
    raise AssertionError("the widget opened no dialog")


def take_over(base_url: str, owner: Owner, dialog_id: int) -> None:
    """The operator takes the dialog, so the assistant stays quiet."""
    httpx.post(f"{base_url}/api/dialogs/{dialog_id}/takeover", headers=owner.headers).raise_for_status()


def operator_url(server: ReplyxProcess, owner: Owner, dialog_id: int, since: int = 0) -> str:
    """The operator's socket of one dialog."""
    return f"{server.ws_url}/ws/dialogs/{dialog_id}?token={owner.token}&since={since}"


def stored_messages(base_url: str, owner: Owner, dialog_id: int) -> list[dict[str, Any]]:
    """Every stored message of the dialog, in seq order, as the operator's REST history gives them."""
    response = httpx.get(f"{base_url}/api/dialogs/{dialog_id}/messages", headers=owner.headers)
    response.raise_for_status()
    body = response.json()
    return body["messages"] if isinstance(body, dict) else body  # type: ignore[no-any-return]


def stored_texts(base_url: str, owner: Owner, dialog_id: int) -> list[str]:
    """Every stored message text of the dialog, in seq order."""
    return [m["text"] for m in stored_messages(base_url, owner, dialog_id)]


# Every stored message the chat shows, top to bottom: seq, sender and text (a notice's translation).
SHOWN_MESSAGES = """[...document.querySelectorAll("#messages li[data-seq]:not(.placeholder)")].map((row) => ({
  seq: Number(row.dataset.seq),
  sender: row.dataset.sender,
  text: (row.querySelector(".text, .pill") || row).innerText,
}))"""


def shown_messages(frame: FrameLocator) -> list[dict[str, Any]]:
    """Every stored message the chat shows (SHOWN_MESSAGES)."""
    return frame.locator("#messages").evaluate(f"() => {SHOWN_MESSAGES}")  # type: ignore[no-any-return]


def assert_once_in_order(shown: list[str], expected: list[str]) -> None:
    """Each expected text appears exactly once, and in the given relative order."""
    for text in expected:
        assert shown.count(text) == 1, (text, shown)
    positions = [shown.index(text) for text in expected]
    assert positions == sorted(positions), shown
