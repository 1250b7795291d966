"""A scripted conversation load and the ledger that proves nothing was lost or shown twice.

Each dialog has a visitor socket and one or two operator sockets. The visitor writes through its
socket (acknowledged by the echo of its own ``client_id``), operators through REST (acknowledged by a
2xx) and now and then through their socket. Sockets reconnect after any retryable close with
``since=<last seq>`` and keep every message frame exactly as received, so a duplicate or a gap shows.
A sender retries an unacknowledged message with the same ``client_id``, as a real client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.chat import Owner, Visitor
from tests.support.timing import scaled

TERMINAL = {4001, 4003, 4004}
# A retried send waits this long for its echo before it is sent again (same client_id).
ECHO_WAIT = 5.0
RETRY_DELAY = 0.3


@dataclass
class Watcher:
    """One socket of a dialog that reconnects with since= and records every message frame it gets."""

    name: str
    url: str
    dialog_id: int
    received: list[dict[str, Any]] = field(default_factory=list)
    closes: Counter[Any] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    readies: int = 0
    fatal: str | None = None
    ws: ClientConnection | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _echo: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _error: asyncio.Future[str] | None = None
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    @property
    def last_seq(self) -> int:
        """The highest seq shown so far."""
        return self.received[-1]["seq"] if self.received else 0

    def start(self) -> None:
        """Connect and keep reconnecting in the background."""
        self._task = asyncio.create_task(self._run(), name=f"watcher-{self.name}")

    async def stop(self) -> None:
        """Close for good."""
        self._stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), scaled(5))
        if self._task is not None:
            self._task.cancel()
            # Bounded: a teardown that waits forever would hang the whole suite.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, scaled(10))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the client vanished)."""
        if self.ws is not None:
            self.ws.transport.abort()

    async def _run(self) -> None:
        delays = (0.1, 0.2, 0.4, 0.8, 1.0)
        attempt = 0
        while not self._stopping:
            readied = self.readies
            try:
                async with websockets.connect(
                    f"{self.url}&since={self.last_seq}", open_timeout=scaled(10), max_size=None, ping_interval=None
                ) as ws:
                    self.ws = ws
                    self.connects += 1
                    await self._read(ws)
                code: Any = ws.close_code
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None) or type(exc).__name__
            finally:
                self.ws = None
                self.connected.clear()
            if self._stopping:
                return
            self.closes[code] += 1
            if code in TERMINAL:
                self.fatal = f"closed with {code}"
                return
            # Jittered backoff, reset after a connection that got as far as `ready`.
            attempt = 0 if self.readies > readied else attempt + 1
            await asyncio.sleep(delays[min(attempt, len(delays) - 1)] * random.uniform(0.5, 1.0))

    async def _read(self, ws: ClientConnection) -> None:
        async for frame in ws:
            if frame == "__ping__":
                await ws.send("__pong__")
                continue
            if frame == "__pong__":
                continue
            event = json.loads(frame)
            kind = event["type"]
            if kind == "message":
                message = event["message"]
                self.received.append(message)
                echo = self._echo.pop(message.get("client_id") or "", None)
                if echo is not None and not echo.done():
                    echo.set_result(None)
            elif kind == "ready":
                self.readies += 1
                self.connected.set()
            elif kind == "error":
                self.errors[event["code"]] += 1
                if self._error is not None and not self._error.done():
                    self._error.set_result(event["code"])

    async def send(self, text: str, client_id: str, deadline: float) -> bool:
        """Send until the echo arrives (True) or the deadline passes; retries keep the client_id."""
        while time.monotonic() < deadline:
            if any(m.get("client_id") == client_id for m in self.received):
                return True  # stored before a drop: the replay brought the echo
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.connected.wait(), max(0.01, deadline - time.monotonic()))
            ws = self.ws
            if ws is None or not self.connected.is_set():
                continue
            echo: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._echo[client_id] = echo
            self._error = asyncio.get_running_loop().create_future()
            try:
                await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
                done, _ = await asyncio.wait({echo, self._error}, timeout=scaled(ECHO_WAIT))
                if echo in done:
                    return True
            except websockets.ConnectionClosed:
                pass
            finally:
                self._echo.pop(client_id, None)
            await asyncio.sleep(RETRY_DELAY)
        return any(m.get("client_id") == client_id for m in self.received)


@dataclass
class Ledger:
    """What senders were told was stored, and what the outage phases saw."""

    acked: dict[int, set[str]] = field(default_factory=dict)
    unacked: int = 0
    statuses: Counter[Any] = field(default_factory=Counter)

    def ack(self, dialog_id: int, client_id: str) -> None:
        """A sender got its acknowledgement (echo or 2xx)."""
        self.acked.setdefault(dialog_id, set()).add(client_id)

    @property
    def acknowledged(self) -> int:
        """How many messages were acknowledged."""
        return sum(len(ids) for ids in self.acked.values())


@dataclass
class Conversation:
    """One dialog under load: a visitor socket, one or two operator sockets and two writers."""

    visitor: Visitor
    watchers: list[Watcher]

    @property
    def visitor_socket(self) -> Watcher:
        """The socket the visitor writes through."""
        return self.watchers[0]


class Load:
    """Conversations writing at a steady rate until paused; every send goes into the ledger."""

    def __init__(self, base_url: str, ws_url: str, owner: Owner, visitors: list[Visitor], interval: float) -> None:
        self.base_url = base_url
        self.owner = owner
        self.interval = interval
        self.ledger = Ledger()
        self.writing = asyncio.Event()
        self.busy = 0
        self.http = httpx.AsyncClient(timeout=scaled(5))
        self.conversations = []
        for n, visitor in enumerate(visitors):
            d = visitor.dialog_id
            site = f"{ws_url}/ws/site/dialogs/{d}?site_token={visitor.site_token}&guest_token={visitor.guest_token}"
            admin = f"{ws_url}/ws/dialogs/{d}?token={owner.token}"
            watchers = [Watcher(f"visitor-{d}", site, d), Watcher(f"operator-{d}", admin, d)]
            if n % 2 == 0:
                watchers.append(Watcher(f"operator2-{d}", admin, d))
            self.conversations.append(Conversation(visitor, watchers))
        self._writers: list[asyncio.Task[None]] = []

    @property
    def watchers(self) -> list[Watcher]:
        """Every socket of the load."""
        return [w for c in self.conversations for w in c.watchers]

    async def start(self) -> None:
        """Connect every socket, then start the writers (paused until ``resume``)."""
        for watcher in self.watchers:
            watcher.start()
        await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in self.watchers)), scaled(60))
        for n, conversation in enumerate(self.conversations):
            self._writers.append(asyncio.create_task(self._visitor_writer(conversation, n)))
            self._writers.append(asyncio.create_task(self._operator_writer(conversation, n)))

    def resume(self) -> None:
        """Let the writers write."""
        self.writing.set()

    async def pause(self) -> None:
        """Stop writing and wait until no send is in flight."""
        self.writing.clear()
        deadline = time.monotonic() + scaled(60)
        while self.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop writers and sockets."""
        for task in self._writers:
            task.cancel()
        for task in self._writers:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, scaled(10))
        await asyncio.gather(*(w.stop() for w in self.watchers))
        await self.http.aclose()

    async def _steady(self, n: int) -> None:
        # Writers start spread over one interval, so the rate is steady rather than in bursts.
        await asyncio.sleep(self.interval * (n % 10) / 10)

    async def _visitor_writer(self, conversation: Conversation, n: int) -> None:
        await self._steady(n)
        for count in itertools.count():
            await self.writing.wait()
            self.busy += 1
            try:
                client_id = uuid.uuid4().hex
                text = f"visitor {conversation.visitor.dialog_id} #{count}"
                ok = await conversation.visitor_socket.send(text, client_id, time.monotonic() + scaled(30))
                self._settle(conversation.visitor.dialog_id, client_id, ok)
            finally:
                self.busy -= 1
            await asyncio.sleep(self.interval)

    async def _operator_writer(self, conversation: Conversation, n: int) -> None:
        await self._steady(n + 5)
        for count in itertools.count():
            await self.writing.wait()
            self.busy += 1
            try:
                client_id = uuid.uuid4().hex
                text = f"operator {conversation.visitor.dialog_id} #{count}"
                deadline = time.monotonic() + scaled(30)
                if count % 4 == 3:
                    ok = await conversation.watchers[1].send(text, client_id, deadline)
                else:
                    ok = await self._post(conversation.visitor.dialog_id, text, client_id, deadline)
                self._settle(conversation.visitor.dialog_id, client_id, ok)
            finally:
                self.busy -= 1
            await asyncio.sleep(self.interval)

    async def _post(self, dialog_id: int, text: str, client_id: str, deadline: float) -> bool:
        url = f"{self.base_url}/api/dialogs/{dialog_id}/messages"
        while time.monotonic() < deadline:
            try:
                response = await self.http.post(
                    url, json={"text": text, "client_id": client_id}, headers=self.owner.headers
                )
                self.ledger.statuses[response.status_code] += 1
                if response.status_code in (200, 201):
                    return True
                if response.status_code == 503:
                    assert response.json().get("code") == "unavailable", response.text
            except httpx.HTTPError as exc:
                self.ledger.statuses[type(exc).__name__] += 1
            await asyncio.sleep(RETRY_DELAY)
        return False

    def _settle(self, dialog_id: int, client_id: str, ok: bool) -> None:
        if ok:
            self.ledger.ack(dialog_id, client_id)
        else:
            self.ledger.unacked += 1
