"""Handoff between the assistant and human operators: ai, requested, operator, closed.

Each change is a system message with its own seq plus a `status` event, stored
and published through the one write path.
"""

from __future__ import annotations

from sqlalchemy import select

from replyx.db.models import Dialog
from replyx.domain.context import ChatContext
from replyx.domain.errors import DialogClosed, NotFound
from replyx.domain.messages import Author, StatusChange, append_message

STATUSES = ("ai", "requested", "operator", "closed")
SYSTEM = Author(sender="system")


async def _current(ctx: ChatContext, dialog_id: int) -> Dialog:
    async with ctx.sessions() as session:
        dialog = await session.scalar(select(Dialog).where(Dialog.id == dialog_id))
    if dialog is None:
        raise NotFound("dialog not found")
    return dialog


async def request_human(ctx: ChatContext, *, dialog_id: int) -> str:
    """The visitor (or the assistant) asks for an operator; returns the new status."""
    dialog = await _current(ctx, dialog_id)
    if dialog.status == "closed":
        raise DialogClosed("the dialog is closed")
    if dialog.status != "ai":
        return dialog.status
    change = StatusChange("requested", None, None, from_statuses=("ai",))
    text = "The visitor asked for a human operator."
    await append_message(ctx, dialog_id=dialog_id, author=SYSTEM, text=text, change=change)
    return "requested"


async def take_over(ctx: ChatContext, *, dialog_id: int, author: Author) -> str:
    """An operator takes the dialog from the assistant or from another operator."""
    dialog = await _current(ctx, dialog_id)
    if dialog.status == "closed":
        raise DialogClosed("the dialog is closed")
    if dialog.status == "operator" and dialog.operator_id == author.operator_id:
        return dialog.status
    change = StatusChange("operator", author.operator_id, author.operator_name)
    text = f"{author.operator_name} joined the conversation."
    await append_message(ctx, dialog_id=dialog_id, author=SYSTEM, text=text, change=change)
    return "operator"


async def release(ctx: ChatContext, *, dialog_id: int) -> str:
    """Give the dialog back to the assistant."""
    dialog = await _current(ctx, dialog_id)
    if dialog.status == "closed":
        raise DialogClosed("the dialog is closed")
    if dialog.status == "ai":
        return dialog.status
    change = StatusChange("ai", None, None, from_statuses=("requested", "operator"))
    text = "The assistant is back in the conversation."
    await append_message(ctx, dialog_id=dialog_id, author=SYSTEM, text=text, change=change)
    return "ai"


async def close(ctx: ChatContext, *, dialog_id: int) -> str:
    """End the dialog; the guest's next visit opens a new one."""
    dialog = await _current(ctx, dialog_id)
    if dialog.status == "closed":
        return dialog.status
    change = StatusChange("closed", None, None, from_statuses=("ai", "requested", "operator"))
    text = "The conversation was closed."
    await append_message(ctx, dialog_id=dialog_id, author=SYSTEM, text=text, change=change)
    return "closed"
