"""The operator's dialogs: listing, history, replies and handoff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from replyx.api.deps import Ctx, CurrentOperator
from replyx.api.schemas import MessageIn
from replyx.db.models import Operator
from replyx.domain import blocking, dialogs, handoff
from replyx.domain.messages import Author, list_messages
from replyx.domain.sending import post_message
from replyx.domain.status import DialogStatus

router = APIRouter(prefix="/api/dialogs", tags=["dialogs"])

StatusFilter = Annotated[DialogStatus | None, Query()]


def _author(operator: Operator) -> Author:
    return Author(
        sender="operator",
        operator_id=operator.id,
        operator_name=operator.name,
        rate_key=f"operator:{operator.id}",
    )


@router.get("")
async def list_dialogs(
    ctx: Ctx,
    operator: CurrentOperator,
    status: StatusFilter = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """The owner's dialogs, a page at a time: those waiting for a human first, then newest activity."""
    return await dialogs.list_dialogs(ctx, owner_id=operator.owner_id, status=status, limit=limit, offset=offset)


@router.get("/{dialog_id}")
async def get_dialog(dialog_id: int, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """One dialog with its state."""
    dialog = await dialogs.dialog_for_operator(ctx, dialog_id=dialog_id, owner_id=operator.owner_id)
    return await dialogs.describe_dialog(ctx, dialog)


@router.get("/{dialog_id}/messages")
async def dialog_messages(
    dialog_id: int,
    ctx: Ctx,
    operator: CurrentOperator,
    since: Annotated[int, Query(ge=0)] = 0,
    until: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Stored messages with seq > since (and <= until), oldest first."""
    dialog = await dialogs.dialog_for_operator(ctx, dialog_id=dialog_id, owner_id=operator.owner_id)
    messages = await list_messages(ctx, dialog_id=dialog.id, since=since, until=until)
    return {"dialog_id": dialog.id, "status": dialog.status, "messages": messages}


@router.post("/{dialog_id}/messages", status_code=201)
async def post_dialog_message(
    dialog_id: int, body: MessageIn, response: Response, ctx: Ctx, operator: CurrentOperator
) -> dict[str, Any]:
    """Reply as this operator; in state ai or requested this takes the dialog over."""
    dialog = await dialogs.dialog_for_operator(ctx, dialog_id=dialog_id, owner_id=operator.owner_id)
    message, created = await post_message(
        ctx, dialog_id=dialog.id, author=_author(operator), text=body.text, client_id=body.client_id
    )
    if not created:
        response.status_code = 200
    return message


async def _change(ctx: Ctx, operator: Operator, dialog_id: int, action: str) -> dict[str, Any]:
    dialog = await dialogs.dialog_for_operator(ctx, dialog_id=dialog_id, owner_id=operator.owner_id)
    if action == "takeover":
        await handoff.take_over(ctx, dialog_id=dialog.id, author=_author(operator))
    elif action == "release":
        await handoff.release(ctx, dialog_id=dialog.id)
    else:
        await handoff.close(ctx, dialog_id=dialog.id)
    return await dialogs.describe_dialog(ctx, await dialogs.get_dialog(ctx, dialog.id))


@router.post("/{dialog_id}/takeover")
async def take_over(dialog_id: int, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """This operator takes the dialog; the assistant goes quiet."""
    return await _change(ctx, operator, dialog_id, "takeover")


@router.post("/{dialog_id}/release")
async def release(dialog_id: int, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """Hand the dialog back to the assistant."""
    return await _change(ctx, operator, dialog_id, "release")


@router.post("/{dialog_id}/close")
async def close(dialog_id: int, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """Close the dialog."""
    return await _change(ctx, operator, dialog_id, "close")


@router.post("/{dialog_id}/block")
async def block(dialog_id: int, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """Block the dialog's visitor (guest and address) and close every open dialog of theirs."""
    dialog = await dialogs.dialog_for_operator(ctx, dialog_id=dialog_id, owner_id=operator.owner_id)
    return await blocking.block_visitor(ctx, dialog=dialog, operator_id=operator.id)
