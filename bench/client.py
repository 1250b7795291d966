"""The load generator: one process holding a share of the sockets, sending at a fixed rate.

Each worker runs on its own uvloop with picows sockets (the client costs far
less CPU per frame than the servers under test). Whole rooms live in one
worker, so it knows how many deliveries each of its sends must produce.

Every message carries its send time in ``client_id`` (``step.send_us.worker.n``,
microseconds since the epoch); every receiver records ``now - send_us``
(end-to-end) and, for replyx, ``now - created_at`` (store to socket). All
processes read the same system clock, so the two are comparable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from bench.texts import TextSampler

# Sockets a worker opens at once: enough to fill the accept queue, few enough not to time out.
CONNECT_CONCURRENCY = 64
# Seconds a socket may take from TCP connect to its first usable frame (ready / join ack).
CONNECT_TIMEOUT = 60.0
# How often the sender wakes to catch up with the schedule; bursts stay a few messages long.
SEND_TICK = 0.002
# What browsers offer; the server picks its own window sizes in the answer.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
DEFLATE_TAIL = b"\x00\x00\xff\xff"


@dataclass
class SocketSpec:
    """One socket to open: its URL, role and the room it belongs to."""

    url: str
    role: str  # visitor | operator | inbox
    room: int  # index of the dialog / room (inbox sockets: the first room of their group)
    fanout: int = 0  # sockets that receive what this socket sends (including itself)
    join: list[str] = field(default_factory=list)  # Socket.IO rooms to enter
    send_room: str = ""  # Socket.IO room a message is emitted to
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StepRecord:
    """What the receivers of one worker saw of one step."""

    latency_us: array = field(default_factory=lambda: array("q"))
    store_us: array = field(default_factory=lambda: array("q"))
    received: int = 0
    sent: int = 0
    expected: int = 0


class Deflate:
    """permessage-deflate as negotiated in the handshake answer (RFC 7692)."""

    def __init__(self, answer: str) -> None:
        params = {}
        for part in answer.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            params[key] = value.strip('"')
        self.client_bits = int(params.get("client_max_window_bits") or 15)
        self.server_bits = int(params.get("server_max_window_bits") or 15)
        self.client_reset = "client_no_context_takeover" in params
        self.server_reset = "server_no_context_takeover" in params
        self.compressor = zlib.compressobj(wbits=-self.client_bits)
        self.decompressor = zlib.decompressobj(wbits=-self.server_bits)

    def compress(self, data: bytes) -> bytes:
        """One message's payload, with the RSV1 bit to be set by the caller."""
        if self.client_reset:
            self.compressor = zlib.compressobj(wbits=-self.client_bits)
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(DEFLATE_TAIL) else out

    def decompress(self, data: bytes) -> bytes:
        """One compressed message's payload."""
        if self.server_reset:
            self.decompressor = zlib.decompressobj(wbits=-self.server_bits)
        return self.decompressor.decompress(data + DEFLATE_TAIL)


class Sock(WSListener):  # type: ignore[misc]
    """One client socket; the protocol of the server under test decides what its frames mean."""

    def __init__(self, worker: Worker, spec: SocketSpec) -> None:
        self.worker = worker
        self.spec = spec
        self.transport: WSTransport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.deflate: Deflate | None = None
        self.closing = False
        self.sid_rooms = ",".join(spec.join)

    def on_ws_connected(self, transport: WSTransport) -> None:
        """Note the negotiated extension; plain peers are usable at once."""
        self.transport = transport
        answer = transport.response.headers.get("sec-websocket-extensions", "")
        if answer.startswith("permessage-deflate"):
            self.deflate = Deflate(answer)
            self.worker.deflate_negotiated += 1
        if self.worker.protocol == "plain":
            self.ready.set_result(None)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Decode a frame and hand text to the protocol."""
        kind = frame.msg_type
        if kind == WSMsgType.TEXT:
            data = frame.get_payload_as_bytes()
            if frame.rsv1 and self.deflate is not None:
                data = self.deflate.decompress(data)
            self.on_text(data, time.time())
        elif kind == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif kind == WSMsgType.CLOSE:
            code = frame.get_close_code()
            if not self.closing:
                self.worker.errors[f"closed {getattr(code, 'value', code)}"] += 1
            transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """Count sockets lost while the benchmark still needed them."""
        if not self.closing:
            self.worker.errors["disconnected"] += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before ready"))

    def send_text(self, data: bytes) -> None:
        """Send one text frame, compressed when the extension was agreed."""
        assert self.transport is not None
        if self.deflate is not None:
            self.transport.send(WSMsgType.TEXT, self.deflate.compress(data), rsv1=True)
        else:
            self.transport.send(WSMsgType.TEXT, data)

    def on_text(self, data: bytes, now: float) -> None:
        """A text frame from the server."""
        protocol = self.worker.protocol
        if protocol == "replyx":
            # An inbox's events start with their feed position: {"offset":N,"epoch":"E","type":...}.
            if data.startswith(b'{"type":"message"') or (
                data.startswith(b'{"offset":') and b',"type":"message"' in data[:80]
            ):
                self.worker.delivered(data, now)
            elif data == b"__ping__":
                self.send_text(b"__pong__")
            elif data.startswith(b'{"type":"ready"'):
                if not self.ready.done():
                    self.ready.set_result(None)
            elif data.startswith(b'{"type":"error"'):
                self.worker.errors[f"error event {json.loads(data).get('code')}"] += 1
        elif protocol == "socketio":
            if data.startswith(b'42["message"'):
                self.worker.delivered(data, now)
            elif data == b"2":
                self.send_text(b"3")
            elif data.startswith(b"0{"):
                self.send_text(b"40")
            elif data.startswith(b"40"):
                self.send_text(b'420["join",' + json.dumps(self.spec.join).encode() + b"]")
            elif data.startswith(b"430") and not self.ready.done():
                self.ready.set_result(None)
        else:
            self.worker.delivered(data, now)

    def send_message(self, text: bytes, client_id: str) -> None:
        """Send a chat message (``text`` already JSON-encoded) in the server's protocol."""
        cid = client_id.encode()
        if self.worker.protocol == "socketio":
            data = b'42["message",{"type":"message","room":"%s","text":%s,"client_id":"%s"}]' % (
                self.spec.send_room.encode(),
                text,
                cid,
            )
        else:
            data = b'{"type":"message","text":%s,"client_id":"%s"}' % (text, cid)
        self.send_text(data)


def _client_id_at(data: bytes) -> tuple[int, int] | None:
    """(step, send_us) from the ``client_id`` of a delivered frame, without parsing all of it."""
    key = data.find(b'"client_id"')
    if key < 0:
        return None
    start = data.find(b'"', key + 11)
    if start < 0 or data[key + 11 : start].strip(b": ") != b"":
        return None  # client_id is null: a greeting or system message
    end = data.find(b'"', start + 1)
    parts = data[start + 1 : end].split(b".")
    if len(parts) != 4:
        return None
    return int(parts[0]), int(parts[1])


def _created_at_us(data: bytes) -> int | None:
    key = data.find(b'"created_at":"')
    if key < 0:
        return None
    start = key + 14
    end = data.find(b'"', start)
    return int(datetime.fromisoformat(data[start:end].decode()).timestamp() * 1_000_000)


class Worker:
    """A share of the sockets, whole rooms at a time, and its step records."""

    def __init__(self, wid: int, protocol: str, specs: list[SocketSpec], deflate: bool) -> None:
        self.wid = wid
        self.protocol = protocol
        self.specs = specs
        self.offer_deflate = deflate
        self.sockets: list[Sock] = []
        self.senders: list[Sock] = []
        self.steps: dict[int, StepRecord] = {}
        self.errors: Counter[str] = Counter()
        self.deflate_negotiated = 0
        self.texts = TextSampler(wid)
        self.counter = 0
        self.encoded: dict[str, bytes] = {}

    def _encoded(self, text: str) -> bytes:
        # The sampler draws from a few dozen lines: encode each once, not once per send.
        found = self.encoded.get(text)
        if found is None:
            found = self.encoded[text] = json.dumps(text, ensure_ascii=False).encode()
        return found

    def delivered(self, data: bytes, now: float) -> None:
        """Record one message frame received by one socket."""
        found = _client_id_at(data)
        if found is None:
            return
        step, sent_us = found
        record = self.steps.get(step)
        if record is None:
            return
        now_us = int(now * 1_000_000)
        record.received += 1
        record.latency_us.append(now_us - sent_us)
        if self.protocol == "replyx":
            created = _created_at_us(data)
            if created is not None:
                record.store_us.append(now_us - created)

    async def _open(self, spec: SocketSpec, limit: asyncio.Semaphore) -> float:
        async with limit:
            started = time.perf_counter()
            headers = list(spec.headers)
            if self.offer_deflate:
                headers.append(("Sec-WebSocket-Extensions", DEFLATE_OFFER))
            _transport, listener = await picows.ws_connect(
                lambda: Sock(self, spec),
                spec.url,
                extra_headers=headers,
                websocket_handshake_timeout=CONNECT_TIMEOUT,
                max_frame_size=1 << 20,
            )
            await asyncio.wait_for(listener.ready, CONNECT_TIMEOUT)
            self.sockets.append(listener)
            if spec.role != "inbox":
                self.senders.append(listener)
            return time.perf_counter() - started

    async def connect(self) -> dict[str, Any]:
        """Open every socket of this worker; returns connect times and failures."""
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.perf_counter()
        cpu = time.process_time()
        results = await asyncio.gather(*(self._open(s, limit) for s in self.specs), return_exceptions=True)
        times = array("d")
        for result in results:
            if isinstance(result, BaseException):
                self.errors[f"connect {type(result).__name__}"] += 1
            else:
                times.append(result)
        return {
            "opened": len(times),
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu,
            "connect_ms": sorted(t * 1000 for t in times),
            "deflate_negotiated": self.deflate_negotiated,
            "errors": dict(self.errors),
        }

    async def run_step(self, step: int, rate: float, duration: float, drain: float) -> dict[str, Any]:
        """Send ``rate`` messages/s for ``duration`` s, round-robin over senders; wait for the echoes."""
        record = self.steps[step] = StepRecord()
        senders = self._interleaved()
        cpu = time.process_time()
        begin = time.monotonic()
        sent = 0
        count = len(senders)
        while senders:
            elapsed = time.monotonic() - begin
            if elapsed >= duration:
                break
            due = int(rate * elapsed) + 1
            while sent < due:
                sock = senders[sent % count]
                self.counter += 1
                cid = f"{step}.{int(time.time() * 1_000_000)}.{self.wid}.{self.counter}"
                sock.send_message(self._encoded(self.texts.next()), cid)
                record.expected += sock.spec.fanout
                sent += 1
            await asyncio.sleep(SEND_TICK)
        record.sent = sent
        send_cpu = time.process_time() - cpu
        deadline = time.monotonic() + drain
        while record.received < record.expected and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        result = {
            "sent": record.sent,
            "expected": record.expected,
            "received": record.received,
            "latency_us": record.latency_us.tobytes(),
            "store_us": record.store_us.tobytes(),
            "cpu_s": time.process_time() - cpu,
            "send_cpu_s": send_cpu,
            "errors": dict(self.errors),
        }
        del self.steps[step]
        return result

    def _interleaved(self) -> list[Sock]:
        # Visitors and operators of every room alternate, so each room gets its share of the rate.
        by_room: dict[int, list[Sock]] = {}
        for sock in self.senders:
            by_room.setdefault(sock.spec.room, []).append(sock)
        rooms = list(by_room.values())
        order: list[Sock] = []
        for turn in range(max((len(r) for r in rooms), default=0)):
            order.extend(r[turn] for r in rooms if turn < len(r))
        return order

    async def close(self) -> None:
        """Close every socket."""
        for sock in self.sockets:
            sock.closing = True
            if sock.transport is not None:
                with contextlib.suppress(Exception):
                    sock.transport.send_close(picows.WSCloseCode.OK)
                    sock.transport.disconnect()
        await asyncio.sleep(0.2)


async def _serve(pipe: Connection, worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command, args = await loop.run_in_executor(None, pipe.recv)
        if command == "connect":
            pipe.send(await worker.connect())
        elif command == "step":
            pipe.send(await worker.run_step(**args))
        elif command == "close":
            await worker.close()
            pipe.send({"closed": True})
            return


def worker_main(pipe: Connection, wid: int, protocol: str, specs: list[SocketSpec], deflate: bool) -> None:
    """Entry point of a worker process: obey commands from the pipe until told to close."""
    import uvloop

    uvloop.run(_serve(pipe, Worker(wid, protocol, specs, deflate)))
