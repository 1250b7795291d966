"""Blocking a visitor who abuses the chat: their guest id and address, their open dialogs closed at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from replyx.db.models import BlockedVisitor, Dialog
from replyx.domain import handoff
from replyx.domain.context import ChatContext
from replyx.domain.errors import Forbidden, NotFound
from replyx.domain.status import DialogStatus
from replyx.wire import iso


async def refuse_if_blocked(ctx: ChatContext, *, owner_id: int, guest_id: str | None, address: str) -> None:
    """Forbidden when the owner blocked this guest or this address."""
    values = [("address", address)] + ([("guest", guest_id)] if guest_id else [])
    conditions = [(BlockedVisitor.kind == kind) & (BlockedVisitor.value == value) for kind, value in values]
    async with ctx.sessions() as session:
        found = await session.scalar(
            select(BlockedVisitor.id).where(BlockedVisitor.owner_id == owner_id, or_(*conditions)).limit(1)
        )
    if found is not None:
        raise Forbidden("this visitor is blocked")


async def block_visitor(ctx: ChatContext, *, dialog: Dialog, operator_id: int) -> dict[str, Any]:
    """Block the dialog's guest and address for its owner, and close every open dialog of either."""
    entries = [("guest", dialog.guest_id)] + ([("address", dialog.visitor_address)] if dialog.visitor_address else [])
    for kind, value in entries:
        try:
            async with ctx.sessions() as session, session.begin():
                session.add(BlockedVisitor(owner_id=dialog.owner_id, kind=kind, value=value, operator_id=operator_id))
        except IntegrityError:
            pass  # blocked already
    by_visitor = [Dialog.guest_id == dialog.guest_id]
    if dialog.visitor_address:
        by_visitor.append(Dialog.visitor_address == dialog.visitor_address)
    async with ctx.sessions() as session:
        open_ids = list(
            await session.scalars(
                select(Dialog.id).where(
                    Dialog.owner_id == dialog.owner_id, Dialog.status != DialogStatus.CLOSED, or_(*by_visitor)
                )
            )
        )
    for dialog_id in open_ids:
        await handoff.close(ctx, dialog_id=dialog_id)
    return {"blocked": [{"kind": kind, "value": value} for kind, value in entries], "closed": sorted(open_ids)}


async def list_blocks(ctx: ChatContext, *, owner_id: int) -> list[dict[str, Any]]:
    """The owner's blocked guests and addresses, newest first."""
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(BlockedVisitor).where(BlockedVisitor.owner_id == owner_id).order_by(BlockedVisitor.id.desc())
        )
        return [_block(b) for b in rows]


def _block(block: BlockedVisitor) -> dict[str, Any]:
    return {
        "id": block.id,
        "kind": block.kind,
        "value": block.value,
        "operator_id": block.operator_id,
        "created_at": iso(block.created_at),
    }


async def unblock(ctx: ChatContext, *, owner_id: int, block_id: int) -> None:
    """Lift one block of the owner's; NotFound for another owner's or a missing one."""
    async with ctx.sessions() as session, session.begin():
        block = await session.get(BlockedVisitor, block_id)
        if block is None or block.owner_id != owner_id:
            raise NotFound("block not found")
        await session.delete(block)
