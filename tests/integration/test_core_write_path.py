"""The one write path: sender from the endpoint, gapless seq under concurrency, idempotent client_id."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.support.chat import ChatSocket, Owner, create_assistant, open_dialog, socket_paths
from tests.support.db import stored_messages
from tests.support.processes import ReplyxProcess


async def test_sender_comes_from_the_endpoint_not_the_client(server: ReplyxProcess, fresh_owner: Owner) -> None:
    owner = fresh_owner
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    paths = socket_paths(visitor, owner)
    site = await ChatSocket.connect(server.ws_url + paths["site"])
    admin = await ChatSocket.connect(server.ws_url + paths["admin"])
    await site.ready()
    await admin.ready()
    await site.send_json({"type": "message", "text": "from the visitor", "sender": "operator", "client_id": "s1"})
    await admin.send_json({"type": "message", "text": "from the operator", "sender": "system", "client_id": "a1"})
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            f"/api/site/dialogs/{visitor.dialog_id}/messages",
            json={"text": "rest visitor", "client_id": "r1"},
            headers=visitor.headers,
        )
    assert response.status_code == 201
    rows = {r["client_id"]: r["sender"] for r in stored_messages(server.data_dir, visitor.dialog_id)}
    assert rows["s1"] == "user"
    assert rows["a1"] == "operator"
    assert rows["r1"] == "user"
    senders = [r["sender"] for r in stored_messages(server.data_dir, visitor.dialog_id)]
    assert "system" in senders  # the operator's first message took the dialog over
    await site.close()
    await admin.close()


async def test_fifty_concurrent_writers_get_a_gapless_seq(server: ReplyxProcess, fresh_owner: Owner) -> None:
    owner = fresh_owner
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    paths = socket_paths(visitor, owner)
    watcher = await ChatSocket.connect(server.ws_url + paths["admin"])
    await watcher.ready()
    sockets = [await ChatSocket.connect(server.ws_url + paths["widget"]) for _ in range(10)]
    for sock in sockets:
        await sock.ready()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:

        async def operator_post(i: int) -> None:
            response = await http.post(
                f"/api/dialogs/{visitor.dialog_id}/messages",
                json={"text": f"operator {i}", "client_id": f"op-{i}"},
                headers=owner.headers,
            )
            assert response.status_code == 201, response.text

        await asyncio.gather(
            *(operator_post(i) for i in range(40)),
            *(sock.send_message(f"visitor {i}", f"vis-{i}") for i, sock in enumerate(sockets)),
        )
    rows = stored_messages(server.data_dir, visitor.dialog_id)
    client_ids = [r["client_id"] for r in rows if r["client_id"]]
    assert len(client_ids) == 50 and len(set(client_ids)) == 50
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    received = await watcher.messages_until(rows[-1]["seq"])
    assert [m["seq"] for m in received] == [r["seq"] for r in rows]
    for sock in [watcher, *sockets]:
        await sock.close()


async def test_repeated_client_id_returns_the_stored_message_once(server: ReplyxProcess, fresh_owner: Owner) -> None:
    owner = fresh_owner
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    admin = await ChatSocket.connect(server.ws_url + socket_paths(visitor, owner)["admin"])
    await admin.ready()
    client_id = uuid.uuid4().hex
    url = f"/api/site/dialogs/{visitor.dialog_id}/messages"
    async with httpx.AsyncClient(base_url=server.url) as http:
        first = await http.post(url, json={"text": "hello", "client_id": client_id}, headers=visitor.headers)
        again = await http.post(url, json={"text": "hello", "client_id": client_id}, headers=visitor.headers)
        marker = await http.post(url, json={"text": "marker"}, headers=visitor.headers)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    received = await admin.messages_until(marker.json()["seq"])
    assert [m["client_id"] for m in received].count(client_id) == 1
    rows = stored_messages(server.data_dir, visitor.dialog_id)
    assert [r["client_id"] for r in rows].count(client_id) == 1
    await admin.close()


async def test_handoff_changes_are_system_messages_with_status_events(
    server: ReplyxProcess, fresh_owner: Owner
) -> None:
    owner = fresh_owner
    assistant = create_assistant(server.url, owner)
    visitor = open_dialog(server.url, assistant)
    site = await ChatSocket.connect(server.ws_url + socket_paths(visitor, owner)["site"])
    assert (await site.ready())["status"] == "ai"
    async with httpx.AsyncClient(base_url=server.url) as http:
        base = f"/api/dialogs/{visitor.dialog_id}"
        handoff = await http.post(f"/api/site/dialogs/{visitor.dialog_id}/handoff", headers=visitor.headers)
        assert handoff.json()["status"] == "requested"
        for action, status in (("takeover", "operator"), ("release", "ai"), ("close", "closed")):
            response = await http.post(f"{base}/{action}", headers=owner.headers)
            assert response.status_code == 200 and response.json()["status"] == status
        closed = await http.post(f"{base}/messages", json={"text": "too late"}, headers=owner.headers)
        assert closed.status_code == 409
    statuses, notices = [], []
    for _ in range(4):
        message = (await site.next(type="message"))["message"]
        assert message["sender"] == "system"
        notices.append((message["notice"], message["args"]))
        statuses.append((await site.next(type="status"))["status"])
    assert statuses == ["requested", "operator", "ai", "closed"]
    expected = [
        ("human_requested", {}),
        ("operator_joined", {"operator": notices[1][1]["operator"]}),
        ("assistant_returned", {}),
        ("conversation_closed", {}),
    ]
    assert notices == expected and notices[1][1]["operator"]
    async with httpx.AsyncClient(base_url=server.url) as http:
        history = (await http.get(f"{base}/messages", headers=owner.headers)).json()["messages"]
        listed = (await http.get("/api/dialogs", headers=owner.headers)).json()
    preview = next(d for d in listed if d["id"] == visitor.dialog_id)["last_message"]
    assert (preview["notice"], preview["args"]) == ("conversation_closed", {}), "the list's preview is translatable too"
    system = [m for m in history if m["sender"] == "system"]
    assert [(m["notice"], m["args"]) for m in system] == expected
    # The text stays a readable fallback; other messages carry no notice at all.
    assert system[1]["text"] == f"{notices[1][1]['operator']} joined the conversation."
    assert all("notice" not in m for m in history if m["sender"] != "system")
    reopened = open_dialog(server.url, assistant, guest_id=visitor.guest_id)
    assert reopened.dialog_id != visitor.dialog_id
    await site.close()
