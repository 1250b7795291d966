"""Origins, forwarded addresses and connection floods: refused with the documented codes, others still served.

Other client addresses are simulated on loopback with ``X-Forwarded-For`` from a trusted proxy
(REPLYX_TRUSTED_PROXIES=127.0.0.1); the addresses are documentation ranges and only ever a header.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import StartServer
from tests.reliability.figures import record
from tests.support.chat import ChatSocket, Owner, Visitor, create_assistant, create_owner, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

CONNECTS_PER_IP = 20
SOCKETS_PER_IP = 8
SOCKETS_PER_DIALOG = 5
MAX_CONNECTIONS = 30
# Long enough that the test's connects all fall inside one window even on a loaded machine.
CONNECT_WINDOW = 30


def ip(n: int) -> str:
    """A simulated client address (TEST-NET-3)."""
    return f"203.0.113.{n}"


@pytest.fixture(scope="module")
def proxied(start_server: StartServer) -> tuple[ReplyxProcess, Owner]:
    """A server behind a trusted proxy on 127.0.0.1, with small flood limits."""
    server = start_server(
        "floods",
        REPLYX_TRUSTED_PROXIES="127.0.0.1",
        REPLYX_MAX_CONNECTS_PER_IP=str(CONNECTS_PER_IP),
        REPLYX_CONNECT_WINDOW=str(CONNECT_WINDOW),
        REPLYX_MAX_SOCKETS_PER_IP=str(SOCKETS_PER_IP),
        REPLYX_MAX_SOCKETS_PER_DIALOG=str(SOCKETS_PER_DIALOG),
        REPLYX_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    return server, create_owner(server, "flood")


@pytest.fixture(scope="module")
def direct(start_server: StartServer) -> tuple[ReplyxProcess, Owner]:
    """A server that trusts no proxy: X-Forwarded-For from its peers means nothing."""
    server = start_server(
        "spoof",
        REPLYX_MAX_CONNECTS_PER_IP="6",
        REPLYX_CONNECT_WINDOW=str(CONNECT_WINDOW),
        REPLYX_MAX_SOCKETS_PER_IP="3",
    )
    return server, create_owner(server, "spoof")


@pytest.fixture(scope="module")
def origins(shared_server: ReplyxProcess) -> tuple[ReplyxProcess, Owner]:
    """A server without connect limits, for the origin checks."""
    return shared_server, create_owner(shared_server, "origin")


async def attempt(server: ReplyxProcess, path: str, address: str | None, **headers: str) -> tuple[Any, ChatSocket]:
    """Connect from the address; ("open", socket) on `ready`, else (close code, socket)."""
    extra = {**headers, **({"X-Forwarded-For": address} if address else {})}
    sock = await ChatSocket.connect(server.ws_url + path, additional_headers=extra)
    ready = asyncio.ensure_future(sock.ready(timeout=10))
    closed = asyncio.ensure_future(asyncio.shield(sock.closed))
    done, _ = await asyncio.wait({ready, closed}, timeout=scaled(10), return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    closed.cancel()
    if sock.closed.done():
        return sock.closed.result()[0], sock
    return ("open" if ready in done else "silent"), sock


@contextlib.asynccontextmanager
async def holding() -> AsyncIterator[list[ChatSocket]]:
    """Sockets opened inside the block are closed after it."""
    held: list[ChatSocket] = []
    try:
        yield held
    finally:
        await asyncio.gather(*(s.close() for s in held))


def dialogs(server: ReplyxProcess, owner: Owner, count: int) -> list[Visitor]:
    """Dialogs of one new assistant."""
    assistant = create_assistant(server.url, owner)
    return [open_dialog(server.url, assistant) for _ in range(count)]


async def test_connect_rate_per_ip_is_limited_with_4008_while_other_ips_connect(proxied) -> None:
    server, owner = proxied
    visitor = dialogs(server, owner, 1)[0]
    path = socket_paths(visitor, owner)["site"]
    outcomes = []
    for _ in range(CONNECTS_PER_IP + 5):
        got, sock = await attempt(server, path, ip(1))
        outcomes.append(got)
        if got == 4008:
            assert "connects" in (sock.closed.result()[1])
        await sock.close()
    assert outcomes[:CONNECTS_PER_IP] == ["open"] * CONNECTS_PER_IP
    assert outcomes[CONNECTS_PER_IP:] == [4008] * 5
    got, sock = await attempt(server, path, ip(2))
    assert got == "open", "another address connects during the flood"
    await sock.close()
    record("flood_connect_rate", {"limit": CONNECTS_PER_IP, "window_s": CONNECT_WINDOW, "outcomes": outcomes})


async def test_sockets_per_ip_and_per_dialog_are_limited_with_4008(proxied) -> None:
    server, owner = proxied
    visitors = dialogs(server, owner, SOCKETS_PER_IP + 1)
    async with holding() as held:
        for visitor in visitors[:SOCKETS_PER_IP]:
            got, sock = await attempt(server, socket_paths(visitor, owner)["widget"], ip(10))
            held.append(sock)
            assert got == "open"
        got, sock = await attempt(server, socket_paths(visitors[-1], owner)["widget"], ip(10))
        held.append(sock)
        assert got == 4008, "one socket over the per-address limit"
        got, sock = await attempt(server, socket_paths(visitors[-1], owner)["widget"], ip(11))
        held.append(sock)
        assert got == "open", "another address is still served"
    target = visitors[0]
    async with holding() as held:
        for n in range(SOCKETS_PER_DIALOG):
            got, sock = await attempt(server, socket_paths(target, owner)["site"], ip(20 + n))
            held.append(sock)
            assert got == "open"
        got, sock = await attempt(server, socket_paths(target, owner)["admin"], ip(40))
        held.append(sock)
        assert got == 4008, "one socket over the per-dialog limit, whatever its pool"
        got, sock = await attempt(server, socket_paths(visitors[1], owner)["site"], ip(40))
        held.append(sock)
        assert got == "open", "other dialogs are still served"


async def test_a_full_server_answers_1013_and_recovers(proxied) -> None:
    server, owner = proxied
    visitors = dialogs(server, owner, MAX_CONNECTIONS + 1)
    async with holding() as held:
        for n, visitor in enumerate(visitors[:MAX_CONNECTIONS]):
            got, sock = await attempt(server, socket_paths(visitor, owner)["site"], ip(100 + n // SOCKETS_PER_IP))
            held.append(sock)
            assert got == "open", n
        got, sock = await attempt(server, socket_paths(visitors[-1], owner)["site"], ip(150))
        held.append(sock)
        assert got == 1013
        await held.pop(0).close()
        await _until_fewer_than(server, owner, MAX_CONNECTIONS)
        got, sock = await attempt(server, socket_paths(visitors[-1], owner)["site"], ip(150))
        held.append(sock)
        assert got == "open", "a freed slot is usable again"


async def _until_fewer_than(server: ReplyxProcess, owner: Owner, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + scaled(10)
    while asyncio.get_running_loop().time() < deadline:
        stats = httpx.get(f"{server.url}/api/ws/stats", headers=owner.headers).json()
        if stats["total"]["connections"] < count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the closed socket is still counted")


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(direct) -> None:
    server, owner = direct
    visitors = dialogs(server, owner, 4)
    async with holding() as held:
        outcomes = []
        for n, visitor in enumerate(visitors):
            got, sock = await attempt(server, socket_paths(visitor, owner)["site"], ip(200 + n))
            held.append(sock)
            outcomes.append(got)
        assert outcomes == ["open"] * 3 + [4008], "four addresses claimed, one peer counted"
    rates = []
    for n in range(3):
        got, sock = await attempt(server, socket_paths(visitors[0], owner)["site"], ip(210 + n))
        rates.append(got)
        await sock.close()
    assert rates == ["open", "open", 4008], "the connect rate counts the real peer (6 connects so far)"
    spoofed = visitors[1]
    url = f"{server.url}/api/site/dialogs/{spoofed.dialog_id}/messages"
    statuses = [
        httpx.post(url, json={"text": f"m{n}"}, headers={**spoofed.headers, "X-Forwarded-For": ip(n)}).status_code
        for n in range(21)
    ]
    assert statuses == [201] * 20 + [429], "a new X-Forwarded-For per request does not reset the visitor limit"
    record("spoofing", {"socket_outcomes": outcomes, "connect_outcomes": rates, "rest_statuses_last": statuses[-2:]})


@pytest.mark.parametrize("pool", ["site", "widget"])
async def test_visitor_sockets_and_rest_from_a_disallowed_origin_are_refused(origins, pool: str) -> None:
    server, owner = origins
    assistant = create_assistant(server.url, owner, allowed_domains=["shop.example"])
    visitor = open_dialog(server.url, assistant)
    path = socket_paths(visitor, owner)[pool]
    verdicts = {
        "https://shop.example": "open",
        "https://help.shop.example": "open",
        "https://evil.example": 4003,
        "https://shop.example.evil.test": 4003,
        "https://evilshop.example": 4003,
        "null": 4003,
    }
    got_all = {}
    for origin, expected in verdicts.items():
        got, sock = await attempt(server, path, None, Origin=origin)
        await sock.close()
        got_all[origin] = got
        assert got == expected, origin
    rest = {200: "open", 201: "open", 403: 4003}
    for origin, expected in verdicts.items():
        headers = {**visitor.headers, "Origin": origin}
        opened = httpx.post(f"{server.url}/api/{pool}/dialogs", json=_open_body(visitor, pool), headers=headers)
        listed = httpx.get(f"{server.url}/api/{pool}/dialogs/{visitor.dialog_id}/messages", headers=headers)
        posted = httpx.post(
            f"{server.url}/api/{pool}/dialogs/{visitor.dialog_id}/messages", json={"text": "hi"}, headers=headers
        )
        for response in (opened, listed, posted):
            assert rest.get(response.status_code) == expected, (origin, response.request.url, response.status_code)
    record(f"origins_{pool}", got_all)


def _open_body(visitor: Visitor, pool: str) -> dict[str, Any]:
    if pool == "site":
        return {"site_token": visitor.site_token, "guest_id": visitor.guest_id}
    return {"assistant_id": visitor.assistant_id, "guest_id": visitor.guest_id}
