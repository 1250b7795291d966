"""What one visitor address (and one assistant) may do per hour: new dialogs and requests for a human.

Counted in this process, like the message limits: behind several processes the
effective limit is that many times higher, still bounded (docs/security.md).
"""

from __future__ import annotations

import math

from replyx.diagnostics import metrics
from replyx.domain.context import ChatContext
from replyx.domain.errors import RateLimited


def count_new_dialog(ctx: ChatContext, *, assistant_id: int, address: str) -> None:
    """Count a new dialog from this address to this assistant, or RateLimited."""
    settings = ctx.settings
    _hit(ctx, f"dialogs:address:{address}", settings.dialogs_per_address, "new conversations from this address")
    _hit(ctx, f"dialogs:assistant:{assistant_id}", settings.dialogs_per_assistant, "new conversations for this chat")


def count_handoff(ctx: ChatContext, *, address: str) -> None:
    """Count a visitor's request for a human from this address, or RateLimited."""
    _hit(ctx, f"handoffs:address:{address}", ctx.settings.handoffs_per_address, "requests for a human")


def _hit(ctx: ChatContext, key: str, limit: int, what: str) -> None:
    if ctx.hourly.hit(key, limit):
        return
    metrics.RATE_LIMITED.labels("visitor").inc()
    wait = math.ceil(ctx.hourly.retry_after(key))
    raise RateLimited(f"too many {what}: at most {limit} per hour, retry in {wait} s", retry_after=wait)
