"""A TCP relay for tests: a flaky network between a client and a server, on a loopback port of its own.

The relay forwards every connection it accepts to the upstream port and can cut every open
connection at once (both sides are reset, as when a phone changes networks: the browser sees
1006, the server a dropped socket), on command or every few seconds on a schedule. It can
also stall the open connections: they stay open but carry nothing more in either direction,
and a close from the server is not passed on, as when a laptop sleeps and the NAT forgets
the connection (no close ever reaches the browser). It runs its own asyncio loop in a
thread, so sync tests (Playwright) and async ones can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from tests.support.timing import scaled

T = TypeVar("T")
# Large enough for a WebSocket frame or an HTTP response in one read.
CHUNK = 65536


class _Link:
    """One relayed connection: the client's side, the server's side, and whether it still carries data."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.stalled = False
        self.websocket = False  # the client asked to upgrade the connection to a WebSocket

    def abort(self) -> None:
        for side in (self.client, self.server):
            side.transport.abort()


class Relay:
    """Accepts on 127.0.0.1:<port> and forwards to 127.0.0.1:<upstream_port>."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.cuts = 0  # how many times every open connection was cut
        self.connections_cut = 0  # how many connections those cuts reset
        self.accepted = 0
        self._open: set[_Link] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="relay", daemon=True)
        self._server: asyncio.Server | None = None
        self._flapping: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The relay's HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Relay:
        """Listen on a free port; returns self."""
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> int:
        """Reset every open connection now; new ones are accepted at once. Returns how many were cut."""
        return self._call(self._cut())

    def stall(self) -> int:
        """Let every open connection go silent, as a dead network path; new ones work. Returns how many."""
        return self._call(self._stall())

    def change_network(self) -> tuple[int, int]:
        """What a phone or laptop changing networks does to the open connections: the browser drops its idle HTTP
        connections itself (cut here), while an open WebSocket dies silently (stalled). Returns (cut, stalled)."""
        return self._call(self._change_network())

    def flap(self, every: tuple[float, float], seed: int | None = None) -> None:
        """Cut every open connection again and again, waiting a random time in ``every`` (seconds) between cuts."""
        self.calm()
        self._flapping = self._call(self._start_flapping(every, random.Random(seed)))

    def calm(self) -> None:
        """Stop the schedule of cuts; open connections stay."""
        if self._flapping is not None:
            self._loop.call_soon_threadsafe(self._flapping.cancel)
            self._flapping = None

    def stop(self) -> None:
        """Stop cutting, close the listener and every connection, and end the loop."""
        self.calm()
        if self._server is not None:
            self._server.close()
            self._call(self._shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(scaled(5))

    async def _shut(self) -> None:
        await self._cut()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(scaled(10))

    async def _start_flapping(self, every: tuple[float, float], rng: random.Random) -> asyncio.Task[None]:
        return asyncio.create_task(self._flap(every, rng))

    async def _flap(self, every: tuple[float, float], rng: random.Random) -> None:
        while True:
            await asyncio.sleep(rng.uniform(*every))
            await self._cut()

    async def _cut(self) -> int:
        victims = list(self._open)
        self._open.clear()
        for link in victims:
            link.abort()
        self.cuts += 1
        self.connections_cut += len(victims)
        return len(victims)

    async def _change_network(self) -> tuple[int, int]:
        sockets = [link for link in self._open if link.websocket]
        others = [link for link in self._open if not link.websocket]
        for link in others:
            self._open.discard(link)
            link.abort()
        for link in sockets:
            link.stalled = True
        return len(others), len(sockets)

    async def _stall(self) -> int:
        live = [link for link in self._open if not link.stalled]
        for link in live:
            link.stalled = True
        return len(live)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._open.add(link)
        from_client = asyncio.create_task(self._pump(link, reader, up_writer))
        pumps = [from_client, asyncio.create_task(self._pump(link, up_reader, writer))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            if link.stalled:
                # A dead path tells the client nothing: it finds out by itself, or closes.
                await from_client
        finally:
            # One side closed (or both were cut): the connection is over for both, and what
            # was already relayed is still delivered.
            self._open.discard(link)
            for task in pumps:
                task.cancel()
            for side in (link.client, link.server):
                side.close()

    @staticmethod
    async def _pump(link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                if writer is link.server and b"upgrade: websocket" in data.lower():
                    link.websocket = True
                if link.stalled:
                    continue
                writer.write(data)
                await writer.drain()
