"""The wire vocabulary shared by the domain and the real-time layer, without I/O.

What the server sends (events and the wire form of a stored message), how an
event is serialized once for every socket, and the broker topics events travel
on. The domain builds events here and publishes them; the real-time layer
delivers them; neither imports the other for it (docs/architecture.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from pydantic_core import PydanticSerializationError, to_json


class StoredMessage(Protocol):
    """A stored message as read from any store (an ORM row or a batch write's row)."""

    @property
    def id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def sender(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def notice(self) -> str | None: ...
    @property
    def notice_args(self) -> dict[str, Any] | None: ...


# The same instant is formatted several times: for a message's event and its sender's answer, and
# for every message of a batch, which share their commit time.
@lru_cache(maxsize=1024)
def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; SQLite hands back naive datetimes that are UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_payload(message: StoredMessage) -> dict[str, Any]:
    """The wire form of a stored message; a system notice also carries its code and arguments."""
    payload: dict[str, Any] = {
        "id": message.id,
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "created_at": iso(message.created_at),
        "client_id": message.client_id,
    }
    if message.notice is not None:
        payload["notice"] = message.notice
        payload["args"] = message.notice_args or {}
    return payload


def message_event(dialog_id: int, message: dict[str, Any]) -> dict[str, Any]:
    """A stored message."""
    return {"type": "message", "dialog_id": dialog_id, "message": message}


def ready_event(dialog_id: int | None, last_seq: int, status: str | None, **extra: Any) -> dict[str, Any]:
    """Sent once per connection, after the replay; ``extra``: read positions, or the inbox's feed position."""
    return {"type": "ready", "dialog_id": dialog_id, "last_seq": last_seq, "status": status, **extra}


def resync_event(position: FeedPosition | None) -> dict[str, Any]:
    """The inbox missed events it cannot be given: re-read the list, then go on from ``position``."""
    event: dict[str, Any] = {"type": "resync"}
    if position is not None:
        event.update(offset=position.offset, epoch=position.epoch)
    return event


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


# Every node listens to it: events about the cluster, not about a dialog.
CONTROL_TOPIC = "control"


def sessions_ended_event(operator_id: int, version: int) -> dict[str, Any]:
    """The operator's sessions before ``version`` ended (logout, password change, deactivation)."""
    return {"type": "sessions_ended", "operator_id": operator_id, "version": version}


def dialog_topic(dialog_id: int) -> str:
    """Broker topic of one dialog's events."""
    return f"dialog.{dialog_id}"


def owner_topic(owner_id: int) -> str:
    """Broker topic of every event of an owner's dialogs (the inbox)."""
    return f"owner.{owner_id}"


def is_feed_topic(topic: str) -> bool:
    """Whether the topic is a feed: its events get a position and a history to resume from (the inbox)."""
    return topic.startswith("owner.")


@dataclass(frozen=True)
class FeedPosition:
    """Where a feed stands: its epoch, which changes when its history was lost, and its last offset."""

    epoch: str
    offset: int


_FEED_PREFIX = '{"offset":'


def stamp(data: str, position: FeedPosition) -> str:
    """A feed's event with its position as its first two fields (the Redis broker builds the same text)."""
    stamped = f'{_FEED_PREFIX}{position.offset},"epoch":"{position.epoch}",{data[1:]}'
    event = getattr(data, "event", None)
    if event is None:
        return stamped
    text = EventText(stamped)
    text.event = {"offset": position.offset, "epoch": position.epoch, **event}
    return text


def unstamp(data: str) -> str:
    """A stamped feed event's text as it was published, without its position."""
    epoch_end = data.index('",', len(_FEED_PREFIX))
    return "{" + data[epoch_end + 2 :]


def feed_offset(data: str) -> int:
    """The offset of a stamped feed event, read without parsing the rest."""
    return int(data[len(_FEED_PREFIX) : data.index(",", len(_FEED_PREFIX))])


def addressed(dialog_id: int, owner_id: int | None, event: dict[str, Any]) -> list[tuple[str, str]]:
    """The event encoded once for the dialog's topic and, when given, the owner's inbox topic."""
    data = encode_for_broker(event)
    if owner_id is None:
        return [(dialog_topic(dialog_id), data)]
    return [(dialog_topic(dialog_id), data), (owner_topic(owner_id), data)]
