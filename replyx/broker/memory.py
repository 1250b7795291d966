"""A broker inside one process: publish hands the event straight to the local handler."""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from typing import Any

from replyx import wire
from replyx.broker.base import FEED_HISTORY, Broker
from replyx.diagnostics import metrics
from replyx.wire import FeedPosition


class MemoryBroker(Broker):
    """Single-process fan-out; running several workers with it is refused at start."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._topics: set[str] = set()
        self._stats: dict[str, tuple[float, str]] = {}
        # One epoch for the process's lifetime: a restart loses every feed's history.
        self._epoch = uuid.uuid4().hex[:12]
        self._feeds: dict[str, deque[str]] = {}
        self._offsets: dict[str, int] = {}

    async def start(self) -> None:
        """Nothing to connect: always up."""
        metrics.BROKER_CONNECTED.set(1)

    async def publish(self, topic: str, data: str) -> None:
        """Deliver synchronously, so events leave in the order they were published."""
        if self.is_feed(topic):
            offset = self._offsets.get(topic, 0) + 1
            self._offsets[topic] = offset
            data = wire.stamp(data, FeedPosition(self._epoch, offset))
            # Kept as plain text: the event's dicts stay out of the history (and the collector's way).
            self._feeds.setdefault(topic, deque(maxlen=FEED_HISTORY)).append(str(data))
        if topic in self._topics:
            self.on_message(topic, data)

    async def feed_position(self, topic: str) -> FeedPosition:
        """The feed's last offset in this process's epoch."""
        return FeedPosition(self._epoch, self._offsets.get(topic, 0))

    async def feed_since(self, topic: str, since: FeedPosition) -> list[str] | None:
        """The kept events after ``since``; None for another epoch or a position past what is kept."""
        last = self._offsets.get(topic, 0)
        if since.epoch != self._epoch or since.offset > last:
            return None
        kept = list(self._feeds.get(topic, ()))
        first = last - len(kept) + 1
        if since.offset + 1 < first:
            return None
        return kept[since.offset + 1 - first :]

    async def subscribe(self, topic: str) -> None:
        """Mark the topic as listened to."""
        self._topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        """Forget the topic."""
        self._topics.discard(topic)

    async def close(self) -> None:
        """Nothing to release."""
        self._topics.clear()

    @property
    def subscriptions(self) -> int:
        """Topics currently listened to."""
        return len(self._topics)

    async def store_node_stats(self, node_id: str, stats: dict[str, Any], ttl: float) -> None:
        """Keep the figures with their expiry time."""
        self._stats[node_id] = (time.monotonic() + ttl, json.dumps(stats))

    async def load_node_stats(self) -> list[dict[str, Any]]:
        """Figures not yet expired."""
        now = time.monotonic()
        return [json.loads(data) for expires, data in self._stats.values() if expires > now]
