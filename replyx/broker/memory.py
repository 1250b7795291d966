"""A broker inside one process: publish hands the event straight to the local handler."""

from __future__ import annotations

import json
import time
from typing import Any

from replyx.broker.base import Broker
from replyx.diagnostics import metrics


class MemoryBroker(Broker):
    """Single-process fan-out; running several workers with it is refused at start."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._topics: set[str] = set()
        self._stats: dict[str, tuple[float, str]] = {}

    async def start(self) -> None:
        """Nothing to connect: always up."""
        metrics.BROKER_CONNECTED.set(1)

    async def publish(self, topic: str, data: str) -> None:
        """Deliver synchronously, so events leave in the order they were published."""
        if topic in self._topics:
            self.on_message(topic, data)

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
