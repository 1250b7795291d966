"""Hostile client frames on all four socket kinds: documented answers, the server stays up, memory stays bounded.

Each generated frame is followed by a ``__ping__`` barrier: every event before the ``__pong__`` is the
server's answer to that frame, compared with what docs/protocol.md says it must be (tests/reliability/oracle.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.reliability.conftest import UNLIMITED, StartServer
from tests.reliability.figures import record, rss_mib
from tests.reliability.oracle import ERROR_CODES, Expect, frame_outcomes, matches
from tests.reliability.profile import pick
from tests.support.chat import Owner, Visitor, create_assistant, create_owner, open_dialog, socket_paths
from tests.support.db import stored_messages
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

EXAMPLES = pick(120, 1500)
# Growth of the server's resident memory allowed over the whole module: the frames are bounded
# (64 KiB each) and nothing is kept per frame, so anything near this means a leak.
RSS_GROWTH_BOUND_MIB = 64.0
POOLS = ("admin", "site", "widget", "inbox")


@dataclass
class Target:
    """The server under abuse, one dialog taken over by the operator (so the assistant stays quiet)."""

    server: ReplyxProcess
    owner: Owner
    visitor: Visitor
    baseline_mib: float
    stored_client_ids: set[str] = field(default_factory=set)
    deflate: bool | None = None
    frames: dict[str, int] = field(default_factory=dict)

    def url(self, pool: str) -> str:
        """The socket URL of the pool for the dialog."""
        return self.server.ws_url + socket_paths(self.visitor, self.owner)[pool]


@pytest.fixture(scope="module")
def target(shared_server: ReplyxProcess) -> Target:
    """A server without rate limits, so every answer is decided by the frame alone."""
    server = shared_server
    owner = create_owner(server, "fuzz")
    visitor = open_dialog(server.url, create_assistant(server.url, owner, greeting=""))
    taken = httpx.post(f"{server.url}/api/dialogs/{visitor.dialog_id}/takeover", headers=owner.headers)
    taken.raise_for_status()
    assert server.proc is not None
    return Target(server, owner, visitor, rss_mib(server.proc.pid))


class Probe:
    """One synchronous socket that sends a frame and collects the answers up to a ping barrier."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws = self._open()

    def _open(self) -> ClientConnection:
        ws = connect(self.url, max_size=None, open_timeout=scaled(10), close_timeout=scaled(2)).__enter__()
        while (event := self._recv(ws)) is None or event.get("type") != "ready":
            pass
        return ws

    @staticmethod
    def _recv(ws: ClientConnection) -> dict[str, Any] | None:
        frame = ws.recv(timeout=scaled(10))
        if frame == "__ping__":
            ws.send("__pong__")
            return None
        return {"type": "__pong__"} if frame == "__pong__" else json.loads(frame)

    def exchange(self, frame: str | bytes, *, text: bool | None = None) -> tuple[list[dict[str, Any]], int | None]:
        """Send one frame; the events it caused, or the close code when the server closed the socket."""
        try:
            self.ws.send(frame, text=text)
            self.ws.send("__ping__")
            events: list[dict[str, Any]] = []
            while (event := self._recv(self.ws)) is None or event["type"] != "__pong__":
                if event is not None:
                    events.append(event)
            return events, None
        except ConnectionClosed:
            code = self.ws.close_code
            self.ws = self._open()
            return [], code

    def close(self) -> None:
        """Close from the client side."""
        self.ws.close()


@pytest.fixture
def probes(target: Target) -> Iterator[dict[str, Probe]]:
    """One open socket per pool."""
    opened = {pool: Probe(target.url(pool)) for pool in POOLS}
    yield opened
    for probe in opened.values():
        probe.close()


def json_values() -> st.SearchStrategy[Any]:
    """Arbitrary JSON, nested, with huge and odd numbers and control characters."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.sampled_from([2**31, 2**31 + 1, 2**63, -(2**63), 10**300, 0, -1])
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=30)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )


texts = (
    st.text(max_size=60)
    | st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=40)
    | st.sampled_from(["\ud800", "ok\udfff", "a\x00b", "x" * 4000, "é" * 4001, " \t\n", "\u2028", "<b>hi</b>"])
    | st.integers(3990, 4010).map(lambda n: "y" * n)
)
client_ids = st.none() | st.uuids().map(str) | st.text(max_size=70) | json_values()


@st.composite
def structured_frames(draw: st.DrawFn) -> str:
    """Objects that look like client frames, with every field possibly wrong."""
    # Mostly well-typed frames, so the fields behind the type get most of the attention.
    kinds = st.sampled_from(["message", "message", "message", "typing", "read"])
    frame: dict[str, Any] = {"type": draw(st.one_of(kinds, kinds, kinds, json_values()))}
    if draw(st.booleans()):
        frame["text"] = draw(texts | json_values())
    if draw(st.booleans()):
        frame["client_id"] = draw(client_ids)
    if draw(st.booleans()):
        frame["state"] = draw(st.sampled_from(["start", "stop"]) | json_values())
    if draw(st.booleans()):
        frame["seq"] = draw(st.integers(-5, 2**31 + 5) | st.sampled_from([10**40, 1.0, True]) | json_values())
    if draw(st.booleans()):
        frame["sender"] = draw(st.sampled_from(["operator", "system", "assistant"]))
    return json.dumps(frame, ensure_ascii=draw(st.booleans()) or _has_surrogates(frame))


def _has_surrogates(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


raw_frames = (
    st.text(max_size=200)
    | st.integers(1, 30000).map(lambda n: "[" * n + "]" * n)
    | st.integers(1, 30000).map(lambda n: '{"a":' * n + "1" + "}" * n)
    | st.integers(1, 5000).map(lambda n: "9" * n)
    | st.integers(1, 400).map(lambda n: '{"type":"read","seq":' + "9" * n + "}")
    | st.sampled_from(["NaN", "Infinity", '{"type":"read","seq":NaN}', "\x00", "{}", "[]", '""', "null", "__PING__"])
    | json_values().map(lambda v: json.dumps(v))
)
frames = structured_frames() | raw_frames


@pytest.mark.parametrize("pool", POOLS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(frame=frames)
@example(frame=json.dumps({"type": "message", "text": "lone \ud800 surrogate"}))
@example(frame=json.dumps({"type": "message", "text": "ok", "client_id": "\udfff"}))
@example(frame=json.dumps({"type": "message", "text": "\u0000\u001b[31m"}))
@example(frame=json.dumps({"type": "read", "seq": True}))
@example(frame=json.dumps({"type": "read", "seq": 2**31 + 1}))
@example(frame='{"type":"message","text":"dup keys","text":7}')
def test_every_text_frame_gets_its_documented_answer(
    pool: str, frame: str, target: Target, probes: dict[str, Probe]
) -> None:
    allowed = frame_outcomes(pool, frame, target.stored_client_ids)
    events, code = probes[pool].exchange(frame)
    target.frames[pool] = target.frames.get(pool, 0) + 1
    if allowed[0].kind == "close":
        assert code == allowed[0].code, (frame[:80], events)
        return
    assert code is None, f"closed with {code} after {frame[:80]!r}"
    assert any(matches(expect, events) for expect in allowed), (frame[:200], allowed, events)
    for event in events:
        if event["type"] == "error":
            assert event["code"] in ERROR_CODES
        if event["type"] == "message" and event["message"]["client_id"]:
            target.stored_client_ids.add(event["message"]["client_id"])


@pytest.mark.parametrize("pool", POOLS)
@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=4096))
def test_binary_frames_get_bad_request(pool: str, data: bytes, probes: dict[str, Probe]) -> None:
    events, code = probes[pool].exchange(data)
    assert code is None
    assert [(e["type"], e["code"]) for e in events] == [("error", "bad_request")]


@pytest.mark.parametrize("pool", POOLS)
def test_oversized_invalid_and_compressed_bomb_frames_are_closed(pool: str, target: Target) -> None:
    probe = Probe(target.url(pool))
    extensions = probe.ws.response.headers.get("Sec-WebSocket-Extensions", "") if probe.ws.response else ""
    # When permessage-deflate is negotiated a small compressed frame could inflate to gigabytes: the
    # 64 KiB limit must apply to the inflated size. Without it the same frame is simply 50 MB on the wire.
    target.deflate = "permessage-deflate" in extensions
    # The server closes as soon as a frame passes 64 KiB; a client still writing the rest of a 1 MB
    # frame may get the connection reset before it reads the 1009 (1006 on its side).
    cut_off = {1009, 1006}
    bomb = 50_000_000 if target.deflate else 2_000_000
    cases: list[tuple[str, str | bytes, bool | None, set[int]]] = [
        ("1 MB text frame", json.dumps({"type": "message", "text": os.urandom(500_000).hex()}), None, cut_off),
        ("1 MB binary frame", os.urandom(1_000_000), None, cut_off),
        ("invalid UTF-8 in a text frame", b'{"type":"message","text":"\xff\xfe\xc3("}', True, {1007}),
        (
            "50 MB of zeros (deflated to ~50 KB when deflate is on; 2 MB raw when off)",
            "0" * bomb,
            None,
            {1009} if target.deflate else cut_off,
        ),
    ]
    for name, frame, text, codes in cases:
        events, closed = probe.exchange(frame, text=text)
        assert closed in codes, (name, events, closed)
    # Just over the limit: the documented 1009. The same reset can overtake it (the server stops reading
    # at the frame's header), so a 1006 is retried; the server must be seen sending 1009.
    seen = [probe.exchange("z" * 65537)[1] for _ in range(3)]
    assert set(seen) <= cut_off and 1009 in seen, ("frame of 64 KiB + 1 byte", seen)
    events, closed = probe.exchange(json.dumps({"type": "typing", "state": "stop"}))
    assert closed is None
    expected = "error" if pool == "inbox" else "typing"
    assert [e["type"] for e in events] == [expected], "the socket reopened after the abuse is served"
    probe.close()


def test_a_compressed_bomb_is_refused_when_deflate_is_on(start_server: StartServer) -> None:
    """Deflate is off by default; a deployment may turn it on, and then 64 KiB bounds the inflated size."""
    server = start_server("deflate", **UNLIMITED, REPLYX_WS_PER_MESSAGE_DEFLATE="true")
    owner = create_owner(server, "deflate")
    visitor = open_dialog(server.url, create_assistant(server.url, owner, greeting=""))
    assert server.proc is not None
    before = rss_mib(server.proc.pid)
    probe = Probe(server.ws_url + socket_paths(visitor, owner)["site"])
    assert probe.ws.response is not None
    assert "permessage-deflate" in probe.ws.response.headers.get("Sec-WebSocket-Extensions", "")
    for _ in range(3):
        # 50 MB of zeros deflate to about 50 KB on the wire; the server stops inflating at 64 KiB and
        # closes (1009; 1006 on this side when the rest of the frame was still being written).
        events, closed = probe.exchange("0" * 50_000_000)
        assert closed in (1009, 1006), events
    events, closed = probe.exchange(json.dumps({"type": "typing", "state": "start"}))
    assert closed is None and [e["type"] for e in events] == ["typing"]
    probe.close()
    growth = round(rss_mib(server.proc.pid) - before, 1)
    record("compressed_bomb", {"bombs": 3, "inflated_mb_each": 50, "rss_growth_mib": growth})
    assert growth < RSS_GROWTH_BOUND_MIB


def test_server_survived_with_bounded_memory(target: Target) -> None:
    """Runs last in the module: the server still stores and delivers, and its memory stayed bounded."""
    assert target.server.proc is not None and target.server.proc.poll() is None
    health = httpx.get(f"{target.server.url}/health")
    assert health.status_code == 200
    probe = Probe(target.url("site"))
    text = f"after the abuse {uuid.uuid4().hex}"
    events, code = probe.exchange(json.dumps({"type": "message", "text": text}))
    assert code is None and matches(Expect("message", payload={"sender": "user", "text": text}), events)
    probe.close()
    assert stored_messages(target.server.data_dir, target.visitor.dialog_id)[-1]["text"] == text
    rss = rss_mib(target.server.proc.pid)
    growth = round(rss - target.baseline_mib, 1)
    record(
        "abuse_frames",
        {
            "frames_per_pool": target.frames,
            "permessage_deflate_negotiated": target.deflate,
            "rss_baseline_mib": target.baseline_mib,
            "rss_after_mib": rss,
            "rss_growth_mib": growth,
            "rss_growth_bound_mib": RSS_GROWTH_BOUND_MIB,
        },
    )
    assert growth < RSS_GROWTH_BOUND_MIB
