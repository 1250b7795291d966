"""The one write path: every message, whoever sends it, is stored and published here.

See docs/realtime.md for why seq is taken in the same transaction as the insert
and why publishing happens only after commit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from replyx.db.models import MAX_ID, Dialog, Message, utcnow
from replyx.diagnostics import metrics
from replyx.domain.context import ChatContext
from replyx.domain.errors import BadRequest, DialogClosed, NotFound, RateLimited, TooLong, Unavailable
from replyx.realtime import protocol

log = logging.getLogger("replyx.messages")

SENDERS = ("user", "assistant", "operator", "system")


@dataclass(frozen=True)
class Author:
    """Who writes, as established by the authenticated endpoint (never by the client)."""

    sender: str
    operator_id: int | None = None
    operator_name: str | None = None
    rate_key: str | None = None


@dataclass(frozen=True)
class StatusChange:
    """A handoff change stored in the same transaction as its system message.

    It applies only while the dialog is in one of ``from_statuses`` (and, for a
    takeover, not already held by the same operator), so two concurrent
    requests cannot both record it.
    """

    status: str
    operator_id: int | None
    operator_name: str | None
    from_statuses: tuple[str, ...] = ("ai", "requested", "operator")


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; SQLite hands back naive datetimes that are UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_payload(message: Message) -> dict[str, Any]:
    """The wire form of a stored message."""
    return {
        "id": message.id,
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "created_at": iso(message.created_at),
        "client_id": message.client_id,
    }


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


def _validate_client_id(client_id: object) -> str | None:
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
        raise BadRequest("client_id must be a string of 1 to 64 characters")
    return client_id


@contextlib.asynccontextmanager
async def _writing(ctx: ChatContext) -> AsyncIterator[None]:
    if ctx.write_lock is None:
        yield
        return
    async with ctx.write_lock:
        yield


async def find_by_client_id(ctx: ChatContext, dialog_id: int, client_id: str) -> Message | None:
    """The message a client already stored under this client_id, if any."""
    async with ctx.sessions() as session:
        return await session.scalar(
            select(Message).where(Message.dialog_id == dialog_id, Message.client_id == client_id)
        )


async def post_message(
    ctx: ChatContext, *, dialog_id: int, author: Author, text: object, client_id: object = None
) -> tuple[dict[str, Any], bool]:
    """Validate, store and publish one message; returns (message, created).

    A repeated client_id returns the stored message with created=False and
    publishes nothing.
    """
    text = validate_text(ctx, text)
    client_id = _validate_client_id(client_id)
    try:
        if client_id is not None:
            existing = await find_by_client_id(ctx, dialog_id, client_id)
            if existing is not None:
                return message_payload(existing), False
        limit = ctx.settings.operator_rate_limit if author.sender == "operator" else ctx.settings.visitor_rate_limit
        if author.rate_key and not ctx.limiter.hit(author.rate_key, limit):
            metrics.RATE_LIMITED.labels(author.sender).inc()
            raise RateLimited(f"too many messages: at most {limit} per {ctx.settings.rate_limit_window:g} s")
        status = await _dialog_status(ctx, dialog_id)
        if status == "closed":
            raise DialogClosed("the dialog is closed")
        if author.sender == "operator" and status in ("ai", "requested"):
            from replyx.domain.handoff import take_over

            await take_over(ctx, dialog_id=dialog_id, author=author)
        stored = await append_message(ctx, dialog_id=dialog_id, author=author, text=text, client_id=client_id)
    except (DBAPIError, OSError) as exc:
        # OSError: a database that is down refuses the connection before any DBAPI error can arise.
        log.warning("Storage unavailable while posting to dialog %s: %s", dialog_id, type(exc).__name__)
        raise Unavailable("storage is unavailable, retry shortly") from exc
    if stored is None:
        assert client_id is not None
        existing = await find_by_client_id(ctx, dialog_id, client_id)
        assert existing is not None
        return message_payload(existing), False
    if author.sender == "user" and stored.status == "ai" and ctx.responder is not None:
        ctx.spawn(ctx.responder.respond(ctx, dialog_id=dialog_id, message=stored.message))
    return stored.message, True


async def _dialog_status(ctx: ChatContext, dialog_id: int) -> str:
    async with ctx.sessions() as session:
        status = await session.scalar(select(Dialog.status).where(Dialog.id == dialog_id))
    if status is None:
        raise NotFound("dialog not found")
    return status


@dataclass(frozen=True)
class Stored:
    """A message after commit, with the dialog state it left behind."""

    message: dict[str, Any]
    owner_id: int
    status: str


async def append_message(
    ctx: ChatContext,
    *,
    dialog_id: int,
    author: Author,
    text: str,
    client_id: str | None = None,
    change: StatusChange | None = None,
    only_in_status: str | None = None,
) -> Stored | None:
    """Take the next seq and insert in one transaction, then publish.

    None when another request won a race: the same client_id stored first, or
    the status change was already made, or the dialog left ``only_in_status``
    (how an assistant's answer yields to an operator who took over meanwhile).
    """
    values: dict[str, Any] = {"last_seq": Dialog.last_seq + 1, "updated_at": utcnow()}
    condition = Dialog.id == dialog_id
    if change is not None:
        values.update(status=change.status, operator_id=change.operator_id)
        condition = condition & Dialog.status.in_(change.from_statuses)
        if change.operator_id is not None:
            condition = condition & ~((Dialog.status == change.status) & (Dialog.operator_id == change.operator_id))
    if only_in_status is not None:
        condition = condition & (Dialog.status == only_in_status)
    async with _writing(ctx):
        try:
            async with ctx.sessions() as session, session.begin():
                row = (
                    await session.execute(
                        update(Dialog)
                        .where(condition)
                        .values(**values)
                        .returning(Dialog.last_seq, Dialog.owner_id, Dialog.status)
                        # No dialog object is loaded in this session: skip the ORM's sync pass.
                        .execution_options(synchronize_session=False)
                    )
                ).one_or_none()
                if row is None:
                    if change is not None or only_in_status is not None:
                        return None  # the dialog is not in the state this write needs: nothing to record
                    raise NotFound("dialog not found")
                # A Core INSERT ... RETURNING, not session.add + flush: the ORM's unit of work was the
                # largest cost of a stored message (docs/performance.md), and nothing here needs it.
                created_at = utcnow()
                message_id = await session.scalar(
                    insert(Message)
                    .values(
                        dialog_id=dialog_id,
                        seq=row.last_seq,
                        sender=author.sender,
                        text=text,
                        client_id=client_id,
                        operator_id=author.operator_id,
                        created_at=created_at,
                    )
                    .returning(Message.id)
                )
                payload = {
                    "id": message_id,
                    "seq": row.last_seq,
                    "sender": author.sender,
                    "text": text,
                    "created_at": iso(created_at),
                    "client_id": client_id,
                }
        except IntegrityError:
            # Another request stored this client_id first; the rollback also undid our seq.
            return None
        metrics.MESSAGES_STORED.labels(author.sender).inc()
        stored = Stored(message=payload, owner_id=row.owner_id, status=row.status)
        await publish(ctx, dialog_id, stored.owner_id, protocol.message_event(dialog_id, payload))
        if change is not None:
            operator = (
                {"id": change.operator_id, "name": change.operator_name} if change.operator_id is not None else None
            )
            event = protocol.status_event(dialog_id, change.status, operator)
            await publish(ctx, dialog_id, stored.owner_id, event)
    return stored


async def publish(ctx: ChatContext, dialog_id: int, owner_id: int | None, event: dict[str, Any]) -> None:
    """Publish an event to the dialog's topic and, when given, the owner's inbox topic."""
    data = protocol.encode(event)
    await ctx.broker.publish(protocol.dialog_topic(dialog_id), data)
    if owner_id is not None:
        await ctx.broker.publish(protocol.owner_topic(owner_id), data)


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
        return [message_payload(m) for m in rows]


async def send_typing(ctx: ChatContext, *, dialog_id: int, sender: str, state: str) -> None:
    """Tell the dialog's sockets that someone is typing; nothing is stored."""
    await publish(ctx, dialog_id, None, protocol.typing_event(dialog_id, sender, state))


async def mark_read(ctx: ChatContext, *, dialog_id: int, owner_id: int, reader: str, seq: int) -> None:
    """Remember how far a side has read and tell the dialog and inbox."""
    column = Dialog.visitor_read_seq if reader == "user" else Dialog.operator_read_seq
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Dialog).where(Dialog.id == dialog_id, column < seq, Dialog.last_seq >= seq).values({column: seq})
        )
    await publish(ctx, dialog_id, owner_id, protocol.read_event(dialog_id, reader, seq))
