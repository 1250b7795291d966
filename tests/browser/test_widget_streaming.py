"""A model's answer grows in the widget while it streams, then becomes the stored message once."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.assistant.fake_model import ANSWER, FakeModel
from tests.browser.support import HostSite
from tests.browser.test_widget import WAIT_MS, host_page, open_widget, send
from tests.support.chat import create_assistant, create_owner
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled


def test_a_streamed_answer_grows_in_a_draft_then_becomes_the_stored_message(browser: Browser, tmp_path: Path) -> None:
    model = FakeModel().start()
    server = ReplyxProcess(
        tmp_path,
        env={
            "REPLYX_LLM_BASE_URL": model.base_url,
            "REPLYX_LLM_MODEL": "gated",
            "REPLYX_LLM_TIMEOUT": str(scaled(20)),
        },
    ).start()
    site = HostSite()
    context = browser.new_context()
    try:
        owner = create_owner(server)
        assistant = create_assistant(server.url, owner, greeting="Hello!")
        page = context.new_page()
        page.goto(site.add(host_page(f"{server.url}/widget.js", site_token=assistant["site_token"])))
        frame = open_widget(page)
        send(frame, "How do I return an item?")
        draft = frame.locator("li.draft .text")
        expect(draft).to_have_text("You can return", timeout=WAIT_MS)
        model.gate.set()
        expect(frame.locator("li.draft")).to_have_count(0, timeout=WAIT_MS)
        answers = frame.locator("li.row.them .text", has_text=ANSWER)
        expect(answers).to_have_count(1, timeout=WAIT_MS)
        expect(frame.locator("li.row.them .text").last).to_have_text(ANSWER)
    finally:
        context.close()
        site.stop()
        server.stop()
        model.stop()
