"""uvicorn's websockets-sansio protocol, plus one ASGI extension: writing pre-built frames.

Through plain ASGI every ``websocket.send`` frames the text again and makes one
``write`` system call per socket and event. A server frame is unmasked, so
without compression its bytes are the same for every socket: the hub builds it
once per event (``protocol.text_frame``) and each connection hands its queued
frames to the transport in one write per loop iteration. The extension is
offered only when no WebSocket extension (per-message deflate) was agreed,
because a compressed socket needs frames of its own. docs/performance.md has
the figures behind this.
"""

from __future__ import annotations

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
        """Drop the connection at once, discarding what is still buffered."""
        self._protocol.transport.abort()

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel: how far the client lags."""
        return int(self._protocol.transport.get_write_buffer_size())


class FrameWebSocketProtocol(WebSocketsSansIOProtocol):
    """The websockets-sansio protocol that offers ``FrameWriter`` to the app in the scope."""

    def handle_connect(self, event: Request) -> None:
        """Accept as uvicorn does; add the extension when frames can be shared."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None and self.handshake_initiated and not self.conn.extensions:
            # The ASGI task is scheduled, not started: it will see the same scope dict.
            scope["extensions"][FRAMES_EXTENSION] = FrameWriter(self)
