"""The socket protocol without I/O: close codes, heartbeat frames, client frames parsed.

The events the server sends are built in ``replyx.wire``, which the domain shares.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PING = "__ping__"
PONG = "__pong__"

POOLS = ("admin", "site", "widget", "inbox")
LOG_PREFIX = {"admin": "[Admin]", "site": "[Site]", "widget": "[Widget]", "inbox": "[Inbox]"}


@dataclass(frozen=True)
class CloseCode:
    """A close code and whether a client should reconnect after it."""

    code: int
    retryable: bool
    reason: str


HEARTBEAT_TIMEOUT = CloseCode(1001, True, "heartbeat timeout")
FRAME_TOO_LARGE = CloseCode(1009, False, "frame too large")
INTERNAL_ERROR = CloseCode(1011, True, "internal error")
SERVER_RESTARTING = CloseCode(1012, True, "server restarting")
AT_CAPACITY = CloseCode(1013, True, "server at capacity")
UNAUTHORIZED = CloseCode(4001, False, "missing, invalid or expired credential")
FORBIDDEN = CloseCode(4003, False, "forbidden")
NOT_FOUND = CloseCode(4004, False, "dialog not found")
TOO_MANY = CloseCode(4008, True, "too many connections or messages")

CLOSE_CODES = {
    c.code: c
    for c in (
        HEARTBEAT_TIMEOUT,
        FRAME_TOO_LARGE,
        INTERNAL_ERROR,
        SERVER_RESTARTING,
        AT_CAPACITY,
        UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        TOO_MANY,
    )
}


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class MessageFrame(_Frame):
    """The client sends a message."""

    type: Literal["message"]
    text: str
    client_id: str | None = Field(default=None, max_length=64)


class TypingFrame(_Frame):
    """The client starts or stops typing."""

    type: Literal["typing"]
    state: Literal["start", "stop"]


class ReadFrame(_Frame):
    """The client has seen the dialog up to ``seq``."""

    type: Literal["read"]
    seq: int = Field(ge=0, le=2**31)


ClientFrame = Annotated[MessageFrame | TypingFrame | ReadFrame, Field(discriminator="type")]
_client_frame = TypeAdapter(ClientFrame)


class ProtocolError(Exception):
    """A client frame that cannot be understood; answered with an `error` event."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_client_frame(text: str) -> MessageFrame | TypingFrame | ReadFrame:
    """Parse one JSON text frame from a client, or raise ProtocolError."""
    try:
        # One pass in pydantic-core for the frames clients send; a refused frame is parsed again
        # below, step by step, only to say what is wrong with it.
        return _client_frame.validate_json(text)
    except ValidationError:
        pass
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_request", "frame is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError("bad_request", "frame must be a JSON object")
    if data.get("type") not in ("message", "typing", "read"):
        raise ProtocolError("unknown_type", f"unknown frame type: {str(data.get('type'))[:40]!r}")
    try:
        return _client_frame.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        raise ProtocolError("bad_request", f"{where}: {first['msg']}") from exc


# Name of the ASGI extension through which replyx's uvicorn protocol takes pre-built frames
# (replyx/realtime/wsserver.py); other servers simply do not offer it.
FRAMES_EXTENSION = "replyx.frames"


def text_frame(data: str) -> bytes:
    """An unmasked, uncompressed server text frame (RFC 6455 5.2): built once, written to many sockets."""
    payload = data.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload
