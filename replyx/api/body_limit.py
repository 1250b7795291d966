"""Request bodies over a size are refused with 413 before they are read, not after they are buffered.

A declared ``Content-Length`` over the limit is answered at once; a body that
comes without one (chunked) is counted as it arrives and refused when it
passes the limit. Either way the application never holds more than the limit.
Paths with a limit of their own (uploads, when they exist) are listed in
``limits``; ``replyx serve`` relies on no proxy for this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# After a 413, how long and how much of the rest of the body is read and dropped before closing.
LINGER_SECONDS = 2.0
LINGER_BYTES = 16 * 1024 * 1024


class BodySizeLimit:
    """ASGI middleware: at most ``max_bytes`` of request body per HTTP request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Refuse a declared oversize body at once; count an undeclared one as it arrives."""
        # A socket is handed straight on, with no frame of this middleware kept for its lifetime.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, receive)
            return
        received = 0
        responded = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not responded:
                    # Answer now and tell the application the client left: it stops reading, and
                    # whatever it answers to that is dropped below.
                    refused = True
                    await self._refuse(send, receive)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal responded
            if refused:
                return
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, send: Send, receive: Receive) -> None:
        body = json.dumps({"detail": f"request body over {self.max_bytes} bytes", "code": "too_large"}).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # The rest of the body is not read: the connection cannot be reused.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        # The answer goes out whole; the response ends only after the linger, since the server
        # stops reading the request once its response has ended.
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await _linger(receive)
        await send({"type": "http.response.body", "body": b""})


async def _linger(receive: Receive) -> None:
    """Read and drop what the client still sends, briefly, before the connection closes.

    Closing a socket with unread data makes the kernel reset it, and a client still sending
    would then lose the 413 it was sent. Dropping a little more costs no memory (as nginx's
    lingering close does); a client that goes on past the bound is cut off.
    """
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while dropped < LINGER_BYTES:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                dropped += len(message.get("body", b""))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
