"""The broker interface: publish to a topic, receive the topics this process subscribed to.

Some topics are feeds (``replyx.wire.is_feed_topic``: the owners' inboxes). The
broker numbers a feed's events as it publishes them (an offset, under an epoch
that changes whenever the feed's history is lost) and keeps the last
``FEED_HISTORY`` of them, so a socket that missed some can be given them again,
or be told that it cannot (docs/realtime.md, "Feeds").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from replyx.wire import FeedPosition

MessageHandler = Callable[[str, str], None]
ReconnectHandler = Callable[[], Awaitable[None]]

# Events kept per feed: an inbox that reconnects within a few minutes of normal traffic resumes
# from its position; after more than this it re-reads its list (a `resync`).
FEED_HISTORY = 1000
# A feed nobody published to for this long forgets its history (a new epoch on the next event).
FEED_TTL = 3600.0


class Broker(ABC):
    """Fan-out between processes; received events go to ``on_message(topic, data)``.

    ``on_reconnect`` is awaited after a lost upstream connection is back, so the
    hub can re-read from the database what its sockets may have missed.
    """

    def __init__(
        self,
        *,
        on_message: MessageHandler,
        on_reconnect: ReconnectHandler,
        is_feed: Callable[[str], bool] = lambda topic: False,
    ) -> None:
        self.on_message = on_message
        self.on_reconnect = on_reconnect
        self.is_feed = is_feed

    @abstractmethod
    async def start(self) -> None:
        """Connect upstream."""

    @abstractmethod
    async def publish(self, topic: str, data: str) -> None:
        """Send one event to every process subscribed to the topic."""

    async def publish_many(self, events: Sequence[tuple[str, str]]) -> None:
        """Send several ``(topic, data)`` events in order; a broker may send them together."""
        for topic, data in events:
            await self.publish(topic, data)

    @abstractmethod
    async def subscribe(self, topic: str) -> None:
        """Start receiving the topic's events in this process."""

    @abstractmethod
    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving the topic's events in this process."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @property
    def connected(self) -> bool:
        """Whether events published now will be delivered."""
        return True

    @property
    def subscriptions(self) -> int:
        """How many topics this process is subscribed to (for leak checks)."""
        return 0

    @abstractmethod
    async def feed_position(self, topic: str) -> FeedPosition:
        """Where the feed stands now: its epoch and the offset of its last event (0: none yet)."""

    @abstractmethod
    async def feed_since(self, topic: str, since: FeedPosition) -> list[str] | None:
        """The feed's events after ``since``, in order; None when its history no longer covers them."""

    @abstractmethod
    async def store_node_stats(self, node_id: str, stats: dict[str, Any], ttl: float) -> None:
        """Make this node's connection figures visible to the cluster for ``ttl`` seconds."""

    @abstractmethod
    async def load_node_stats(self) -> list[dict[str, Any]]:
        """Every live node's figures, as last stored."""
