"""The hub: this process's sockets, grouped by broker topic.

It subscribes a topic upstream when the first local socket arrives and
unsubscribes when the last one leaves; events from the broker are parsed once
and offered to every local socket of the topic. It never sends on its own:
only what comes from the broker (or from storage, to fill gaps) reaches sockets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from replyx import wire
from replyx.broker.base import Broker
from replyx.diagnostics import metrics
from replyx.realtime import protocol
from replyx.realtime.connection import Connection
from replyx.wire import FeedPosition

log = logging.getLogger("replyx.hub")

MessageFetcher = Callable[[int, int], Awaitable[list[dict[str, Any]]]]
# Given {operator id: a session version} of local sockets, each operator's current version (None: none).
SessionChecker = Callable[[dict[int, int]], Awaitable[dict[int, int | None]]]

# How long a socket waits for a missing seq to arrive from the broker before
# reading it from storage: publishes of concurrent writers may cross in flight.
GAP_WAIT = 0.2
# Storage errors while filling a gap are retried a few times, backing off, before giving up
# (the next out-of-order event triggers another fill).
FILL_ATTEMPTS = 3
FILL_RETRY_DELAY = 1.0
# Seconds between comparisons of local operator sockets' sessions with storage.
SESSION_CHECK_INTERVAL = 30.0
# How long a resync waits for a socket that is still replaying to go live.
REPLAY_WAIT = 30.0
VISITOR_POOLS = ("site", "widget")


class Hub:
    """Local connections of this node and the topics they listen to."""

    def __init__(
        self, *, node_id: str, fetch_messages: MessageFetcher, check_sessions: SessionChecker | None = None
    ) -> None:
        self.node_id = node_id
        self.fetch_messages = fetch_messages
        self.check_sessions = check_sessions
        self.broker: Broker | None = None
        self.connections: set[Connection] = set()
        self.topics: dict[str, set[Connection]] = {}
        self._subscribing: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last: tuple[str, Any, bytes] = ("", None, b"")
        self.remote_visitor_dialogs: set[int] = set()
        self.started_at = time.time()

    def bind(self, broker: Broker) -> None:
        """Attach the broker whose events this hub distributes."""
        self.broker = broker

    async def start(self) -> None:
        """Listen to the cluster's control topic (sessions that ended), whatever sockets there are."""
        assert self.broker is not None
        await self.broker.subscribe(wire.CONTROL_TOPIC)

    async def attach(self, conn: Connection) -> None:
        """Register a socket, subscribing its topic upstream if it is the first here."""
        assert self.broker is not None
        topic = conn.topic
        if topic in self._subscribing:
            await asyncio.shield(self._subscribing[topic])
        if topic not in self.topics:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._subscribing[topic] = future
            self.topics[topic] = set()
            try:
                await self.broker.subscribe(topic)
            except BaseException as exc:
                if not self.topics[topic]:
                    del self.topics[topic]
                future.set_exception(exc)
                future.exception()
                raise
            finally:
                del self._subscribing[topic]
            if not future.done():
                future.set_result(None)
        self.topics[topic].add(conn)
        self.connections.add(conn)

    async def detach(self, conn: Connection) -> None:
        """Forget a socket; unsubscribe upstream when it was the last of its topic."""
        self.connections.discard(conn)
        topic = conn.topic
        listeners = self.topics.get(topic)
        if listeners is None:
            return
        listeners.discard(conn)
        if not listeners and topic not in self._subscribing:
            del self.topics[topic]
            assert self.broker is not None
            try:
                await self.broker.unsubscribe(topic)
            except Exception:
                log.warning("Unsubscribe from %s failed; the broker will drop it on reconnect", topic)

    def dispatch(self, topic: str, data: str) -> None:
        """Offer one broker event to every local socket of its topic."""
        if topic == wire.CONTROL_TOPIC:
            self._control(data)
            return
        listeners = self.topics.get(topic)
        if not listeners:
            return
        if data == self._last[0]:
            # The same event follows on the owner's topic: parse and frame it once.
            event, frame = self._last[1], self._last[2]
        else:
            if isinstance(data, wire.EventText):
                event = data.event
            else:
                try:
                    event = json.loads(data)
                except ValueError:
                    log.error("Dropped a malformed event on %s", topic)
                    return
            frame = protocol.text_frame(data)
            self._last = (data, event, frame)
        if event.get("type") == "message" and topic.startswith("dialog."):
            self._log_push(event["dialog_id"], listeners)
            metrics.observe_delivery(event["message"].get("created_at", ""))
        metrics.PUSHES.inc(len(listeners))
        for conn in tuple(listeners):
            conn.offer(event, data, frame)

    def _control(self, data: str) -> None:
        event = getattr(data, "event", None) or json.loads(data)
        if event.get("type") == "sessions_ended":
            self.end_sessions({int(event["operator_id"]): int(event["version"])})

    def end_sessions(self, current: dict[int, int | None]) -> None:
        """Close with 4001 every local socket of these operators whose session is not the current one."""
        ended = [
            c
            for c in self.connections
            if c.session is not None and c.session[0] in current and c.session[1] != current[c.session[0]]
        ]
        for conn in ended:
            conn.fail(protocol.UNAUTHORIZED)
        if ended:
            operators = sorted({c.session[0] for c in ended if c.session is not None})
            log.info("Closed %d sockets of operators whose sessions ended: %s", len(ended), operators)

    async def recheck_sessions(self) -> None:
        """Compare the sessions of local operator sockets with storage, closing those that ended.

        Run after the broker is back (an announcement may have been lost with the link) and every
        ``SESSION_CHECK_INTERVAL`` (a command on another machine may have ended one unannounced).
        """
        sessions = {c.session[0]: c.session[1] for c in self.connections if c.session is not None}
        if not sessions or self.check_sessions is None:
            return
        try:
            current = await self.check_sessions(sessions)
        except Exception:
            log.exception("Checking operators' sessions after the broker came back failed")
            return
        self.end_sessions(current)

    async def check_sessions_forever(self) -> None:
        """``recheck_sessions`` every SESSION_CHECK_INTERVAL seconds until cancelled."""
        while True:
            await asyncio.sleep(SESSION_CHECK_INTERVAL)
            await self.recheck_sessions()

    def _log_push(self, dialog_id: int, listeners: set[Connection]) -> None:
        log.info("Push to dialog %s: %d connections", dialog_id, len(listeners))
        if not any(c.pool in VISITOR_POOLS for c in listeners):
            self._log_no_visitor(dialog_id)

    def _log_no_visitor(self, dialog_id: int) -> None:
        log.info("No SITE/WIDGET WebSocket connections found for dialog %s", dialog_id)
        log.info("Available SITE/WIDGET dialogs: %s", self.visitor_dialogs()[:20])

    def note_stored(self, dialog_id: int) -> None:
        """A message of the dialog was stored here: log it when no visitor socket of it is open anywhere.

        A node that holds a socket of the dialog logs from ``dispatch``; this covers a dialog nobody
        watches, which no node would otherwise mention. The other nodes' sockets are known from
        their last stats snapshot (``stats.REFRESH_INTERVAL``), so a visitor who connected in the
        last seconds elsewhere may not be counted yet.
        """
        if wire.dialog_topic(dialog_id) not in self.topics and dialog_id not in self.remote_visitor_dialogs:
            self._log_no_visitor(dialog_id)

    def note_cluster(self, snapshots: list[dict[str, Any]]) -> None:
        """Remember which dialogs have a visitor socket on another node (from the nodes' snapshots)."""
        self.remote_visitor_dialogs = {
            int(dialog_id)
            for snapshot in snapshots
            if snapshot.get("node_id") != self.node_id
            for dialog_id, entry in snapshot.get("dialogs", {}).items()
            if any(entry.get("pools", {}).get(pool) for pool in VISITOR_POOLS)
        }

    def visitor_dialogs(self) -> list[int]:
        """Dialogs with a site or widget socket on this node."""
        return sorted({c.dialog_id for c in self.connections if c.pool in VISITOR_POOLS and c.dialog_id})

    def count_dialog(self, dialog_id: int) -> int:
        """Sockets of a dialog on this node, all pools."""
        return len(self.topics.get(wire.dialog_topic(dialog_id), ()))

    def count_ip(self, ip: str) -> int:
        """Sockets from one client address on this node."""
        return sum(1 for c in self.connections if c.ip == ip)

    def on_gap(self, conn: Connection) -> None:
        """A socket saw a seq jump: fill it from storage unless the broker catches up first."""
        if conn.filling:
            return
        conn.filling = True
        self._spawn(self._fill_later(conn))

    async def _fill_later(self, conn: Connection) -> None:
        try:
            await asyncio.sleep(GAP_WAIT)
            if conn.has_gap and conn.close_code is None:
                await self._catch_up(conn)
        except Exception:
            log.exception("Filling a gap of dialog %s from storage failed", conn.dialog_id)
        finally:
            conn.filling = False
        # A later seq may have jumped ahead while this fill was reading (on_gap ignored it then).
        if conn.has_gap and conn.close_code is None:
            self.on_gap(conn)

    async def _fill(self, conn: Connection) -> None:
        assert conn.dialog_id is not None
        for attempt in range(FILL_ATTEMPTS):
            try:
                messages = await self._read_since(conn.dialog_id, conn.last_seq)
                break
            except Exception:
                if attempt + 1 == FILL_ATTEMPTS or conn.close_code is not None:
                    raise
                log.warning("Could not re-read dialog %s to fill a gap; retrying", conn.dialog_id)
                await asyncio.sleep(FILL_RETRY_DELAY * (attempt + 1))
        metrics.REPLAYED.inc(len(messages))
        conn.offer_stored(messages)

    async def catch_up_feed(self, conn: Connection) -> None:
        """Give an inbox socket what its feed has after its position, or a ``resync`` when it cannot."""
        assert self.broker is not None
        position = conn.feed_position
        try:
            events = None if position is None else await self.broker.feed_since(conn.topic, position)
            if events is not None:
                conn.offer_feed(events)
                return
            current: FeedPosition | None = await self.broker.feed_position(conn.topic)
        except Exception as exc:
            log.warning("Feed of %s unreadable (%r): the inbox re-reads its list", conn.topic, exc)
            current = None
        metrics.FEED_RESYNCS.inc()
        conn.resync_feed(current)

    async def _read_since(self, dialog_id: int, since: int) -> list[dict[str, Any]]:
        # The fetcher returns one page: keep reading until storage has nothing newer.
        messages: list[dict[str, Any]] = []
        while page := await self.fetch_messages(dialog_id, since):
            messages.extend(page)
            since = page[-1]["seq"]
        return messages

    async def resync(self) -> None:
        """After a broker outage, give every socket what it may have missed.

        Dialog sockets re-read storage (once per dialog); inbox sockets get their feed's events
        after their position, or a ``resync`` when the feed no longer has them.
        """
        by_dialog: dict[int, list[Connection]] = {}
        replaying: list[Connection] = []
        inboxes = 0
        for conn in self.connections:
            if conn.close_code is not None:
                continue
            if conn.dialog_id is None:
                inboxes += 1
                self._spawn(self._catch_up_when_live(conn))
            elif conn.live:
                by_dialog.setdefault(conn.dialog_id, []).append(conn)
            else:
                replaying.append(conn)
        for dialog_id, conns in by_dialog.items():
            try:
                messages = await self._read_since(dialog_id, min(c.last_seq for c in conns))
            except Exception:
                log.exception("Resync of dialog %s failed", dialog_id)
                continue
            for conn in conns:
                # Each socket drops what it already has (seq filter in Connection).
                metrics.REPLAYED.inc(len(messages))
                conn.offer_stored(messages)
        for conn in replaying:
            # Its replay may have read storage before the re-subscription took effect.
            self._spawn(self._catch_up_when_live(conn))
        self._spawn(self.recheck_sessions())
        count = sum(len(c) for c in by_dialog.values()) + len(replaying)
        log.info(
            "Resynced %d sockets from storage and %d inboxes from their feeds after the broker came back",
            count,
            inboxes,
        )

    def _catch_up(self, conn: Connection) -> Awaitable[None]:
        """What a socket missed: a dialog's from storage, an inbox's from its feed (or a resync)."""
        return self._fill(conn) if conn.dialog_id is not None else self.catch_up_feed(conn)

    async def _catch_up_when_live(self, conn: Connection) -> None:
        # A socket still replaying may have read storage (or its feed) before the re-subscription.
        deadline = time.monotonic() + REPLAY_WAIT
        while not conn.live and conn.close_code is None and time.monotonic() < deadline:
            await asyncio.sleep(GAP_WAIT)
        if conn.live and conn.close_code is None:
            try:
                await self._catch_up(conn)
            except Exception:
                log.exception("Resync of %s failed", conn.topic)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def snapshot(self) -> dict[str, Any]:
        """This node's connection figures, for the cluster-wide stats."""
        pools = Counter(c.pool for c in self.connections)
        dialogs: dict[str, dict[str, Any]] = {}
        inboxes: Counter[int] = Counter()
        for conn in self.connections:
            if conn.dialog_id is None:
                inboxes[conn.owner_id] += 1
                continue
            entry = dialogs.setdefault(str(conn.dialog_id), {"owner_id": conn.owner_id, "pools": {}})
            entry["pools"][conn.pool] = entry["pools"].get(conn.pool, 0) + 1
        return {
            "node_id": self.node_id,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": time.time(),
            "connections": len(self.connections),
            "pools": {pool: pools.get(pool, 0) for pool in protocol.POOLS},
            "dialogs": dialogs,
            "inboxes": {str(k): v for k, v in inboxes.items()},
            "subscriptions": self.broker.subscriptions if self.broker else 0,
            # Leak checks: both return to their idle values once every socket has closed.
            "topics": len(self.topics),
            "tasks": len(asyncio.all_tasks()),
            "broker_connected": self.broker.connected if self.broker else False,
        }
