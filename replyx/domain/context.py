"""What domain functions need at hand, built once by the app's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from replyx.broker.base import Broker
from replyx.config import Settings
from replyx.db.engine import SessionFactory
from replyx.domain.login_throttle import LoginThrottle
from replyx.domain.passwords import Passwords
from replyx.domain.ratelimit import SlidingWindowLimiter

if TYPE_CHECKING:
    from replyx.assistant.responder import Responder
    from replyx.domain.writer import MessageWriter


@dataclass
class ChatContext:
    """Storage, broker, limits and the responder seam shared by every write."""

    settings: Settings
    sessions: SessionFactory
    broker: Broker
    limiter: SlidingWindowLimiter
    # Every message of the process is stored and published through it, in batches.
    writer: MessageWriter
    responder: Responder | None = None
    passwords: Passwords = field(default_factory=Passwords)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Limits counted per hour (new dialogs, handoff requests); ``limiter`` counts per rate_limit_window.
    hourly: SlidingWindowLimiter = field(default_factory=lambda: SlidingWindowLimiter(3600.0))
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task, keeping a reference until it ends."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
