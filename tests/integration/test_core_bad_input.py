"""Bad input on sockets and REST: documented errors, nothing half-stored, everyone else still served."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.support.chat import ChatSocket, Owner, create_assistant, open_dialog, socket_paths
from tests.support.db import stored_messages
from tests.support.processes import ReplyxProcess


async def test_bad_frames_get_error_events_and_the_socket_stays(server: ReplyxProcess, owner: Owner) -> None:
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    paths = socket_paths(visitor, owner)
    sock = await ChatSocket.connect(server.ws_url + paths["site"])
    bystander = await ChatSocket.connect(server.ws_url + paths["admin"])
    await sock.ready()
    await bystander.ready()
    cases = [
        ("{not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "message"}), "bad_request"),
        (json.dumps({"type": "message", "text": 42}), "bad_request"),
        (json.dumps({"type": "message", "text": "x" * 4001}), "too_long"),
        (json.dumps({"type": "message", "text": "   "}), "bad_request"),
        (json.dumps({"type": "typing", "state": "maybe"}), "bad_request"),
        (json.dumps({"type": "read", "seq": -1}), "bad_request"),
        ("[" * 5000 + "]" * 5000, "bad_request"),
    ]
    for frame, code in cases:
        await sock.ws.send(frame)
        error = await sock.next(type="error")
        assert error["code"] == code, frame[:40]
        assert error["detail"]
    await sock.ws.send(b"\x00\x01binary")
    assert (await sock.next(type="error"))["code"] == "bad_request"
    await sock.send_message("still works")
    echoed = await bystander.next(type="message")
    assert echoed["message"]["text"] == "still works"
    assert [m["text"] for m in stored_messages(server.data_dir, visitor.dialog_id)] == ["still works"]
    await sock.close()
    await bystander.close()


async def test_a_frame_over_64_kib_is_closed_with_1009(server: ReplyxProcess, owner: Owner) -> None:
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    paths = socket_paths(visitor, owner)
    sock = await ChatSocket.connect(server.ws_url + paths["widget"])
    other = await ChatSocket.connect(server.ws_url + paths["admin"])
    await sock.ready()
    await other.ready()
    await sock.ws.send(json.dumps({"type": "message", "text": "y" * 70_000}))
    assert await sock.close_code() == 1009
    await other.send_message("others keep working")
    received = await other.messages_until(2)
    assert received[-1]["text"] == "others keep working"
    texts = [m["text"] for m in stored_messages(server.data_dir, visitor.dialog_id)]
    assert texts[-1] == "others keep working" and len(texts) == 2  # the takeover notice, then the reply
    await other.close()


async def test_visitor_rate_limit_on_socket_and_rest(server: ReplyxProcess, owner: Owner) -> None:
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    sock = await ChatSocket.connect(server.ws_url + socket_paths(visitor, owner)["site"])
    await sock.ready()
    for i in range(20):
        await sock.send_message(f"m{i}")
    await sock.send_message("one too many")
    error = await sock.next(type="error", timeout=10)
    assert error["code"] == "rate_limited"
    response = httpx.post(
        f"{server.url}/api/site/dialogs/{visitor.dialog_id}/messages", json={"text": "rest"}, headers=visitor.headers
    )
    assert response.status_code == 429 and "too many" in response.json()["detail"]
    await asyncio.sleep(0.2)
    assert len(stored_messages(server.data_dir, visitor.dialog_id)) == 20
    await sock.close()


def test_rest_rejects_bad_bodies_with_a_detail(server: ReplyxProcess, owner: Owner) -> None:
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    url = f"{server.url}/api/site/dialogs/{visitor.dialog_id}/messages"
    for body in ({"text": "x" * 4001}, {"text": ""}, {"text": 5}, {"nope": 1}, {"text": "a", "sender": "operator"}):
        response = httpx.post(url, json=body, headers=visitor.headers)
        assert response.status_code == 422, body
        assert response.json()["detail"]
    response = httpx.post(url, content=b"{broken", headers={**visitor.headers, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert stored_messages(server.data_dir, visitor.dialog_id) == []
