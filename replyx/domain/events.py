"""The wire form of stored messages, and publishing an event to a dialog and its owner's inbox."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from replyx.realtime import protocol
from replyx.realtime.broker.base import Broker


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


# The same instant is formatted several times: for a message's event and its sender's answer, and
# for every message of a batch, which share their commit time.
@lru_cache(maxsize=1024)
def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; SQLite hands back naive datetimes that are UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_payload(message: StoredMessage) -> dict[str, Any]:
    """The wire form of a stored message."""
    return {
        "id": message.id,
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "created_at": iso(message.created_at),
        "client_id": message.client_id,
    }


def addressed(dialog_id: int, owner_id: int | None, event: dict[str, Any]) -> list[tuple[str, str]]:
    """The event encoded once for the dialog's topic and, when given, the owner's inbox topic."""
    data = protocol.encode_for_broker(event)
    if owner_id is None:
        return [(protocol.dialog_topic(dialog_id), data)]
    return [(protocol.dialog_topic(dialog_id), data), (protocol.owner_topic(owner_id), data)]


async def publish_event(broker: Broker, dialog_id: int, owner_id: int | None, event: dict[str, Any]) -> None:
    """Publish an event to the dialog's topic and, when given, the owner's inbox topic."""
    await broker.publish_many(addressed(dialog_id, owner_id, event))
