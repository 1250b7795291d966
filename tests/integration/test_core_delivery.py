"""Delivery: every socket of a dialog in every pool, and the owner's inbox, gets each message once, in order."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.chat import ChatSocket, Owner, create_assistant, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess


async def test_every_pool_and_the_inbox_receive_each_message_once_in_order(server: ReplyxProcess, owner: Owner) -> None:
    assistant = create_assistant(server.url, owner, greeting="Hello!")
    visitor = open_dialog(server.url, assistant)
    stranger = open_dialog(server.url, assistant)
    paths = socket_paths(visitor, owner)
    pools = {pool: [await ChatSocket.connect(server.ws_url + paths[pool]) for _ in range(2)] for pool in paths}
    others = [
        await ChatSocket.connect(server.ws_url + p) for k, p in socket_paths(stranger, owner).items() if k != "inbox"
    ]
    for sock in [*(s for group in pools.values() for s in group), *others]:
        await sock.ready()

    await pools["site"][0].send_message("via site socket")
    await pools["widget"][1].send_message("via widget socket")
    await pools["admin"][0].send_message("via admin socket")
    async with httpx.AsyncClient(base_url=server.url) as http:
        await http.post(
            f"/api/site/dialogs/{visitor.dialog_id}/messages", json={"text": "via REST"}, headers=visitor.headers
        )
        last = await http.post(
            f"/api/dialogs/{visitor.dialog_id}/messages", json={"text": "operator via REST"}, headers=owner.headers
        )
    final_seq = last.json()["seq"]
    expected = list(range(1, final_seq + 1))
    for pool in ("site", "widget", "admin"):
        for sock in pools[pool]:
            await sock.messages_until(final_seq)
            assert [m["seq"] for m in sock.received_messages()] == expected, pool
    for inbox in pools["inbox"]:
        while not any(e["type"] == "message" and e["message"]["seq"] == final_seq for e in inbox.all_events):
            await inbox.next()
        mine = [
            e["message"]["seq"]
            for e in inbox.all_events
            if e["type"] == "message" and e["dialog_id"] == visitor.dialog_id
        ]
        # The greeting was stored before any socket existed; everything after it arrives live.
        assert mine == expected[1:]
    await asyncio.sleep(0.3)
    for sock in others:
        assert all(m["seq"] == 1 for m in sock.received_messages())  # only the stranger's own greeting
    texts = [m["text"] for m in pools["admin"][1].received_messages()]
    assert texts[-1] == "operator via REST" and "via site socket" in texts
    for sock in [*(s for group in pools.values() for s in group), *others]:
        await sock.close()


async def test_typing_and_read_reach_the_other_side(server: ReplyxProcess, owner: Owner) -> None:
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    paths = socket_paths(visitor, owner)
    site = await ChatSocket.connect(server.ws_url + paths["site"])
    admin = await ChatSocket.connect(server.ws_url + paths["admin"])
    await site.ready()
    await admin.ready()
    await site.send_json({"type": "typing", "state": "start"})
    typing = await admin.next(type="typing")
    assert typing == {"type": "typing", "dialog_id": visitor.dialog_id, "sender": "user", "state": "start"}
    await admin.send_message("hi")
    seq = (await site.messages_until(2))[-1]["seq"]
    await site.send_json({"type": "read", "seq": seq})
    read = await admin.next(type="read")
    assert read["reader"] == "user" and read["seq"] == seq
    await site.close()
    await admin.close()
