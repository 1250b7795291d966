"""Brokers carry events between processes; pick one with ``create_broker``."""

from __future__ import annotations

from collections.abc import Callable

from replyx.broker.base import Broker, MessageHandler, ReconnectHandler
from replyx.broker.memory import MemoryBroker


def create_broker(
    url: str,
    *,
    on_message: MessageHandler,
    on_reconnect: ReconnectHandler,
    is_feed: Callable[[str], bool] = lambda topic: False,
) -> Broker:
    """The broker named by the URL: ``memory://`` or ``redis://...``."""
    if url.startswith("memory://"):
        return MemoryBroker(on_message=on_message, on_reconnect=on_reconnect, is_feed=is_feed)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from replyx.broker.redis import RedisBroker

        return RedisBroker(url, on_message=on_message, on_reconnect=on_reconnect, is_feed=is_feed)
    raise ValueError(f"unsupported broker URL scheme: {url.split(':', 1)[0]!r}")


__all__ = ["Broker", "MessageHandler", "ReconnectHandler", "create_broker"]
