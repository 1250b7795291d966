"""Visitor routes of the site (site token) and widget (assistant id) modes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response

from replyx.api.deps import Ctx, client_address
from replyx.api.schemas import MessageIn, SiteDialogIn, WidgetDialogIn
from replyx.db.models import Assistant, Dialog
from replyx.domain import dialogs, handoff, visitor_limits
from replyx.domain.context import ChatContext
from replyx.domain.messages import Author, list_messages
from replyx.domain.origins import check_origin
from replyx.domain.sending import post_message
from replyx.domain.status import DialogStatus

router = APIRouter(prefix="/api", tags=["visitor"])

GuestToken = Annotated[str | None, Header(alias="X-Guest-Token")]
Mode = Annotated[str, Path(pattern="^(site|widget)$")]


def _check_origin(request: Request, ctx: ChatContext, assistant: Assistant) -> None:
    own = [request.headers.get("host", ""), ctx.settings.public_url]
    check_origin(request.headers.get("origin"), allowed_domains=assistant.allowed_domains, own_hosts=own)


def _opened(opened: dialogs.OpenedDialog) -> dict[str, Any]:
    return {
        "dialog_id": opened.dialog_id,
        "guest_id": opened.guest_id,
        "guest_token": opened.guest_token,
        "status": opened.status,
        "last_seq": opened.last_seq,
    }


@router.post("/site/dialogs")
async def open_site_dialog(body: SiteDialogIn, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Open (or resume) the guest's dialog, authorized by the public site token."""
    assistant = await dialogs.assistant_for_site_token(ctx, body.site_token)
    return await _open(ctx, request, assistant, body.guest_id, body.guest_token)


@router.post("/widget/dialogs")
async def open_widget_dialog(body: WidgetDialogIn, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Open (or resume) the guest's dialog, identified by the assistant id."""
    assistant = await dialogs.assistant_by_id(ctx, body.assistant_id)
    return await _open(ctx, request, assistant, body.guest_id, body.guest_token)


async def _open(
    ctx: ChatContext, request: Request, assistant: Assistant, guest_id: str | None, guest_token: str | None
) -> dict[str, Any]:
    _check_origin(request, ctx, assistant)
    opened = await dialogs.open_dialog(
        ctx, assistant=assistant, guest_id=guest_id, guest_token=guest_token, address=client_address(request)
    )
    return _opened(opened)


async def _guest_dialog(ctx: ChatContext, request: Request, dialog_id: int, token: str | None) -> Dialog:
    dialog = await dialogs.dialog_for_guest(ctx, dialog_id=dialog_id, guest_token=token)
    _check_origin(request, ctx, await dialogs.assistant_by_id(ctx, dialog.assistant_id))
    return dialog


@router.get("/{mode}/dialogs/{dialog_id}/messages")
async def guest_messages(
    mode: Mode,
    dialog_id: int,
    request: Request,
    ctx: Ctx,
    token: GuestToken = None,
    since: Annotated[int, Query(ge=0)] = 0,
    until: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Stored messages with seq > since (and <= until), oldest first."""
    dialog = await _guest_dialog(ctx, request, dialog_id, token)
    messages = await list_messages(ctx, dialog_id=dialog.id, since=since, until=until)
    return {"dialog_id": dialog.id, "status": dialog.status, "messages": messages}


@router.post("/{mode}/dialogs/{dialog_id}/messages", status_code=201)
async def guest_post(
    mode: Mode,
    dialog_id: int,
    body: MessageIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    token: GuestToken = None,
) -> dict[str, Any]:
    """Send a visitor message; a repeated client_id answers 200 with the stored one."""
    dialog = await _guest_dialog(ctx, request, dialog_id, token)
    author = Author(sender="user", rate_key=f"guest:{dialog.id}", address=client_address(request))
    message, created = await post_message(
        ctx, dialog_id=dialog.id, author=author, text=body.text, client_id=body.client_id
    )
    if not created:
        response.status_code = 200
    return message


@router.post("/{mode}/dialogs/{dialog_id}/handoff")
async def guest_handoff(
    mode: Mode, dialog_id: int, request: Request, ctx: Ctx, token: GuestToken = None
) -> dict[str, Any]:
    """The visitor asks for a human operator."""
    dialog = await _guest_dialog(ctx, request, dialog_id, token)
    if dialog.status == DialogStatus.AI:
        visitor_limits.count_handoff(ctx, address=client_address(request))
    return {"dialog_id": dialog.id, "status": await handoff.request_human(ctx, dialog_id=dialog.id)}
