"""Assistants of the operator's owner."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from replyx.api.deps import Ctx, CurrentOperator
from replyx.api.schemas import AssistantIn, AssistantPatch
from replyx.domain import assistants

router = APIRouter(prefix="/api/assistants", tags=["assistants"])


def base_url(request: Request, public_url: str) -> str:
    """Where visitors reach this server: PUBLIC_URL, or the URL this request came to."""
    return public_url or str(request.base_url)


@router.post("", status_code=201)
async def create_assistant(body: AssistantIn, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """Create an assistant; the answer carries its site token."""
    assistant = await assistants.create(ctx, owner_id=operator.owner_id, fields=body.model_dump(mode="json"))
    return assistants.describe(ctx, assistant)


@router.get("")
async def list_assistants(ctx: Ctx, operator: CurrentOperator) -> list[dict[str, Any]]:
    """Every assistant of the owner."""
    return [assistants.describe(ctx, a) for a in await assistants.list_for_owner(ctx, operator.owner_id)]


@router.get("/{assistant_id}")
async def get_assistant(assistant_id: int, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """One assistant."""
    assistant = await assistants.get_for_owner(ctx, assistant_id=assistant_id, owner_id=operator.owner_id)
    return assistants.describe(ctx, assistant)


@router.patch("/{assistant_id}")
async def patch_assistant(
    assistant_id: int, body: AssistantPatch, ctx: Ctx, operator: CurrentOperator
) -> dict[str, Any]:
    """Change an assistant's settings."""
    fields = body.model_dump(mode="json", exclude_unset=True)
    assistant = await assistants.update(ctx, assistant_id=assistant_id, owner_id=operator.owner_id, fields=fields)
    return assistants.describe(ctx, assistant)


@router.post("/{assistant_id}/rotate-token")
async def rotate_token(assistant_id: int, ctx: Ctx, operator: CurrentOperator) -> dict[str, Any]:
    """Replace the site token; the old one stops working."""
    assistant = await assistants.rotate_token(ctx, assistant_id=assistant_id, owner_id=operator.owner_id)
    return assistants.describe(ctx, assistant)


@router.get("/{assistant_id}/embed-code")
async def embed_code(assistant_id: int, request: Request, ctx: Ctx, operator: CurrentOperator) -> dict[str, str]:
    """The script tag to paste into a site."""
    assistant = await assistants.get_for_owner(ctx, assistant_id=assistant_id, owner_id=operator.owner_id)
    code = assistants.embed_code(ctx, assistant, base_url(request, ctx.settings.public_url))
    return {"embed_code": code, "site_token": assistants.site_token(ctx, assistant)}
