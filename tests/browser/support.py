"""Helpers of the browser tests: socket clients on a loop thread, and a customer's site on its own origin."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from playwright.sync_api import Page

from tests.support.chat import ChatSocket
from tests.support.timing import scaled

T = TypeVar("T")


class SocketLoop:
    """An asyncio loop in a thread, so sync Playwright tests can hold operator sockets."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(scaled(timeout))

    def connect(self, url: str) -> ChatSocket:
        """Open a heartbeat-answering socket and wait for its `ready`."""

        async def opened() -> ChatSocket:
            sock = await ChatSocket.connect(url)
            await sock.ready()
            return sock

        return self.run(opened())

    def stop(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(scaled(5))


class HostSite:
    """A plain web server on its own port: the customer's site, a different origin from replyx."""

    def __init__(self) -> None:
        pages: dict[str, str] = {}
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        """scheme://host:port of the site."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def domain(self) -> str:
        """The entry that allows this site in an assistant's allowed domains."""
        return f"127.0.0.1:{self.port}"

    def add(self, html_text: str) -> str:
        """Serve a page; returns its URL."""
        path = f"/{uuid.uuid4().hex[:10]}.html"
        self.pages[path] = html_text
        return self.origin + path

    def stop(self) -> None:
        """Shut the server down."""
        self.httpd.shutdown()
        self.httpd.server_close()


def assert_shows_stored(shown: list[dict[str, Any]], stored: list[dict[str, Any]]) -> None:
    """A chat shows every stored message exactly once, in seq order, with its text (notices are translated)."""
    assert [m["seq"] for m in shown] == [m["seq"] for m in stored], (shown, stored)
    for on_screen, message in zip(shown, stored, strict=True):
        if message["sender"] != "system":
            assert on_screen["text"] == message["text"], (on_screen, message)


def eventually(page: Page, condition: Callable[[], T], timeout: float = 10, what: str = "condition") -> T:
    """Let the page run until condition returns something truthy (returned), for at most the scaled timeout.

    The page's wait, not a sleep: Playwright's sync API delivers its events (a new socket, a
    frame) only while it is called.
    """
    deadline = time.monotonic() + scaled(timeout)
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} not met within {scaled(timeout)} s"
        page.wait_for_timeout(100)
    return value
