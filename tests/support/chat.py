"""Clients of a running replyx: REST shortcuts and a WebSocket that answers heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.timing import scaled


@dataclass
class Owner:
    """A logged-in operator of an owner account."""

    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header for REST calls."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Visitor:
    """A guest with an open dialog."""

    dialog_id: int
    guest_id: str
    guest_token: str
    site_token: str
    assistant_id: int

    @property
    def headers(self) -> dict[str, str]:
        """The guest token header of visitor REST calls."""
        return {"X-Guest-Token": self.guest_token}


def create_owner(server: Any, name: str | None = None) -> Owner:
    """A new owner account via the CLI, logged in over REST."""
    email = f"{name or 'op'}-{uuid.uuid4().hex[:8]}@example.test"
    password = uuid.uuid4().hex
    server.cli("admin", "create", "--email", email, "--password", password)
    return login(server.url, email, password)


def login(base_url: str, email: str, password: str) -> Owner:
    """Log in over REST."""
    response = httpx.post(f"{base_url}/api/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return Owner(email, password, response.json()["access_token"])


def create_assistant(base_url: str, owner: Owner, **fields: Any) -> dict[str, Any]:
    """A new assistant of the owner."""
    body = {"name": "Test assistant", **fields}
    response = httpx.post(f"{base_url}/api/assistants", json=body, headers=owner.headers)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def open_dialog(base_url: str, assistant: dict[str, Any], guest_id: str | None = None) -> Visitor:
    """A visitor opens a dialog in site mode."""
    body: dict[str, Any] = {"site_token": assistant["site_token"]}
    if guest_id:
        body["guest_id"] = guest_id
    response = httpx.post(f"{base_url}/api/site/dialogs", json=body)
    response.raise_for_status()
    data = response.json()
    return Visitor(data["dialog_id"], data["guest_id"], data["guest_token"], assistant["site_token"], assistant["id"])


def socket_paths(visitor: Visitor, owner: Owner) -> dict[str, str]:
    """The path and query of every pool's socket for the visitor's dialog."""
    d = visitor.dialog_id
    return {
        "admin": f"/ws/dialogs/{d}?token={owner.token}",
        "site": f"/ws/site/dialogs/{d}?site_token={visitor.site_token}&guest_token={visitor.guest_token}",
        "widget": f"/ws/widget/dialogs/{d}?assistant_id={visitor.assistant_id}&guest_token={visitor.guest_token}",
        "inbox": f"/ws/dialogs?token={owner.token}",
    }


class ChatSocket:
    """A WebSocket client that answers `__ping__`, and collects every event it receives."""

    def __init__(self, ws: ClientConnection, answer_pings: bool = True) -> None:
        self.ws = ws
        self.answer_pings = answer_pings
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.all_events: list[dict[str, Any]] = []
        self.pings = 0
        self.closed: asyncio.Future[tuple[int | None, str]] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, answer_pings: bool = True, **kwargs: Any) -> ChatSocket:
        """Open a socket and start reading."""
        ws = await websockets.connect(url, open_timeout=scaled(10), max_size=None, **kwargs)
        return cls(ws, answer_pings)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if frame == "__ping__":
                    self.pings += 1
                    if self.answer_pings:
                        await self.ws.send("__pong__")
                    continue
                if frame == "__pong__":
                    self.events.put_nowait({"type": "__pong__"})
                    continue
                event = json.loads(frame)
                self.all_events.append(event)
                self.events.put_nowait(event)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.ws.close_code, self.ws.close_reason or ""))

    async def next(self, timeout: float = 5.0, type: str | None = None) -> dict[str, Any]:
        """The next event (of the given type, skipping others)."""
        deadline = asyncio.get_running_loop().time() + scaled(timeout)
        while True:
            left = deadline - asyncio.get_running_loop().time()
            event = await asyncio.wait_for(self.events.get(), timeout=max(left, 0.01))
            if type is None or event["type"] == type:
                return event

    async def ready(self, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the `ready` event; returns it."""
        return await self.next(timeout, type="ready")

    async def messages_until(self, seq: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Collect message payloads until one with this seq has arrived."""
        got: list[dict[str, Any]] = []
        while not got or got[-1]["seq"] < seq:
            event = await self.next(timeout, type="message")
            got.append(event["message"])
        return got

    def received_messages(self) -> list[dict[str, Any]]:
        """Every message payload received so far, in arrival order."""
        return [e["message"] for e in self.all_events if e["type"] == "message"]

    async def send_json(self, payload: dict[str, Any]) -> None:
        """Send one JSON frame."""
        await self.ws.send(json.dumps(payload))

    async def send_message(self, text: str, client_id: str | None = None) -> str:
        """Send a message frame; returns its client_id."""
        client_id = client_id or uuid.uuid4().hex
        await self.send_json({"type": "message", "text": text, "client_id": client_id})
        return client_id

    async def close_code(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close; returns the close code."""
        code, _reason = await asyncio.wait_for(asyncio.shield(self.closed), timeout=scaled(timeout))
        return code

    async def close(self) -> None:
        """Close from the client side."""
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, timeout=scaled(5))

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.ws.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, timeout=scaled(5))
