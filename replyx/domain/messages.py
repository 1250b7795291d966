"""A dialog's messages: storing one through the process's writer, reading them back, typing and reads.

Every message, whoever writes it, is stored by ``append_message``: it hands the
message to ``ctx.writer`` (``replyx.domain.writer``), which stores it in the
next batch with its seq (``replyx.db.store``) and publishes its event after the
commit. Visitors and operators reach it through ``replyx.domain.sending``,
handoff notices through ``replyx.domain.handoff``, the assistant from
``replyx.assistant.answering``. docs/architecture.md follows one message from
socket to socket; docs/realtime.md explains why it is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from replyx import wire
from replyx.db.models import MAX_ID, Dialog, Message
from replyx.db.store import Outcome, WriteRequest
from replyx.domain.context import ChatContext
from replyx.domain.errors import BadRequest, DialogClosed, NotFound, TooLong
from replyx.domain.notices import Notice
from replyx.domain.status import OPEN_STATUSES, DialogStatus

SENDERS = ("user", "assistant", "operator", "system")


@dataclass(frozen=True)
class Author:
    """Who writes, as established by the authenticated endpoint (never by the client)."""

    sender: str
    operator_id: int | None = None
    operator_name: str | None = None
    rate_key: str | None = None
    # A visitor's address: their messages across every dialog count against one limit too.
    address: str | None = None


@dataclass(frozen=True)
class StatusChange:
    """A handoff change stored in the same transaction as its system message.

    It applies only while the dialog is in one of ``from_statuses`` (and, for a
    takeover, not already held by the same operator), so two concurrent
    requests cannot both record it.
    """

    status: DialogStatus
    operator_id: int | None = None
    operator_name: str | None = None
    from_statuses: tuple[DialogStatus, ...] = OPEN_STATUSES


@dataclass(frozen=True)
class Appended:
    """What became of a message: ``created`` now, stored earlier under its client_id, or refused.

    ``message`` is the wire form of the stored message (None when refused); ``status``
    the dialog's status after the write, or the one that refused it (None: no such dialog).
    """

    message: dict[str, Any] | None
    created: bool
    owner_id: int | None
    status: str | None

    def or_raise(self) -> dict[str, Any]:
        """The message, or DialogClosed / NotFound when its dialog refused it."""
        if self.message is None:
            raise DialogClosed("the dialog is closed") if self.status is not None else NotFound("dialog not found")
        return self.message


def validate_text(ctx: ChatContext, text: object) -> str:
    """The text if it may be stored, else BadRequest or TooLong."""
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    if not text.strip():
        raise BadRequest("text must not be empty")
    if len(text) > ctx.settings.max_message_length:
        raise TooLong(f"text is longer than {ctx.settings.max_message_length} characters")
    if "\x00" in text:
        raise BadRequest("text must not contain NUL characters")
    try:
        # JSON may carry lone surrogates ("\ud800"), which no database can store as UTF-8.
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest("text must be valid Unicode (no lone surrogates)") from exc
    return text


def validate_client_id(client_id: object) -> str | None:
    """The client's idempotency key if well-formed, else BadRequest."""
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
        raise BadRequest("client_id must be a string of 1 to 64 characters")
    return client_id


async def append_message(
    ctx: ChatContext,
    *,
    dialog_id: int,
    author: Author,
    text: str,
    client_id: str | None = None,
    notice: Notice | None = None,
    change: StatusChange | None = None,
    in_statuses: tuple[DialogStatus, ...] = OPEN_STATUSES,
) -> Appended:
    """Store one message with its seq (and a status change), then publish it; see ``replyx.domain.writer``.

    The dialog takes it only in one of ``in_statuses`` (a change: ``change.from_statuses``).
    Unavailable when storage is down; Conflict when a constraint refused the row.
    """
    request = WriteRequest(
        dialog_id=dialog_id,
        sender=author.sender,
        text=text,
        allowed_statuses=in_statuses if change is None else change.from_statuses,
        client_id=client_id,
        operator_id=author.operator_id,
        notice=None if notice is None else notice.code,
        notice_args=None if notice is None else notice.args,
        new_status=None if change is None else change.status,
        new_operator_id=None if change is None else change.operator_id,
        unless_held_by_new_operator=change is not None and change.operator_id is not None,
    )
    operator_name = None if change is None else change.operator_name
    return _appended(await ctx.writer.write(request, operator_name=operator_name))


def _appended(outcome: Outcome) -> Appended:
    if outcome.stored is not None:
        return Appended(wire.message_payload(outcome.stored), True, outcome.owner_id, outcome.status)
    if outcome.duplicate is not None:
        return Appended(wire.message_payload(outcome.duplicate), False, outcome.owner_id, outcome.status)
    return Appended(None, False, outcome.owner_id, outcome.status)


async def find_by_client_id(ctx: ChatContext, dialog_id: int, client_id: str) -> dict[str, Any] | None:
    """The message a client already stored under this client_id, if any."""
    async with ctx.sessions() as session:
        found = await session.scalar(
            select(Message).where(Message.dialog_id == dialog_id, Message.client_id == client_id)
        )
    return None if found is None else wire.message_payload(found)


async def publish(ctx: ChatContext, dialog_id: int, owner_id: int | None, event: dict[str, Any]) -> None:
    """Publish an event to the dialog's topic and, when given, the owner's inbox topic."""
    await ctx.broker.publish_many(wire.addressed(dialog_id, owner_id, event))


async def list_messages(
    ctx: ChatContext, *, dialog_id: int, since: int = 0, until: int | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Stored messages with ``since < seq (<= until)``, in seq order."""
    since = min(since, MAX_ID)  # no seq is larger; a bigger number would overflow the driver
    query = select(Message).where(Message.dialog_id == dialog_id, Message.seq > since)
    if until is not None:
        query = query.where(Message.seq <= min(until, MAX_ID))
    async with ctx.sessions() as session:
        rows = await session.scalars(query.order_by(Message.seq).limit(limit))
        return [wire.message_payload(m) for m in rows]


async def send_typing(ctx: ChatContext, *, dialog_id: int, sender: str, state: str) -> None:
    """Tell the dialog's sockets that someone is typing; nothing is stored."""
    await publish(ctx, dialog_id, None, wire.typing_event(dialog_id, sender, state))


async def mark_read(ctx: ChatContext, *, dialog_id: int, owner_id: int, reader: str, seq: int) -> None:
    """Remember how far a side has read and tell the dialog and inbox."""
    column = Dialog.visitor_read_seq if reader == "user" else Dialog.operator_read_seq
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Dialog).where(Dialog.id == dialog_id, column < seq, Dialog.last_seq >= seq).values({column: seq})
        )
    await publish(ctx, dialog_id, owner_id, wire.read_event(dialog_id, reader, seq))
