"""Cluster-wide socket figures: each node stores its snapshot in the broker with a short TTL."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from replyx.broker.base import Broker
from replyx.realtime.hub import Hub
from replyx.realtime.protocol import POOLS

log = logging.getLogger("replyx.stats")

# Nodes refresh every interval; a node silent for TTL (a few intervals) is gone.
REFRESH_INTERVAL = 2.0
NODE_TTL = 6.0


async def publish_forever(hub: Hub, broker: Broker) -> None:
    """Store this node's snapshot every REFRESH_INTERVAL seconds, and read the others', until cancelled."""
    while True:
        try:
            await broker.store_node_stats(hub.node_id, hub.snapshot(), NODE_TTL)
            hub.note_cluster(await broker.load_node_stats())
        except Exception as exc:
            log.debug("Could not store or load node stats: %r", exc)
        await asyncio.sleep(REFRESH_INTERVAL)


def _visible(snapshot: dict[str, Any], owner_id: int) -> dict[str, Any]:
    # An operator sees their own owner's sockets only: no other tenant's counts, not even in totals.
    # The node's health figures (topics, subscriptions, tasks) stay: they are for leak checks.
    dialogs = {
        dialog_id: entry["pools"]
        for dialog_id, entry in snapshot.get("dialogs", {}).items()
        if entry.get("owner_id") == owner_id
    }
    inbox = snapshot.get("inboxes", {}).get(str(owner_id), 0)
    pools = dict.fromkeys(POOLS, 0)
    for counts in dialogs.values():
        for pool, count in counts.items():
            pools[pool] = pools.get(pool, 0) + count
    pools["inbox"] += inbox
    return {
        "node_id": snapshot["node_id"],
        "pid": snapshot.get("pid"),
        "updated_at": snapshot.get("updated_at"),
        "connections": sum(pools.values()),
        "pools": pools,
        "dialogs": dialogs,
        "inbox": inbox,
        "broker_connected": snapshot.get("broker_connected", False),
        "topics": snapshot.get("topics", 0),
        "subscriptions": snapshot.get("subscriptions", 0),
        "tasks": snapshot.get("tasks", 0),
    }


async def cluster_stats(hub: Hub, broker: Broker, *, owner_id: int) -> dict[str, Any]:
    """Every live node's figures (this node's fresh), with cluster totals."""
    try:
        stored = await broker.load_node_stats()
    except Exception:
        stored = []
    nodes = {s["node_id"]: s for s in stored}
    nodes[hub.node_id] = hub.snapshot()
    visible = [_visible(nodes[k], owner_id) for k in sorted(nodes)]
    pools = {pool: sum(n["pools"].get(pool, 0) for n in visible) for pool in POOLS}
    dialogs: dict[str, dict[str, int]] = {}
    for node in visible:
        for dialog_id, counts in node["dialogs"].items():
            total = dialogs.setdefault(dialog_id, {})
            for pool, count in counts.items():
                total[pool] = total.get(pool, 0) + count
    return {
        "node_id": hub.node_id,
        "nodes": visible,
        "total": {"connections": sum(pools.values()), "pools": pools, "dialogs": dialogs},
    }
