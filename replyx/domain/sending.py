"""A visitor or an operator sends a message: limits, resends, the operator's takeover, the assistant's turn.

The endpoints (REST and sockets) call ``post_message`` with the author they
authenticated; it stores through ``append_message`` like every other message.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError

from replyx.diagnostics import metrics
from replyx.domain import handoff
from replyx.domain.context import ChatContext
from replyx.domain.errors import RateLimited, Unavailable
from replyx.domain.messages import (
    Appended,
    Author,
    append_message,
    find_by_client_id,
    validate_client_id,
    validate_text,
)
from replyx.domain.status import OPEN_STATUSES, DialogStatus

log = logging.getLogger("replyx.messages")


async def post_message(
    ctx: ChatContext, *, dialog_id: int, author: Author, text: object, client_id: object = None
) -> tuple[dict[str, Any], bool]:
    """Validate, store and publish one message; returns (message, created).

    A repeated client_id returns the stored message with created=False and
    publishes nothing.
    """
    text = validate_text(ctx, text)
    client_id = validate_client_id(client_id)
    try:
        refusal = _over_limit(ctx, author)
        if refusal is not None:
            # A resend of a message already stored is answered, never refused.
            existing = await find_by_client_id(ctx, dialog_id, client_id) if client_id is not None else None
            if existing is None:
                metrics.RATE_LIMITED.labels(author.sender).inc()
                raise RateLimited(f"{refusal} per {ctx.settings.rate_limit_window:g} s")
            return existing, False
        if author.sender == "operator":
            appended = await _operator_reply(ctx, dialog_id, author, text, client_id)
        else:
            appended = await append_message(ctx, dialog_id=dialog_id, author=author, text=text, client_id=client_id)
    except (DBAPIError, OSError) as exc:
        # OSError: a database that is down refuses the connection before any DBAPI error can arise.
        log.warning("Storage unavailable while posting to dialog %s: %s", dialog_id, type(exc).__name__)
        raise Unavailable("storage is unavailable, retry shortly") from exc
    message = appended.or_raise()
    if appended.created and author.sender == "user" and appended.status == DialogStatus.AI and ctx.responder:
        ctx.spawn(ctx.responder.respond(ctx, dialog_id=dialog_id, message=message))
    return message, appended.created


async def _operator_reply(
    ctx: ChatContext, dialog_id: int, author: Author, text: str, client_id: str | None
) -> Appended:
    """An operator writes into a dialog they hold; into one the assistant holds, they take it over first.

    The first write asks for a held dialog, so the common reply needs no read of
    the status before it; a dialog still with the assistant (or waiting for a
    human) refuses it, and the operator's takeover notice goes in before the reply.
    """
    appended = await append_message(
        ctx, dialog_id=dialog_id, author=author, text=text, client_id=client_id, in_statuses=(DialogStatus.OPERATOR,)
    )
    if appended.message is None and appended.status in (DialogStatus.AI, DialogStatus.REQUESTED):
        await handoff.take_over(ctx, dialog_id=dialog_id, author=author)
        appended = await append_message(
            ctx, dialog_id=dialog_id, author=author, text=text, client_id=client_id, in_statuses=OPEN_STATUSES
        )
    return appended


def _over_limit(ctx: ChatContext, author: Author) -> str | None:
    """Which message limit this author is over (counting this message when not), or None."""
    settings = ctx.settings
    limit = settings.operator_rate_limit if author.sender == "operator" else settings.visitor_rate_limit
    if author.rate_key is not None and not ctx.limiter.hit(author.rate_key, limit):
        return f"too many messages: at most {limit}"
    address_limit = settings.visitor_address_rate_limit
    if author.address is not None and not ctx.limiter.hit(f"address:{author.address}", address_limit):
        return f"too many messages from this address: at most {address_limit}"
    return None
