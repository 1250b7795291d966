"""A broker over Redis pub/sub, for several processes on one or many machines.

Each process keeps one subscriber connection (subscribed to the topics of its
local sockets) and a small client for PUBLISH and the node figures. Redis
pub/sub is at-most-once, so the hard part is an outage; see docs/realtime.md
and docs/deployment.md. In short:

* the subscriber link is watched (a PING barrier every few seconds); when it
  drops, the broker keeps its topics, logs the outage once and reconnects with
  capped exponential backoff and jitter;
* after reconnecting it subscribes every topic again, waits until Redis has
  confirmed them, logs the recovery once and awaits ``on_reconnect`` (the hub
  re-reads from storage what its sockets may have missed);
* an event that cannot be published is handed to this process's own sockets
  at once (local delivery keeps working) and queued; it is published again a
  few seconds after this process is back, once every other process has had
  the time to subscribe again (so inboxes, which have no seq to re-read from,
  get it too), marked with this broker's instance id so this process skips
  its own copy. Messages are committed before they are published, so a failed
  publish never fails a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from replyx.broker.base import FEED_HISTORY, FEED_TTL, Broker, MessageHandler, ReconnectHandler
from replyx.diagnostics import metrics
from replyx.wire import FeedPosition

log = logging.getLogger("replyx.broker")

# A refused or unreachable Redis must not hold a request for long: publishes happen on the write path.
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 1.0
# Reconnect delays double from BACKOFF_MIN up to BACKOFF_MAX; attempts are cheap, and a short cap
# bounds how long sockets wait for other processes' events after Redis is back.
BACKOFF_MIN = 0.1
BACKOFF_MAX = 2.0
# A subscriber link that does not answer a PING within HEALTH_TIMEOUT is treated as dead (a silent
# network drop gives no error); checked every HEALTH_INTERVAL seconds.
HEALTH_INTERVAL = 5.0
HEALTH_TIMEOUT = 3.0
# How long subscribe() waits for Redis to confirm before trusting the post-reconnect resync instead.
SUBSCRIBE_TIMEOUT = 2.0
# Events kept for re-publishing during an outage; older ones are dropped (storage still has the
# messages, and every process re-reads them after its own reconnect).
OUTBOX_LIMIT = 10_000
# Held events are re-published this long after this process is back on Redis: every other
# process retries at most every BACKOFF_MAX, so by then all have subscribed again.
REPLAY_GRACE = BACKOFF_MAX + 1.0
# Marks a re-published event: RS + instance id + RS + event. Events themselves are JSON objects.
REPLAY_MARK = "\x1e"

NODES_KEY = "nodes"
NODE_KEY = "node:"
FEED_KEY = "feed:"

# Publishing to a feed: number the event, keep it in the feed's history and publish it, in one
# step, so offsets follow the order in which Redis publishes. A feed whose keys expired (or were
# lost with a Redis restart) starts over under a new epoch. KEYS: offset, epoch, history.
# ARGV: channel, the event without its opening brace, history size, TTL in ms, a fresh epoch,
# and the replay mark to put before the published copy ("" for a first publish).
FEED_PUBLISH = """
local epoch = redis.call('GET', KEYS[2])
if (not epoch) or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[5]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1], KEYS[3])
end
local offset = redis.call('INCR', KEYS[1])
local event = '{"offset":' .. offset .. ',"epoch":"' .. epoch .. '",' .. ARGV[2]
redis.call('RPUSH', KEYS[3], event)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[4]) end
redis.call('PUBLISH', ARGV[1], ARGV[6] .. event)
return offset
"""


def backoff_delay(attempt: int) -> float:
    """Capped exponential delay with jitter, so many processes do not reconnect in lockstep."""
    ceiling = min(BACKOFF_MAX, BACKOFF_MIN * 2.0 ** max(attempt - 1, 0))
    return ceiling * random.uniform(0.5, 1.0)


class RedisBroker(Broker):
    """Fan-out through Redis pub/sub with outage handling; node figures in Redis keys with a TTL."""

    def __init__(
        self,
        url: str,
        *,
        on_message: MessageHandler,
        on_reconnect: ReconnectHandler,
        is_feed: Callable[[str], bool] = lambda topic: False,
    ) -> None:
        super().__init__(on_message=on_message, on_reconnect=on_reconnect, is_feed=is_feed)
        self._url = url
        self._instance = uuid.uuid4().hex
        self._topics: set[str] = set()
        self._client: Redis | None = None
        self._sub_pool: ConnectionPool | None = None
        self._conn: AbstractConnection | None = None
        self._link_up = False
        self._link_was_up = False
        self._link_failed = asyncio.Event()
        self._link_ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._barriers: dict[str, asyncio.Future[None]] = {}
        self._barrier_ids = itertools.count(1)
        self._outbox: deque[tuple[str, str]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        self._overflowed = False
        self._node_ids: set[str] = set()
        self._prefix = "replyx:"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (or, when Redis is unreachable, start degraded and keep reconnecting)."""
        self._client = Redis.from_url(
            self._url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            # One immediate retry replaces a pooled connection that died with a restarted Redis;
            # timeouts are not retried, so a publish waits at most about COMMAND_TIMEOUT.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        # The subscriber blocks on reads for as long as nothing is published: no socket timeout;
        # dead links are found by the PING barrier instead.
        # RESP2 keeps pub/sub replies plain arrays; RESP3 (if the URL asks for it) works too, as pushes.
        self._sub_pool = ConnectionPool.from_url(
            self._url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=None,
            socket_keepalive=True,
            protocol=2,
        )
        # Pub/sub channels are shared by every database of a Redis server: keep deployments on
        # different database numbers apart.
        self._prefix = f"replyx:{self._sub_pool.connection_kwargs.get('db', 0)}:"
        self._runner = asyncio.create_task(self._run(), name="redis-broker")
        await self._first_attempt.wait()

    async def close(self) -> None:
        """Stop reconnecting, drop this node's figures and release connections."""
        for task in (self._runner, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self._drop_link()
        if self._client is not None:
            if self._node_ids and self._down_since is None:
                with contextlib.suppress(RedisError, OSError):
                    keys = [self._prefix + NODE_KEY + node_id for node_id in self._node_ids]
                    await self._client.delete(*keys)
                    await self._client.srem(self._prefix + NODES_KEY, *self._node_ids)
            await self._client.aclose()
        if self._sub_pool is not None:
            await self._sub_pool.disconnect()
        self._topics.clear()

    @property
    def connected(self) -> bool:
        """True when the subscriber link is up and no event waits to be re-published."""
        return self._link_up and not self._outbox

    @property
    def subscriptions(self) -> int:
        """Topics this process listens to (kept across outages)."""
        return len(self._topics)

    # -- publish -----------------------------------------------------------------------------

    async def publish(self, topic: str, data: str) -> None:
        """Publish; when Redis cannot take it, deliver locally now and re-publish later."""
        assert self._client is not None, "start() first"
        if not self._link_up:
            # Redis is known to be away: do not spend a timeout on it.
            self._hold(topic, data)
            return
        try:
            await self._send(self._client, topic, data)
        except (RedisError, OSError) as exc:
            self._outage(f"publish failed: {exc}")
            self._hold(topic, data)

    async def publish_many(self, events: Sequence[tuple[str, str]]) -> None:
        """Publish in one pipeline (one round trip, Redis keeps the order); held like ``publish`` on failure."""
        assert self._client is not None, "start() first"
        if self._link_up:
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for topic, data in events:
                        await self._send(pipe, topic, data)
                    await pipe.execute()
                return
            except (RedisError, OSError) as exc:
                # Some may have gone out: a socket drops a repeated seq, and storage has them all.
                self._outage(f"publish failed: {exc}")
        for topic, data in events:
            self._hold(topic, data)

    async def _send(self, client: Redis | Pipeline, topic: str, data: str, mark: str = "") -> None:
        """PUBLISH (in a pipeline: queue) one event; a feed's event goes through FEED_PUBLISH."""
        if not self.is_feed(topic):
            # A pipeline queues the command and awaits to itself; a client sends it.
            await client.publish(self._channel(topic), mark + data)
            return
        keys = self._feed_keys(topic)
        ttl = int(FEED_TTL * 1000)
        args: list[str | int] = [self._channel(topic), data[1:], FEED_HISTORY, ttl, uuid.uuid4().hex[:12], mark]
        # EVAL, not EVALSHA: nothing to reload after a Redis restart, and no SCRIPT EXISTS round trip
        # per pipeline; Redis caches the compiled script either way.
        await client.eval(FEED_PUBLISH, len(keys), *keys, *args)

    async def feed_position(self, topic: str) -> FeedPosition:
        """The feed's epoch and last offset as Redis holds them (offset 0 before its first event)."""
        assert self._client is not None
        offset, epoch = await self._client.mget(self._feed_keys(topic)[:2])
        return FeedPosition(str(epoch or ""), int(offset or 0))

    async def feed_since(self, topic: str, since: FeedPosition) -> list[str] | None:
        """The feed's kept events after ``since``; None for another epoch or a position not kept."""
        assert self._client is not None
        offset_key, epoch_key, log_key = self._feed_keys(topic)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.mget(offset_key, epoch_key)
            pipe.lrange(log_key, 0, -1)
            (offset, epoch), kept = await pipe.execute()
        last = int(offset or 0)
        if epoch != since.epoch or since.offset > last:
            return None
        first = last - len(kept) + 1
        if since.offset + 1 < first:
            return None
        return [str(event) for event in kept[since.offset + 1 - first :]]

    def _feed_keys(self, topic: str) -> list[str]:
        return [self._prefix + FEED_KEY + topic + part for part in (":offset", ":epoch", ":log")]

    def _hold(self, topic: str, data: str) -> None:
        if topic in self._topics:
            self.on_message(topic, data)
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            if not self._overflowed:
                self._overflowed = True
                log.warning("Redis outbox full (%d events): dropping the oldest; storage still has them", OUTBOX_LIMIT)
        self._outbox.append((topic, data))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="redis-broker-outbox")

    async def _flush(self) -> None:
        assert self._client is not None
        attempt = 0
        while self._outbox:
            # Re-publish once this process is back on Redis, and only after every other process
            # has had the time to subscribe again: pub/sub keeps nothing for late subscribers.
            await self._link_ready.wait()
            await asyncio.sleep(REPLAY_GRACE if attempt == 0 else backoff_delay(attempt))
            try:
                while self._outbox:
                    topic, data = self._outbox[0]
                    await self._send(self._client, topic, data, mark=f"{REPLAY_MARK}{self._instance}{REPLAY_MARK}")
                    # The deque may have been trimmed meanwhile; only drop what was just sent.
                    if self._outbox and self._outbox[0] == (topic, data):
                        self._outbox.popleft()
            except (RedisError, OSError):
                attempt += 1
        if self._link_up:
            self._recovered()

    # -- subscribe ---------------------------------------------------------------------------

    async def subscribe(self, topic: str) -> None:
        """Listen to the topic; returns once Redis confirms (or the link is down: resync covers it)."""
        self._topics.add(topic)
        conn = self._conn
        if conn is None or not self._link_up or not conn.is_connected:
            return
        try:
            await conn.send_command("SUBSCRIBE", self._channel(topic), check_health=False)
            # Replies come in order: once the barrier's PONG is back, the subscription is in effect,
            # so a replay from storage that starts now cannot miss a later publish.
            await self._barrier(conn, SUBSCRIBE_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("Subscribe to %s not confirmed (%r); the reconnect will subscribe it", topic, exc)
            if conn is self._conn:
                self._link_failed.set()

    async def unsubscribe(self, topic: str) -> None:
        """Stop listening to the topic."""
        self._topics.discard(topic)
        conn = self._conn
        if conn is None or not self._link_up or not conn.is_connected:
            return
        try:
            await conn.send_command("UNSUBSCRIBE", self._channel(topic), check_health=False)
        except (RedisError, OSError) as exc:
            log.debug("Unsubscribe from %s failed (%r); the reconnect will not subscribe it", topic, exc)

    # -- the subscriber link -----------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect_and_listen()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                self._outage(str(exc) or type(exc).__name__)
            except Exception:
                log.exception("Redis subscriber failed unexpectedly; reconnecting")
                self._outage("unexpected error")
            finally:
                await self._drop_link()
                self._first_attempt.set()
            attempt = 1 if self._link_was_up else attempt + 1
            await asyncio.sleep(backoff_delay(attempt))

    async def _connect_and_listen(self) -> None:
        assert self._sub_pool is not None
        self._link_was_up = False
        self._link_failed.clear()
        conn = self._sub_pool.make_connection()
        self._conn = conn
        await asyncio.wait_for(conn.connect(), CONNECT_TIMEOUT * 2)
        reader = asyncio.create_task(self._read(conn), name="redis-broker-reader")
        failed = asyncio.create_task(self._link_failed.wait())
        try:
            topics = sorted(self._topics)
            if topics:
                await conn.send_command("SUBSCRIBE", *(self._channel(t) for t in topics), check_health=False)
            await self._barrier(conn, HEALTH_TIMEOUT)
            self._link_up = True
            metrics.BROKER_CONNECTED.set(1)
            self._link_ready.set()
            self._link_was_up = True
            self._first_attempt.set()
            # Topics added or removed while resubscribing: bring Redis in line with local state.
            await self._reconcile(conn, set(topics))
            if self._down_since is not None:
                self._recovered()
                try:
                    await self.on_reconnect()
                except Exception:
                    log.exception("Resync after the Redis reconnect failed")
            while True:
                done, _ = await asyncio.wait({reader, failed}, timeout=HEALTH_INTERVAL, return_when="FIRST_COMPLETED")
                if reader in done:
                    reader.result()
                    raise RedisConnectionError("subscriber connection closed")
                if failed in done:
                    raise RedisConnectionError("a subscription was not confirmed in time")
                await self._barrier(conn, HEALTH_TIMEOUT)
        finally:
            for task in (reader, failed):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _reconcile(self, conn: AbstractConnection, subscribed: set[str]) -> None:
        added = self._topics - subscribed
        removed = subscribed - self._topics
        if added:
            await conn.send_command("SUBSCRIBE", *(self._channel(t) for t in added), check_health=False)
        if removed:
            await conn.send_command("UNSUBSCRIBE", *(self._channel(t) for t in removed), check_health=False)
        if added:
            await self._barrier(conn, HEALTH_TIMEOUT)

    async def _read(self, conn: AbstractConnection) -> None:
        prefix_length = len(self._prefix)
        while True:
            reply = await conn.read_response(push_request=True)
            if isinstance(reply, list) and reply:
                kind = reply[0]
                if kind == "message":
                    self._deliver(reply[1][prefix_length:], reply[2])
                elif kind == "pong":
                    self._release(reply[1])
            elif isinstance(reply, str):
                # PING outside subscribed mode (no topics) answers with the bare token.
                self._release(reply)

    def _deliver(self, topic: str, data: str) -> None:
        if data.startswith(REPLAY_MARK):
            origin, _, data = data[1:].partition(REPLAY_MARK)
            if origin == self._instance:
                return  # delivered locally when its first publish failed
        try:
            self.on_message(topic, data)
        except Exception:
            log.exception("Handling an event of %s failed", topic)

    async def _barrier(self, conn: AbstractConnection, timeout: float) -> None:
        token = f"replyx-barrier-{next(self._barrier_ids)}"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barriers[token] = future
        try:
            await conn.send_command("PING", token, check_health=False)
            await asyncio.wait_for(future, timeout)
        finally:
            self._barriers.pop(token, None)

    def _release(self, token: str) -> None:
        future = self._barriers.get(token)
        if future is not None and not future.done():
            future.set_result(None)

    async def _drop_link(self) -> None:
        self._link_up = False
        self._link_ready.clear()
        conn, self._conn = self._conn, None
        for future in self._barriers.values():
            if not future.done():
                future.set_exception(RedisConnectionError("subscriber connection lost"))
                future.exception()
        self._barriers.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    # -- outage bookkeeping: one log line when it starts, one when it ends -------------------

    def _outage(self, reason: str) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        metrics.BROKER_CONNECTED.set(0)
        if not self._first_attempt.is_set():
            log.warning(
                "Redis broker unavailable at start (%s); serving with local delivery only and reconnecting", reason
            )
            return
        log.warning(
            "Redis broker connection lost (%s); local delivery and posting continue, reconnecting with backoff",
            reason,
        )

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        took = time.monotonic() - self._down_since
        self._down_since = None
        metrics.BROKER_RECONNECTS.inc()
        self._overflowed = False
        log.warning(
            "Redis broker reconnected after %.1f s: %d topics subscribed, %d held events to re-publish; "
            "missed messages are re-read from storage",
            took,
            len(self._topics),
            len(self._outbox),
        )

    def _channel(self, topic: str) -> str:
        return self._prefix + topic

    # -- cluster figures ---------------------------------------------------------------------

    async def store_node_stats(self, node_id: str, stats: dict[str, Any], ttl: float) -> None:
        """Store the node's figures under a key that expires after ``ttl`` unless refreshed."""
        assert self._client is not None
        self._node_ids.add(node_id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._prefix + NODE_KEY + node_id, json.dumps(stats), px=int(ttl * 1000))
            pipe.sadd(self._prefix + NODES_KEY, node_id)
            await pipe.execute()

    async def load_node_stats(self) -> list[dict[str, Any]]:
        """Figures of every node whose key has not expired; forgets the expired ones."""
        assert self._client is not None
        # decode_responses=True: members and values come back as str.
        node_ids = sorted(cast("set[str]", await self._client.smembers(self._prefix + NODES_KEY)))
        if not node_ids:
            return []
        values = await self._client.mget([self._prefix + NODE_KEY + node_id for node_id in node_ids])
        gone = [node_id for node_id, value in zip(node_ids, values, strict=True) if value is None]
        if gone:
            await self._client.srem(self._prefix + NODES_KEY, *gone)
        return [json.loads(value) for value in values if value is not None]
