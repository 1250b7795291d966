"""The wire protocol without I/O: close codes, client frames parsed, server events built."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_json

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


def encode(event: dict[str, Any]) -> str:
    """Serialize an event once (compact UTF-8 JSON); the same string goes to every socket."""
    try:
        # pydantic-core's serializer: the same text as json.dumps(ensure_ascii=False, compact
        # separators) for the dicts, strings and numbers events hold, several times faster.
        return to_json(event).decode()
    except PydanticSerializationError:
        # A lone surrogate (say, echoed in an error's detail) is not UTF-8: escape it as JSON allows.
        return json.dumps(event, separators=(",", ":"))


class EventText(str):
    """An event's JSON text that still carries the event it was encoded from.

    Through the in-memory broker the hub of the same process takes the event as it is instead of
    parsing the text back; through Redis only the text travels.
    """

    event: dict[str, Any]


def encode_for_broker(event: dict[str, Any]) -> EventText:
    """Serialize an event to publish, keeping the event with its text."""
    text = EventText(encode(event))
    text.event = event
    return text


def message_event(dialog_id: int, message: dict[str, Any]) -> dict[str, Any]:
    """A stored message."""
    return {"type": "message", "dialog_id": dialog_id, "message": message}


def ready_event(dialog_id: int | None, last_seq: int, status: str | None) -> dict[str, Any]:
    """Sent once per connection, after the replay."""
    return {"type": "ready", "dialog_id": dialog_id, "last_seq": last_seq, "status": status}


def typing_event(dialog_id: int, sender: str, state: str) -> dict[str, Any]:
    """Someone in the dialog started or stopped typing."""
    return {"type": "typing", "dialog_id": dialog_id, "sender": sender, "state": state}


def message_delta_event(dialog_id: int, stream_id: str, text: str) -> dict[str, Any]:
    """The next fragment of an answer being generated; never stored (docs/protocol.md)."""
    return {"type": "message_delta", "dialog_id": dialog_id, "stream_id": stream_id, "text": text}


def status_event(dialog_id: int, status: str, operator: dict[str, Any] | None) -> dict[str, Any]:
    """A handoff change."""
    return {"type": "status", "dialog_id": dialog_id, "status": status, "operator": operator}


def read_event(dialog_id: int, reader: str, seq: int) -> dict[str, Any]:
    """A side has read the dialog up to ``seq``."""
    return {"type": "read", "dialog_id": dialog_id, "reader": reader, "seq": seq}


def error_event(code: str, detail: str) -> dict[str, Any]:
    """A refusal of one client frame; the socket stays open."""
    return {"type": "error", "code": code, "detail": detail}


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


def dialog_topic(dialog_id: int) -> str:
    """Broker topic of one dialog's events."""
    return f"dialog.{dialog_id}"


def owner_topic(owner_id: int) -> str:
    """Broker topic of every event of an owner's dialogs (the inbox)."""
    return f"owner.{owner_id}"
