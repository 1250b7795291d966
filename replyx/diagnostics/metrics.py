"""Prometheus metrics of replyx; multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set.

`replyx serve --workers N` sets that directory before the workers start, so
every worker writes its figures there and /metrics sums them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONNECTIONS = Gauge("replyx_connections", "Open WebSocket connections by pool.", ["pool"], multiprocess_mode="livesum")
CONNECTS = Counter("replyx_connects_total", "Accepted and authorized WebSocket connections.", ["pool"])
DISCONNECTS = Counter(
    "replyx_disconnects_total", "Closed WebSocket connections by pool and close code.", ["pool", "code"]
)
REFUSED = Counter("replyx_refused_connections_total", "Sockets closed before serving, by close code.", ["pool", "code"])
MESSAGES_STORED = Counter("replyx_messages_stored_total", "Messages committed, by sender.", ["sender"])
STORE_BATCH_SIZE = Histogram(
    "replyx_store_batch_messages",
    "Messages stored per transaction (the write path commits the waiting messages together).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
PUSHES = Counter("replyx_pushes_total", "Events offered to local sockets (one per socket).")
DELIVERY_LATENCY = Histogram(
    "replyx_delivery_latency_seconds",
    "From commit of a message to its hand-off to this node's sockets.",
    buckets=_LATENCY_BUCKETS,
)
REPLAYED = Counter("replyx_replayed_messages_total", "Messages sent from storage: replays on connect and gap fills.")
FEED_RESYNCS = Counter(
    "replyx_feed_resyncs_total", "Inbox sockets told to re-read their list: their feed no longer had what they missed."
)
LOGIN_FAILURES = Counter(
    "replyx_login_failures_total", "Failed logins: wrong credentials, or refused while throttled.", ["reason"]
)
RATE_LIMITED = Counter("replyx_rate_limited_total", "Messages refused by a rate limit, by sender.", ["sender"])
BROKER_RECONNECTS = Counter("replyx_broker_reconnects_total", "Times the broker connection came back after a loss.")
BROKER_CONNECTED = Gauge("replyx_broker_connected", "1 while the broker connection is up.", multiprocess_mode="livemin")
RESPONDER_LATENCY = Histogram(
    "replyx_responder_latency_seconds",
    "Time the assistant took to answer, by responder.",
    ["responder"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
RESPONDER_FAILURES = Counter(
    "replyx_responder_failures_total", "Assistant answers that ended in the fallback, by cause.", ["cause"]
)


def observe_delivery(created_at: str) -> None:
    """Record the age of a message (its ISO ``created_at``) as it reaches this node's sockets."""
    try:
        stored = _instant(created_at)
    except (ValueError, AttributeError, TypeError):
        return
    DELIVERY_LATENCY.observe(max(0.0, (datetime.now(UTC) - stored).total_seconds()))


# The messages of one batch share their commit time.
@lru_cache(maxsize=256)
def _instant(created_at: str) -> datetime:
    return datetime.fromisoformat(created_at.replace("Z", "+00:00"))


def exposition() -> tuple[bytes, str]:
    """The metrics page: this process's registry, or every worker's when multiprocess."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
