"""The inbox feed: a reconnecting inbox gets what it missed, or a `resync`; read positions come with `ready`.

The cluster outage that found the hole is in test_cluster.py; these run against one real process.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.support.chat import ChatSocket, Owner, create_assistant, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled


async def post(http: httpx.AsyncClient, owner: Owner, dialog_id: int, text: str) -> int:
    response = await http.post(f"/api/dialogs/{dialog_id}/messages", json={"text": text}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["seq"])


async def test_an_inbox_that_reconnects_with_its_position_gets_exactly_what_it_missed(
    server: ReplyxProcess, fresh_owner: Owner
) -> None:
    owner = fresh_owner
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    inbox_path = socket_paths(visitor, owner)["inbox"]
    async with httpx.AsyncClient(base_url=server.url) as http:
        first = await ChatSocket.connect(server.ws_url + inbox_path)
        ready = await first.ready()
        assert isinstance(ready["offset"], int) and ready["epoch"], ready
        seq = await post(http, owner, visitor.dialog_id, "seen live")
        # The operator's first reply takes the dialog over: its notice comes first.
        live = await first.next(type="message")
        while live["message"]["seq"] < seq:
            live = await first.next(type="message")
        assert live["message"]["seq"] == seq and live["offset"] > ready["offset"] and live["epoch"] == ready["epoch"]
        await first.close()
        missed = [await post(http, owner, visitor.dialog_id, f"missed {n}") for n in range(3)]
        again = await ChatSocket.connect(f"{server.ws_url}{inbox_path}&since={live['offset']}&epoch={live['epoch']}")
        resumed = await again.ready()
        got = again.received_messages()
        assert [m["seq"] for m in got] == missed, "every missed message event, once, before ready"
        offsets = [e["offset"] for e in again.all_events if e["type"] == "message"]
        assert offsets == list(range(live["offset"] + 1, live["offset"] + 4))
        assert resumed["offset"] == offsets[-1] and resumed["epoch"] == live["epoch"]
        assert not [e for e in again.all_events if e["type"] == "resync"]
        seq = await post(http, owner, visitor.dialog_id, "live again")
        assert (await again.next(type="message"))["message"]["seq"] == seq
        await again.close()


async def test_an_inbox_whose_position_the_feed_cannot_cover_is_told_to_resync(
    server: ReplyxProcess, fresh_owner: Owner
) -> None:
    owner = fresh_owner
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    inbox_path = socket_paths(visitor, owner)["inbox"]
    sock = await ChatSocket.connect(f"{server.ws_url}{inbox_path}&since=3&epoch=from-before-a-restart")
    resync = await sock.next(type="resync")
    ready = await sock.ready()
    assert resync["epoch"] == ready["epoch"] != "from-before-a-restart"
    assert resync["offset"] == ready["offset"]
    await sock.close()
    # A client that never knew a position (or predates feeds) starts live, with no resync.
    plain = await ChatSocket.connect(f"{server.ws_url}{inbox_path}&since=0")
    await plain.ready()
    assert [e["type"] for e in plain.all_events] == ["ready"]
    await plain.close()


async def test_ready_carries_both_read_positions(server: ReplyxProcess, fresh_owner: Owner) -> None:
    owner = fresh_owner
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    paths = socket_paths(visitor, owner)
    async with httpx.AsyncClient(base_url=server.url) as http:
        seq = await post(http, owner, visitor.dialog_id, "read me")
    site = await ChatSocket.connect(server.ws_url + paths["site"])
    assert (await site.ready())["read"] == {"user": 0, "operator": 0}
    await site.send_json({"type": "read", "seq": seq})
    await site.next(type="read")
    await site.close()
    # A window opened later (or after a reconnect) learns the position without having seen the event.
    admin = await ChatSocket.connect(server.ws_url + paths["admin"])
    assert (await admin.ready())["read"] == {"user": seq, "operator": 0}
    await admin.close()


async def test_a_message_to_a_dialog_nobody_watches_is_logged_where_it_is_stored(
    server: ReplyxProcess, fresh_owner: Owner
) -> None:
    owner = fresh_owner
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            f"/api/site/dialogs/{visitor.dialog_id}/messages", json={"text": "anyone?"}, headers=visitor.headers
        )
        assert response.status_code == 201
    wanted = f"No SITE/WIDGET WebSocket connections found for dialog {visitor.dialog_id}"
    async with asyncio.timeout(scaled(5)):
        while wanted not in server.log():
            await asyncio.sleep(0.05)
    lines = server.log().splitlines()
    at = next(n for n, line in enumerate(lines) if wanted in line)
    assert "Available SITE/WIDGET dialogs: [" in lines[at + 1]
