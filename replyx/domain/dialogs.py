"""Dialogs: opened or resumed by a guest, listed and authorized for operators and visitors."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select

from replyx.db.models import MAX_ID, Assistant, Dialog, Message, Operator
from replyx.domain import auth, blocking, visitor_limits
from replyx.domain.context import ChatContext
from replyx.domain.errors import BadRequest, NotFound, Unauthorized
from replyx.domain.messages import Author, append_message
from replyx.domain.status import DialogStatus
from replyx.wire import iso

_GUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True)
class OpenedDialog:
    """What a visitor needs to chat: the dialog and its guest credential."""

    dialog_id: int
    guest_id: str
    guest_token: str
    status: str
    last_seq: int


async def assistant_for_site_token(ctx: ChatContext, site_token: str) -> Assistant:
    """The assistant a current site token names; Unauthorized when forged or rotated."""
    claims = auth.decode_site_token(ctx.settings.secret_key, site_token)
    async with ctx.sessions() as session:
        assistant = await session.get(Assistant, claims.assistant_id)
    if assistant is None or assistant.token_version != claims.version:
        raise Unauthorized("site token is no longer valid")
    return assistant


async def assistant_by_id(ctx: ChatContext, assistant_id: object) -> Assistant:
    """The assistant with this public id; Unauthorized when missing or unknown."""
    try:
        key = int(str(assistant_id))
    except ValueError as exc:
        raise Unauthorized("assistant_id missing or invalid") from exc
    if not 0 < key <= MAX_ID:
        raise Unauthorized("unknown assistant")
    async with ctx.sessions() as session:
        assistant = await session.get(Assistant, key)
    if assistant is None:
        raise Unauthorized("unknown assistant")
    return assistant


async def open_dialog(
    ctx: ChatContext, *, assistant: Assistant, guest_id: str | None, guest_token: str | None, address: str
) -> OpenedDialog:
    """The guest's open dialog with this assistant, created (with its greeting) when none.

    A returning guest proves who they are with a guest token of theirs (of any of their dialogs
    with this assistant): the guest id alone is not a secret (operators see it), so without the
    token the visitor starts as a new guest. New dialogs count against the address's and the
    assistant's hourly limits; blocked guests and addresses get none.
    """
    if guest_id is not None and not _GUEST_ID.match(guest_id):
        raise BadRequest("guest_id must be 8 to 64 letters, digits, '-' or '_'")
    if guest_id is None or not _proves_guest(ctx, guest_token, guest_id):
        guest_id = uuid.uuid4().hex
    await blocking.refuse_if_blocked(ctx, owner_id=assistant.owner_id, guest_id=guest_id, address=address)
    async with ctx.sessions() as session:
        existing = await session.scalar(
            select(Dialog.id).where(
                Dialog.assistant_id == assistant.id,
                Dialog.guest_id == guest_id,
                Dialog.status != DialogStatus.CLOSED,
            )
        )
    if existing is None:
        visitor_limits.count_new_dialog(ctx, assistant_id=assistant.id, address=address)
    async with ctx.sessions() as session, session.begin():
        dialog = await session.scalar(
            select(Dialog)
            .where(
                Dialog.assistant_id == assistant.id,
                Dialog.guest_id == guest_id,
                Dialog.status != DialogStatus.CLOSED,
            )
            .order_by(Dialog.id.desc())
            .limit(1)
        )
        created = dialog is None
        if dialog is None:
            dialog = Dialog(
                owner_id=assistant.owner_id, assistant_id=assistant.id, guest_id=guest_id, visitor_address=address
            )
            session.add(dialog)
            await session.flush()
        dialog_id, status, last_seq = dialog.id, dialog.status, dialog.last_seq
    if created and assistant.greeting.strip():
        greeting = await append_message(
            ctx, dialog_id=dialog_id, author=Author(sender="assistant"), text=assistant.greeting
        )
        if greeting.message is not None:
            last_seq = greeting.message["seq"]
    token = auth.issue_guest_token(ctx.settings.secret_key, dialog_id=dialog_id, guest_id=guest_id)
    return OpenedDialog(dialog_id, guest_id, token, status, last_seq)


def _proves_guest(ctx: ChatContext, guest_token: str | None, guest_id: str) -> bool:
    if not guest_token:
        return False
    try:
        return auth.decode_guest_token(ctx.settings.secret_key, guest_token).guest_id == guest_id
    except Unauthorized:
        return False


async def get_dialog(ctx: ChatContext, dialog_id: int) -> Dialog:
    """The dialog, or NotFound."""
    if not 0 < dialog_id <= MAX_ID:
        raise NotFound("dialog not found")
    async with ctx.sessions() as session:
        dialog = await session.get(Dialog, dialog_id)
    if dialog is None:
        raise NotFound("dialog not found")
    return dialog


async def dialog_for_operator(ctx: ChatContext, *, dialog_id: int, owner_id: int) -> Dialog:
    """The dialog if it belongs to the operator's owner; NotFound otherwise, as for a missing one."""
    dialog = await get_dialog(ctx, dialog_id)
    if dialog.owner_id != owner_id:
        raise NotFound("dialog not found")
    return dialog


async def dialog_for_guest(
    ctx: ChatContext, *, dialog_id: int, guest_token: str | None, assistant_id: int | None = None
) -> Dialog:
    """The dialog this guest token opens; NotFound for any other id, so ids reveal nothing.

    The token is checked before storage is read: without one, a missing dialog and another
    guest's answer alike.
    """
    try:
        claims = auth.decode_guest_token(ctx.settings.secret_key, guest_token or "")
    except Unauthorized as exc:
        raise NotFound("dialog not found") from exc
    if claims.dialog_id != dialog_id:
        raise NotFound("dialog not found")
    dialog = await get_dialog(ctx, dialog_id)
    if claims.guest_id != dialog.guest_id or assistant_id not in (None, dialog.assistant_id):
        raise NotFound("dialog not found")
    return dialog


async def list_dialogs(
    ctx: ChatContext, *, owner_id: int, status: str | None = None, limit: int = 200, offset: int = 0
) -> list[dict[str, Any]]:
    """The owner's dialogs, each with its last message: those waiting for a human first, then newest activity.

    Waiting visitors come first whatever their number, so no flood of other dialogs can push a
    real one out of the first page.
    """
    query = select(Dialog).where(Dialog.owner_id == owner_id)
    if status:
        query = query.where(Dialog.status == status)
    waiting_first = case((Dialog.status == DialogStatus.REQUESTED, 0), else_=1)
    query = query.order_by(waiting_first, Dialog.updated_at.desc(), Dialog.id.desc()).offset(offset).limit(limit)
    async with ctx.sessions() as session:
        dialogs = list(await session.scalars(query))
        ids = [d.id for d in dialogs]
        last: dict[int, Message] = {}
        if ids:
            newest = (
                select(Message.dialog_id, func.max(Message.seq).label("seq"))
                .where(Message.dialog_id.in_(ids))
                .group_by(Message.dialog_id)
                .subquery()
            )
            rows = await session.scalars(
                select(Message).join(newest, (Message.dialog_id == newest.c.dialog_id) & (Message.seq == newest.c.seq))
            )
            last = {m.dialog_id: m for m in rows}
        names = await _operator_names(session, {d.operator_id for d in dialogs if d.operator_id})
    return [dialog_summary(d, last.get(d.id), names.get(d.operator_id or 0)) for d in dialogs]


async def _operator_names(session: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Operator.id, Operator.name).where(Operator.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def describe_dialog(ctx: ChatContext, dialog: Dialog) -> dict[str, Any]:
    """One dialog as the operator API shows it."""
    async with ctx.sessions() as session:
        last = await session.scalar(
            select(Message).where(Message.dialog_id == dialog.id).order_by(Message.seq.desc()).limit(1)
        )
        names = await _operator_names(session, {dialog.operator_id} if dialog.operator_id else set())
    return dialog_summary(dialog, last, names.get(dialog.operator_id or 0))


def dialog_summary(dialog: Dialog, last: Message | None, operator_name: str | None) -> dict[str, Any]:
    """The wire form of a dialog in operator listings."""
    return {
        "id": dialog.id,
        "assistant_id": dialog.assistant_id,
        "guest_id": dialog.guest_id,
        "status": dialog.status,
        "operator": {"id": dialog.operator_id, "name": operator_name} if dialog.operator_id else None,
        "last_seq": dialog.last_seq,
        "unread": max(0, dialog.last_seq - dialog.operator_read_seq),
        "visitor_read_seq": dialog.visitor_read_seq,
        "operator_read_seq": dialog.operator_read_seq,
        "created_at": iso(dialog.created_at),
        "updated_at": iso(dialog.updated_at),
        "last_message": _preview(last) if last else None,
    }


def _preview(message: Message) -> dict[str, Any]:
    """A dialog's last message in listings: its start, and a notice's code so the panel can translate it."""
    preview: dict[str, Any] = {
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text[:200],
        "created_at": iso(message.created_at),
    }
    if message.notice is not None:
        preview.update(notice=message.notice, args=message.notice_args or {})
    return preview
