"""Handoff between the assistant and human operators: ai, requested, operator, closed.

Each change is a system notice with its own seq plus a `status` event, stored
and published through the one write path (``append_message``).
"""

from __future__ import annotations

from sqlalchemy import select

from replyx.db.models import Dialog
from replyx.domain import notices
from replyx.domain.context import ChatContext
from replyx.domain.errors import DialogClosed, NotFound
from replyx.domain.messages import Author, StatusChange, append_message
from replyx.domain.notices import Notice
from replyx.domain.status import DialogStatus

SYSTEM = Author(sender="system")


async def _current(ctx: ChatContext, dialog_id: int) -> Dialog:
    async with ctx.sessions() as session:
        dialog = await session.scalar(select(Dialog).where(Dialog.id == dialog_id))
    if dialog is None:
        raise NotFound("dialog not found")
    if dialog.status == DialogStatus.CLOSED:
        raise DialogClosed("the dialog is closed")
    return dialog


async def _change(ctx: ChatContext, dialog_id: int, change: StatusChange, notice: Notice) -> DialogStatus:
    # A concurrent request that made the same change first wins; this one then stores nothing.
    await append_message(ctx, dialog_id=dialog_id, author=SYSTEM, text=notice.text, notice=notice, change=change)
    return change.status


async def request_human(ctx: ChatContext, *, dialog_id: int) -> str:
    """The visitor (or the assistant) asks for an operator; returns the new status."""
    dialog = await _current(ctx, dialog_id)
    if dialog.status != DialogStatus.AI:
        return dialog.status
    change = StatusChange(DialogStatus.REQUESTED, from_statuses=(DialogStatus.AI,))
    return await _change(ctx, dialog_id, change, notices.HUMAN_REQUESTED)


async def take_over(ctx: ChatContext, *, dialog_id: int, author: Author) -> str:
    """An operator takes the dialog from the assistant or from another operator."""
    dialog = await _current(ctx, dialog_id)
    if dialog.status == DialogStatus.OPERATOR and dialog.operator_id == author.operator_id:
        return dialog.status
    change = StatusChange(DialogStatus.OPERATOR, author.operator_id, author.operator_name)
    return await _change(ctx, dialog_id, change, notices.operator_joined(author.operator_name))


async def release(ctx: ChatContext, *, dialog_id: int) -> str:
    """Give the dialog back to the assistant."""
    dialog = await _current(ctx, dialog_id)
    if dialog.status == DialogStatus.AI:
        return dialog.status
    change = StatusChange(DialogStatus.AI, from_statuses=(DialogStatus.REQUESTED, DialogStatus.OPERATOR))
    return await _change(ctx, dialog_id, change, notices.ASSISTANT_RETURNED)


async def close(ctx: ChatContext, *, dialog_id: int) -> str:
    """End the dialog; the guest's next visit opens a new one. Closing a closed dialog changes nothing."""
    try:
        await _current(ctx, dialog_id)
    except DialogClosed:
        return DialogStatus.CLOSED
    return await _change(ctx, dialog_id, StatusChange(DialogStatus.CLOSED), notices.CONVERSATION_CLOSED)
