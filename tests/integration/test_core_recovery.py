"""Recovery: a socket reconnecting with since=N gets exactly seq > N, then ready, even while others write."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from tests.support.chat import ChatSocket, Owner, create_assistant, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess


async def test_reconnect_with_since_replays_exactly_the_missing_messages(
    server: ReplyxProcess, fresh_owner: Owner
) -> None:
    owner = fresh_owner
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    async with httpx.AsyncClient(base_url=server.url) as http:
        for i in range(6):
            await http.post(f"/api/dialogs/{visitor.dialog_id}/messages", json={"text": f"m{i}"}, headers=owner.headers)
    path = socket_paths(visitor, owner)["widget"]
    sock = await ChatSocket.connect(f"{server.ws_url}{path}&since=4")
    ready = await sock.ready()
    assert [m["seq"] for m in sock.received_messages()] == [5, 6, 7]
    assert ready["last_seq"] == 7 and ready["status"] == "operator"
    assert sock.all_events[-1]["type"] == "ready"
    await sock.close()


async def test_reconnects_during_a_concurrent_writer_miss_nothing_and_repeat_nothing(
    server: ReplyxProcess, fresh_owner: Owner
) -> None:
    owner = fresh_owner
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    paths = socket_paths(visitor, owner)
    total = 80
    stop = asyncio.Event()

    async def writer() -> None:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for i in range(total):
                response = await http.post(
                    f"/api/dialogs/{visitor.dialog_id}/messages", json={"text": f"w{i}"}, headers=owner.headers
                )
                assert response.status_code == 201
                await asyncio.sleep(0.01)
        stop.set()

    writing = asyncio.create_task(writer())
    seen: list[int] = []
    for pool in ("site", "admin", "widget") * 3:
        since = seen[-1] if seen else 0
        sock = await ChatSocket.connect(f"{server.ws_url}{paths[pool]}&since={since}")
        await sock.ready()
        with contextlib.suppress(TimeoutError):
            while len(sock.received_messages()) < 6:
                await sock.next(timeout=2, type="message")
        seen.extend(m["seq"] for m in sock.received_messages())
        await sock.abort() if pool == "widget" else await sock.close()
    await writing
    sock = await ChatSocket.connect(f"{server.ws_url}{paths['site']}&since={seen[-1]}")
    ready = await sock.ready()
    seen.extend(m["seq"] for m in sock.received_messages())
    await sock.close()
    assert seen == list(range(1, ready["last_seq"] + 1))
    assert ready["last_seq"] == total + 1  # the operator's takeover notice plus every message
