"""One accepted socket: a bounded outgoing queue, its sender and its heartbeat.

Events reach a connection only through ``offer`` (called by the hub). For dialog
sockets, message events are released strictly in seq order: duplicates are
dropped and a gap holds later events back until the hub fills it from storage.
An inbox socket does the same with its feed's offsets, and the hub fills its
gaps from the broker's feed history, or sends a ``resync`` when that history
no longer covers them (docs/realtime.md, "Feeds").

Under replyx's own uvicorn protocol (``wsserver.py``) frames built once by the
hub are collected per socket and written in one call per loop iteration, with
no task per socket; elsewhere a sender task moves the queue through ASGI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from replyx import wire
from replyx.realtime import protocol
from replyx.realtime.protocol import CloseCode
from replyx.wire import FeedPosition

GapHandler = Callable[["Connection"], None]

# Bytes of events a client may leave unread in the server's buffer before it counts as a slow
# consumer and is closed with 4008: about a thousand chat events, as the ASGI queue allows.
MAX_UNREAD_BYTES = 1 << 20
# Feed events remembered while the broker is away, to skip their numbered copies: as many as the
# broker keeps to re-publish would be exact; a few thousand cover an outage of normal traffic.
MAX_UNNUMBERED = 5000


class FlushScheduler:
    """Connections with frames waiting, written out together once the loop's current callbacks end.

    One loop callback for all of them, not one per socket: an event for a dialog of 50 sockets
    then costs one scheduled handle instead of 50.
    """

    def __init__(self) -> None:
        self._waiting: list[Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, conn: Connection) -> None:
        """Flush the connection's outbox soon (it has just become non-empty)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run several): what the old one left is gone
            self._loop, self._waiting = loop, []
        self._waiting.append(conn)
        if len(self._waiting) == 1:
            loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        waiting, self._waiting = self._waiting, []
        for conn in waiting:
            conn.flush()


FLUSHER = FlushScheduler()


class Connection:
    """A socket of one pool, for one dialog (or one owner's inbox)."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        pool: str,
        dialog_id: int | None,
        owner_id: int,
        ip: str,
        queue_size: int,
        on_gap: GapHandler,
        session: tuple[int, int] | None = None,
    ) -> None:
        self.websocket = websocket
        self.pool = pool
        # The operator and session version this socket belongs to (admin and inbox sockets).
        self.session = session
        self.dialog_id = dialog_id
        self.owner_id = owner_id
        self.ip = ip
        self.queue_size = queue_size
        self.on_gap = on_gap
        self.last_seq = 0
        # An inbox socket's place in its feed; epoch None until the first numbered event or position.
        self.feed_epoch: str | None = None
        self.feed_offset = 0
        # Feed events delivered without a position while the broker was away, until their numbered
        # copy arrives and is skipped: each reaches the inbox once.
        self.unnumbered: dict[str, None] = {}
        self.live = False
        self.held: list[tuple[dict[str, Any], str, bytes | None]] = []
        self.pending: dict[int, tuple[str, bytes | None]] = {}
        self.close_code: CloseCode | None = None
        self.last_heard = time.monotonic()
        self.filling = False
        scope = getattr(websocket, "scope", None) or {}
        self.writer: Any = scope.get("extensions", {}).get(protocol.FRAMES_EXTENSION)
        self.outbox: list[bytes] = []
        # An asyncio.Queue is four deques (about 3 KB): only sockets without the frame writer need one.
        self.queue: asyncio.Queue[str] | None = asyncio.Queue(queue_size) if self.writer is None else None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._next_ping = 0.0
        self._on_stop: Callable[[], Any] | None = None

    @property
    def topic(self) -> str:
        """The broker topic this socket listens to."""
        if self.dialog_id is not None:
            return wire.dialog_topic(self.dialog_id)
        return wire.owner_topic(self.owner_id)

    @property
    def writes_frames(self) -> bool:
        """True when frames go straight to the transport (no sender task needed)."""
        return self.writer is not None

    def offer(self, event: dict[str, Any], data: str, frame: bytes | None = None) -> None:
        """Take an event (with its frame, when the hub built one); never blocks."""
        if self.close_code is not None:
            return
        if not self.live:
            if len(self.held) >= self.queue_size:
                self.fail(protocol.TOO_MANY)
            else:
                self.held.append((event, data, frame))
            return
        self._route(event, data, frame)

    def offer_stored(self, messages: list[dict[str, Any]]) -> None:
        """Take messages re-read from storage (gap fill or broker recovery)."""
        assert self.dialog_id is not None
        for message in messages:
            event = wire.message_event(self.dialog_id, message)
            self._route(event, wire.encode(event))

    def offer_feed(self, events: list[str]) -> None:
        """Take an inbox's events re-read from the broker's feed history (stamped JSON texts)."""
        for data in events:
            self._route(json.loads(data), data)

    def resync_feed(self, position: FeedPosition | None) -> None:
        """The feed cannot give what this inbox missed: tell the client to re-read, then go on from ``position``.

        Events held back by the gap go out after the ``resync`` when they are newer than ``position``.
        """
        self.put_event(wire.resync_event(position))
        held = sorted(self.pending.items())
        self.pending.clear()
        self.feed_epoch = None if position is None else position.epoch
        self.feed_offset = 0 if position is None else position.offset
        for offset, (data, frame) in held:
            if position is None or offset > self.feed_offset:
                self._put_numbered(data, frame)
                self.feed_offset = offset

    @property
    def feed_position(self) -> FeedPosition | None:
        """Where this inbox socket stands in its feed, when it knows."""
        return None if self.feed_epoch is None else FeedPosition(self.feed_epoch, self.feed_offset)

    def go_live(self, last_seq: int, feed: FeedPosition | None = None) -> None:
        """End the replay: remember where it ended, then release the events held meanwhile."""
        self.last_seq = last_seq
        if feed is not None:
            self.feed_epoch, self.feed_offset = feed.epoch, feed.offset
        self.live = True
        held, self.held = self.held, []
        for event, data, frame in held:
            self._route(event, data, frame)

    def put(self, data: str, frame: bytes | None = None) -> None:
        """Queue a frame; a full queue means the client cannot keep up, so it is closed."""
        if self.close_code is not None:
            return
        if self.writer is not None:
            self.outbox.append(frame if frame is not None else protocol.text_frame(data))
            if len(self.outbox) == 1:
                FLUSHER.add(self)
            return
        assert self.queue is not None
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.fail(protocol.TOO_MANY)

    def flush(self) -> None:
        """Write everything queued for this socket during one loop iteration, in one write."""
        frames, self.outbox = self.outbox, []
        if self.close_code is not None or not frames:
            return
        if not self.writer.write(frames[0] if len(frames) == 1 else b"".join(frames)):
            return
        if self.writer.backlog() > MAX_UNREAD_BYTES:
            self.fail(protocol.TOO_MANY)

    def put_event(self, event: dict[str, Any]) -> None:
        """Queue an event meant for this socket only."""
        self.put(wire.encode(event))

    def fail(self, code: CloseCode) -> None:
        """Ask the endpoint to close this socket with the code."""
        if self.close_code is None:
            self.close_code = code
        if self._on_stop is not None:
            self._on_stop()

    def on_stop(self, callback: Callable[[], Any]) -> None:
        """Call back once ``fail`` is called (the endpoint stops reading then)."""
        self._on_stop = callback

    @property
    def has_gap(self) -> bool:
        """True while later messages wait for a missing seq."""
        return bool(self.pending)

    def _route(self, event: dict[str, Any], data: str, frame: bytes | None = None) -> None:
        if self.dialog_id is None:
            self._route_feed(event, data, frame)
            return
        if event.get("type") != "message":
            self.put(data, frame)
            return
        seq = event["message"]["seq"]
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            self.pending[seq] = (data, frame)
            self.on_gap(self)
            return
        self.put(data, frame)
        self.last_seq = seq
        while self.last_seq + 1 in self.pending:
            self.last_seq += 1
            self.put(*self.pending.pop(self.last_seq))
        if self.pending:  # the common case has nothing held: keep per-delivery work flat
            for stale in [s for s in self.pending if s <= self.last_seq]:
                del self.pending[stale]

    def _route_feed(self, event: dict[str, Any], data: str, frame: bytes | None) -> None:
        offset = event.get("offset")
        if offset is None:
            # Delivered locally while the broker was away; its numbered copy may follow.
            self.put(data, frame)
            self.unnumbered[data] = None
            if len(self.unnumbered) > MAX_UNNUMBERED:
                del self.unnumbered[next(iter(self.unnumbered))]
            return
        epoch = event["epoch"]
        if epoch != self.feed_epoch:
            if self.feed_epoch is not None:
                # The feed started over (its history was lost): what came before cannot be given.
                self.pending.clear()
                self.put_event(wire.resync_event(FeedPosition(epoch, offset - 1)))
            self.feed_epoch, self.feed_offset = epoch, offset - 1
        if offset <= self.feed_offset:
            return
        if offset > self.feed_offset + 1:
            self.pending[offset] = (data, frame)
            self.on_gap(self)
            return
        self._put_numbered(data, frame)
        self.feed_offset = offset
        while self.feed_offset + 1 in self.pending:
            self.feed_offset += 1
            self._put_numbered(*self.pending.pop(self.feed_offset))

    def _put_numbered(self, data: str, frame: bytes | None) -> None:
        if self.unnumbered:
            published = wire.unstamp(data)
            if published in self.unnumbered:
                del self.unnumbered[published]
                return  # this inbox already has it, delivered without its number
        self.put(data, frame)

    async def send_loop(self) -> None:
        """Write queued frames to the socket through ASGI, one at a time, until cancelled."""
        assert self.queue is not None
        while True:
            data = await self.queue.get()
            await self.websocket.send_text(data)

    def start_heartbeat(self, interval: float, timeout: float) -> None:
        """Send ``__ping__`` every interval; close with 1001 after interval + timeout of silence.

        A timer, not a task: an idle socket then costs one scheduled callback.
        """
        self._next_ping = time.monotonic() + interval
        self._beat(interval, timeout)

    def _beat(self, interval: float, timeout: float) -> None:
        now = time.monotonic()
        if self.close_code is not None:
            return
        if now >= self.last_heard + interval + timeout:
            self.fail(protocol.HEARTBEAT_TIMEOUT)
            return
        if now >= self._next_ping:
            self.put(protocol.PING)
            self._next_ping = now + interval
        wake = min(self._next_ping, self.last_heard + interval + timeout)
        loop = asyncio.get_running_loop()
        self._heartbeat = loop.call_later(max(0.0, wake - now), self._beat, interval, timeout)

    def stop_heartbeat(self) -> None:
        """Cancel the heartbeat timer."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    async def close(self, code: CloseCode) -> None:
        """Send the close frame, without waiting long on a client that does not read."""
        with contextlib.suppress(Exception):
            try:
                await asyncio.wait_for(self.websocket.close(code.code, code.reason), timeout=2.0)
            except TimeoutError:
                # The client reads nothing, so the close frame cannot get past its unread backlog: drop the
                # connection instead of holding that backlog in memory until it reads or TCP gives up.
                if self.writer is not None:
                    self.writer.abort()
