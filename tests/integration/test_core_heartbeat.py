"""Heartbeat: pings on the interval, pong on request, silent clients closed with 1001 and removed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.chat import ChatSocket, Owner, create_assistant, create_owner, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

INTERVAL = 1.0
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplyxProcess]:
    """A server with a one-second heartbeat."""
    process = ReplyxProcess(
        Path(tmp_path_factory.mktemp("heartbeat")),
        env={"REPLYX_WS_PING_INTERVAL": str(INTERVAL), "REPLYX_WS_PONG_TIMEOUT": str(TIMEOUT)},
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fast_owner(fast_server: ReplyxProcess) -> Owner:
    """An owner on the fast-heartbeat server."""
    return create_owner(fast_server)


async def test_ping_pong_both_ways_keeps_a_socket_open(fast_server: ReplyxProcess, fast_owner: Owner) -> None:
    visitor = open_dialog(fast_server.url, create_assistant(fast_server.url, fast_owner))
    sock = await ChatSocket.connect(fast_server.ws_url + socket_paths(visitor, fast_owner)["site"])
    await sock.ready()
    await sock.ws.send("__ping__")
    assert (await sock.next(type="__pong__"))["type"] == "__pong__"
    await asyncio.sleep(scaled(INTERVAL + TIMEOUT) * 2)
    assert sock.pings >= 2
    assert not sock.closed.done()
    await sock.close()


async def test_a_silent_client_is_closed_with_1001_and_leaves_the_pool(
    fast_server: ReplyxProcess, fast_owner: Owner
) -> None:
    visitor = open_dialog(fast_server.url, create_assistant(fast_server.url, fast_owner))
    paths = socket_paths(visitor, fast_owner)
    silent = await ChatSocket.connect(fast_server.ws_url + paths["widget"], answer_pings=False)
    await silent.ready()
    started = asyncio.get_running_loop().time()
    assert await silent.close_code(timeout=10) == 1001
    elapsed = asyncio.get_running_loop().time() - started
    assert elapsed >= INTERVAL + TIMEOUT - 0.2
    assert silent.pings >= 1
    pattern = rf"\[Widget\] Remaining connections for dialog {visitor.dialog_id}: 0"
    for _ in range(50):
        if re.search(pattern, fast_server.log()):
            break
        await asyncio.sleep(0.1)
    assert re.search(pattern, fast_server.log())
    stats = httpx.get(f"{fast_server.url}/api/ws/stats", headers=fast_owner.headers).json()
    assert str(visitor.dialog_id) not in stats["total"]["dialogs"]
    assert stats["total"]["pools"]["widget"] == 0
