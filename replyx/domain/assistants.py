"""Assistants of an owner: settings, knowledge, site token and embed code."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select

from replyx.db.models import MAX_ID, Assistant
from replyx.domain import auth
from replyx.domain.context import ChatContext
from replyx.domain.errors import NotFound
from replyx.wire import iso

EDITABLE = ("name", "greeting", "allowed_domains", "faq", "knowledge", "instructions", "llm_model")


def site_token(ctx: ChatContext, assistant: Assistant) -> str:
    """The assistant's current site token."""
    return auth.issue_site_token(ctx.settings.secret_key, assistant_id=assistant.id, version=assistant.token_version)


def describe(ctx: ChatContext, assistant: Assistant) -> dict[str, Any]:
    """The wire form of an assistant for its owner."""
    return {
        "id": assistant.id,
        "name": assistant.name,
        "greeting": assistant.greeting,
        "allowed_domains": assistant.allowed_domains,
        "faq": assistant.faq,
        "knowledge": assistant.knowledge,
        "instructions": assistant.instructions,
        "llm_model": assistant.llm_model,
        "site_token": site_token(ctx, assistant),
        "created_at": iso(assistant.created_at),
    }


async def create(ctx: ChatContext, *, owner_id: int, fields: dict[str, Any]) -> Assistant:
    """A new assistant of the owner."""
    assistant = Assistant(
        owner_id=owner_id,
        name=fields["name"],
        greeting=fields.get("greeting") or "",
        allowed_domains=list(fields.get("allowed_domains") or []),
        faq=list(fields.get("faq") or []),
        knowledge=fields.get("knowledge") or "",
        instructions=fields.get("instructions") or "",
        llm_model=fields.get("llm_model") or "",
    )
    async with ctx.sessions() as session, session.begin():
        session.add(assistant)
    return assistant


async def list_for_owner(ctx: ChatContext, owner_id: int) -> list[Assistant]:
    """The owner's assistants, oldest first."""
    async with ctx.sessions() as session:
        rows = await session.scalars(select(Assistant).where(Assistant.owner_id == owner_id).order_by(Assistant.id))
        return list(rows)


async def get_for_owner(ctx: ChatContext, *, assistant_id: int, owner_id: int) -> Assistant:
    """The assistant if it is the owner's; NotFound otherwise, as for a missing one."""
    if not 0 < assistant_id <= MAX_ID:
        raise NotFound("assistant not found")
    async with ctx.sessions() as session:
        assistant = await session.get(Assistant, assistant_id)
    if assistant is None or assistant.owner_id != owner_id:
        raise NotFound("assistant not found")
    return assistant


async def update(ctx: ChatContext, *, assistant_id: int, owner_id: int, fields: dict[str, Any]) -> Assistant:
    """Change the given fields of the owner's assistant."""
    await get_for_owner(ctx, assistant_id=assistant_id, owner_id=owner_id)
    async with ctx.sessions() as session, session.begin():
        assistant = await session.get(Assistant, assistant_id)
        assert assistant is not None
        for key in EDITABLE:
            if key in fields and fields[key] is not None:
                setattr(assistant, key, fields[key])
    return assistant


async def rotate_token(ctx: ChatContext, *, assistant_id: int, owner_id: int) -> Assistant:
    """Issue a new site token version; every older token stops working at once."""
    await get_for_owner(ctx, assistant_id=assistant_id, owner_id=owner_id)
    async with ctx.sessions() as session, session.begin():
        assistant = await session.get(Assistant, assistant_id)
        assert assistant is not None
        assistant.token_version += 1
    return assistant


def embed_code(ctx: ChatContext, assistant: Assistant, base_url: str) -> str:
    """The script tag a site pastes into its pages."""
    src = html.escape(f"{base_url.rstrip('/')}/widget.js", quote=True)
    token = html.escape(site_token(ctx, assistant), quote=True)
    return f'<script src="{src}" data-site-token="{token}" async></script>'
