"""The one write path: every message, whoever sends it, is stored and published here.

See docs/realtime.md for why seq is taken in the same transaction as the insert
and why publishing happens only after commit; the batching itself is in
``replyx.domain.writer``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from replyx.db.message_store import Outcome, WriteRequest
from replyx.db.models import MAX_ID, Dialog, Message
from replyx.diagnostics import metrics
from replyx.domain.context import ChatContext
from replyx.domain.errors import BadRequest, DialogClosed, NotFound, RateLimited, TooLong, Unavailable
from replyx.domain.events import message_payload, publish_event
from replyx.realtime import protocol

log = logging.getLogger("replyx.messages")

SENDERS = ("user", "assistant", "operator", "system")
# Statuses in which a dialog takes messages.
OPEN_STATUSES = ("ai", "requested", "operator")


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
    limit = ctx.settings.operator_rate_limit if author.sender == "operator" else ctx.settings.visitor_rate_limit
    try:
        if author.rate_key and not ctx.limiter.hit(author.rate_key, limit):
            # A resend of a message already stored is answered, never refused.
            existing = await find_by_client_id(ctx, dialog_id, client_id) if client_id is not None else None
            if existing is None:
                metrics.RATE_LIMITED.labels(author.sender).inc()
                raise RateLimited(f"too many messages: at most {limit} per {ctx.settings.rate_limit_window:g} s")
            return message_payload(existing), False
        # An operator writes into a dialog they hold; otherwise they take it over first (rare, so
        # the common message needs no read of the status before its write).
        statuses = ("operator",) if author.sender == "operator" else OPEN_STATUSES
        outcome = await ctx.writer.write(_request(dialog_id, author, text, client_id, statuses))
        if author.sender == "operator" and outcome.status in ("ai", "requested"):
            from replyx.domain.handoff import take_over

            await take_over(ctx, dialog_id=dialog_id, author=author)
            outcome = await ctx.writer.write(_request(dialog_id, author, text, client_id, OPEN_STATUSES))
    except (DBAPIError, OSError) as exc:
        # OSError: a database that is down refuses the connection before any DBAPI error can arise.
        log.warning("Storage unavailable while posting to dialog %s: %s", dialog_id, type(exc).__name__)
        raise Unavailable("storage is unavailable, retry shortly") from exc
    if outcome.duplicate is not None:
        return message_payload(outcome.duplicate), False
    stored = _stored(outcome)
    if stored is None:
        raise DialogClosed("the dialog is closed") if outcome.status is not None else NotFound("dialog not found")
    if author.sender == "user" and stored.status == "ai" and ctx.responder is not None:
        ctx.spawn(ctx.responder.respond(ctx, dialog_id=dialog_id, message=stored.message))
    return stored.message, True


def _request(
    dialog_id: int, author: Author, text: str, client_id: str | None, statuses: tuple[str, ...]
) -> WriteRequest:
    return WriteRequest(
        dialog_id=dialog_id,
        sender=author.sender,
        text=text,
        allowed_statuses=statuses,
        client_id=client_id,
        operator_id=author.operator_id,
    )


@dataclass(frozen=True)
class Stored:
    """A message after commit, with the dialog state it left behind."""

    message: dict[str, Any]
    owner_id: int
    status: str


def _stored(outcome: Outcome) -> Stored | None:
    if outcome.stored is None:
        return None
    assert outcome.owner_id is not None and outcome.status is not None
    return Stored(message=message_payload(outcome.stored), owner_id=outcome.owner_id, status=outcome.status)


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
    """Store one message with its seq (and a status change), then publish; see ``replyx.domain.writer``.

    None when another request won a race: the same client_id stored first, or
    the status change was already made, or the dialog left ``only_in_status``
    (how an assistant's answer yields to an operator who took over meanwhile).
    NotFound or DialogClosed when a plain message cannot be stored.
    """
    statuses = (only_in_status,) if only_in_status is not None else OPEN_STATUSES
    request = _request(dialog_id, author, text, client_id, statuses)
    operator_name = None
    if change is not None:
        request = dataclasses.replace(
            request,
            allowed_statuses=change.from_statuses,
            new_status=change.status,
            new_operator_id=change.operator_id,
            unless_held_by_new_operator=change.operator_id is not None,
        )
        operator_name = change.operator_name
    outcome = await ctx.writer.write(request, operator_name=operator_name)
    stored = _stored(outcome)
    if stored is None and outcome.duplicate is None and change is None and only_in_status is None:
        raise DialogClosed("the dialog is closed") if outcome.status is not None else NotFound("dialog not found")
    return stored


async def publish(ctx: ChatContext, dialog_id: int, owner_id: int | None, event: dict[str, Any]) -> None:
    """Publish an event to the dialog's topic and, when given, the owner's inbox topic."""
    await publish_event(ctx.broker, dialog_id, owner_id, event)


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
