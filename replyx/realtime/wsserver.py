"""uvicorn's websockets-sansio protocol, plus one ASGI extension: writing pre-built frames.

Through plain ASGI every ``websocket.send`` frames the text again and makes one
``write`` system call per socket and event. A server frame is unmasked, so
without compression its bytes are the same for every socket: the hub builds it
once per event (``protocol.text_frame``) and each connection hands its queued
frames to the transport in one write per loop iteration. The extension is
offered only when no WebSocket extension (per-message deflate) was agreed,
because a compressed socket needs frames of its own. docs/performance.md has
the figures behind this.

An idle socket is mostly bookkeeping, so the protocol also swaps uvicorn's
``asyncio.Queue`` and ``asyncio.Event`` (five deques, about 3.8 KB a socket)
for the two small equivalents below, and lets go of the handshake request and
response once the socket is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from replyx.realtime.protocol import FRAMES_EXTENSION


class FrameWriter:
    """Writes pre-built server frames to one socket's transport; never blocks."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: FrameWebSocketProtocol) -> None:
        self._protocol = protocol

    def write(self, data: bytes) -> bool:
        """Write frames; False once the socket is closing (nothing is written then)."""
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected or protocol.transport.is_closing():
            return False
        protocol.transport.write(data)
        return True

    def abort(self) -> None:
        """Drop the connection at once, discarding what is still buffered, the kernel's buffer included."""
        transport = self._protocol.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: the close sends a reset. Otherwise the kernel keeps the orphaned socket and its
            # unsent backlog, probing a client that reads nothing, long after replyx let go of it.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def backlog(self) -> int:
        """Bytes written but not yet taken by the kernel: how far the client lags."""
        return int(self._protocol.transport.get_write_buffer_size())


class ReceiveQueue:
    """The part of ``asyncio.Queue`` uvicorn's protocol uses, for its one reader (the ASGI app)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        """Append an ASGI event and wake the reader."""
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        """The oldest event, waiting for one if there is none."""
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a WebSocket's receive() has one caller at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        # Reading pauses after each message until the app takes it, so the list stays short.
        return self._items.pop(0)

    def empty(self) -> bool:
        """True when no event waits."""
        return not self._items

    def qsize(self) -> int:
        """Events waiting."""
        return len(self._items)


class WritableFlag:
    """The part of ``asyncio.Event`` uvicorn uses for write flow control; waiters only while paused."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] = []

    def set(self) -> None:
        """Writing may go on: wake every waiter."""
        self._set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        """The transport's buffer is full: writers wait."""
        self._set = False

    def is_set(self) -> bool:
        """True while writing may go on."""
        return self._set

    async def wait(self) -> bool:
        """Return at once unless writing is paused."""
        if not self._set:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True


class FrameWebSocketProtocol(WebSocketsSansIOProtocol):
    """The websockets-sansio protocol that offers ``FrameWriter`` to the app in the scope."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lighter stand-ins for uvicorn's asyncio.Queue and asyncio.Event, with only the methods its
        # protocol calls (tests/unit/test_wsserver.py): not subclasses, so typed as what they are not.
        self.queue = ReceiveQueue()  # type: ignore[assignment]
        self.writable = WritableFlag()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        """Accept as uvicorn does; add the extension when frames can be shared."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None and self.handshake_initiated and not self.conn.extensions:
            # The ASGI task is scheduled, not started: it will see the same scope dict.
            scope["extensions"][FRAMES_EXTENSION] = FrameWriter(self)

    async def send(self, message: Any) -> None:
        """Send as uvicorn does; once the handshake is answered its request and response are dropped."""
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # Dropped to save memory on idle sockets; uvicorn reads them only during the handshake.
            self.request = self.response = None  # type: ignore[assignment]
