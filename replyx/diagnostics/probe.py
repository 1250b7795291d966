"""The doctor's line to a deployment: its HTTP client, its WebSocket URLs and one test dialog.

Every check of ``replyx doctor`` (``diagnostics/checks.py``) talks to the deployment through a
``Probe``; the socket helpers below read frames the way a widget does, answering ``__ping__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus


@dataclass(frozen=True)
class DoctorOptions:
    """What to check and with which credentials."""

    url: str
    site_token: str | None = None
    assistant_id: int | None = None
    token: str | None = None
    hold: float = 0.0
    origin: str | None = None
    sockets: int = 6
    timeout: float = 10.0


@dataclass
class Visitor:
    """The test dialog the doctor opened as a visitor, and how to reach it."""

    dialog_id: int
    path: str
    rest: str
    guest_token: str


def ws_base(url: str) -> str:
    """The WebSocket base of an HTTP(S) URL: wss:// for https, ws:// for http."""
    parts = urlsplit(url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path}"


class Probe:
    """One deployment as the checks see it; an async context manager that closes its HTTP client."""

    def __init__(self, options: DoctorOptions) -> None:
        self.options = options
        self.base = options.url.rstrip("/")
        self.ws = ws_base(self.base)
        self.headers = {"Origin": options.origin} if options.origin else {}
        self.http = httpx.AsyncClient(base_url=self.base, timeout=options.timeout, headers=self.headers)
        # Opened by the round-trip step; the later socket steps reuse it.
        self.visitor: Visitor | None = None

    async def __aenter__(self) -> Probe:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.http.aclose()

    async def open_dialog(self) -> Visitor | None:
        """The test dialog (opened on first call), or None without a site token or assistant id."""
        if self.visitor:
            return self.visitor
        o = self.options
        if o.site_token:
            body: dict[str, Any] = {"site_token": o.site_token}
            mode, query = "site", f"site_token={o.site_token}"
        elif o.assistant_id is not None:
            body = {"assistant_id": o.assistant_id}
            mode, query = "widget", f"assistant_id={o.assistant_id}"
        else:
            return None
        body["guest_id"] = f"doctor-{uuid.uuid4().hex[:16]}"
        response = await self.http.post(f"/api/{mode}/dialogs", json=body)
        response.raise_for_status()
        data = response.json()
        d = data["dialog_id"]
        self.visitor = Visitor(
            d,
            f"/ws/{mode}/dialogs/{d}?{query}&guest_token={data['guest_token']}",
            f"/api/{mode}/dialogs/{d}",
            data["guest_token"],
        )
        return self.visitor

    async def connect(self, path: str) -> ClientConnection:
        """A socket on ``path`` that has received its ``ready`` event."""
        ws = await websockets.connect(
            self.ws + path, open_timeout=self.options.timeout, additional_headers=self.headers
        )
        await until(ws, lambda e: e.get("type") == "ready", self.options.timeout)
        return ws

    async def upgrade(self, path: str) -> tuple[int | None, int | None, str]:
        """(HTTP status, close code, error) of one upgrade attempt on ``path``."""
        try:
            async with websockets.connect(
                self.ws + path, open_timeout=self.options.timeout, additional_headers=self.headers
            ) as ws:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(_drain(ws), timeout=self.options.timeout)
                return 101, ws.close_code, ""
        except InvalidStatus as exc:
            return exc.response.status_code, None, ""
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            return None, None, f"{type(exc).__name__}: {exc}"

    async def node_ids(self) -> set[str]:
        """The node ids of the processes that answer ``/health`` over a dozen requests."""
        nodes: set[str] = set()
        for _ in range(12):
            with contextlib.suppress(httpx.HTTPError, ValueError):
                nodes.add(str((await self.http.get("/health")).json().get("node_id")))
        return nodes


async def _drain(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


async def frames(ws: ClientConnection, timeout: float) -> AsyncIterator[str | bytes]:
    """The socket's frames until the timeout, answering the server's ``__ping__`` on the way."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(ws.recv(), timeout=left)
        except TimeoutError:
            return
        if frame == "__ping__":
            await ws.send("__pong__")
            continue
        yield frame


async def until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any] | None:
    """The first event that matches, or None on timeout."""
    async for frame in frames(ws, timeout):
        if frame != "__pong__":
            event: dict[str, Any] = json.loads(frame)
            if predicate(event):
                return event
    return None


async def arrival(ws: ClientConnection, client_id: str, started: float, timeout: float) -> float | None:
    """Milliseconds until the message with this client_id arrives on the socket, or None."""
    with contextlib.suppress(websockets.ConnectionClosed):
        event = await until(
            ws, lambda e: e.get("type") == "message" and e["message"].get("client_id") == client_id, timeout
        )
        if event is not None:
            return round((time.perf_counter() - started) * 1000, 1)
    return None


async def pong(ws: ClientConnection, timeout: float) -> bool:
    """True when ``__pong__`` arrives in time."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async for frame in frames(ws, timeout):
            if frame == "__pong__":
                return True
    return False


async def idle(ws: ClientConnection, seconds: float) -> int | None:
    """Stay idle (answering pings only); the close code if the socket is cut meanwhile."""
    try:
        async for _frame in frames(ws, seconds):
            pass
    except websockets.ConnectionClosed:
        return ws.close_code or 1006
    return None
