"""The seam between the write path and automatic answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from replyx.domain.context import ChatContext


class Responder(Protocol):
    """Called in the background after a visitor message is stored in state ``ai``.

    It answers through the one write path (sender ``assistant``) and must never
    block the event loop.
    """

    async def respond(self, ctx: ChatContext, *, dialog_id: int, message: dict[str, Any]) -> None:
        """Answer the visitor's message, or do nothing."""
