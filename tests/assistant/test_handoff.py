"""The visitor asks for a person: the dialog waits for an operator, the assistant stays quiet until released."""

from __future__ import annotations

import asyncio

import httpx

from replyx.assistant.phrases import phrase
from tests.assistant.corpus import shop_assistant
from tests.assistant.waiting import assistant_message, events_until, status_is, stored_messages
from tests.support.chat import ChatSocket, Owner, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled


async def test_asking_for_an_operator_hands_over_and_release_brings_the_assistant_back(
    server: ReplyxProcess, owner: Owner
) -> None:
    visitor = open_dialog(server.url, shop_assistant(server, owner))
    paths = socket_paths(visitor, owner)
    sockets = {pool: await ChatSocket.connect(server.ws_url + paths[pool]) for pool in ("site", "admin", "inbox")}
    for sock in sockets.values():
        await sock.ready()

    await sockets["site"].send_message("Позовите, пожалуйста, оператора")
    for pool, sock in sockets.items():
        events = await events_until(sock, status_is("requested"))
        said = [e["message"] for e in events if assistant_message(e)]
        assert [m["text"] for m in said] == [phrase("calling_human", russian=True)], pool
        assert events[-1]["dialog_id"] == visitor.dialog_id and events[-1]["operator"] is None
    assert (await stored_messages(server.url, visitor))["status"] == "requested"

    # While a human is awaited the assistant stays quiet.
    await sockets["site"].send_message("как вернуть товар?")
    await sockets["site"].next(type="message")
    await asyncio.sleep(scaled(0.5))
    assert [m["sender"] for m in (await stored_messages(server.url, visitor))["messages"]][-1] == "user"

    async with httpx.AsyncClient() as http:
        released = await http.post(f"{server.url}/api/dialogs/{visitor.dialog_id}/release", headers=owner.headers)
    assert released.status_code == 200 and released.json()["status"] == "ai"
    for sock in sockets.values():
        await events_until(sock, status_is("ai"))

    await sockets["site"].send_message("How do I return an item?")
    for pool, sock in sockets.items():
        events = await events_until(sock, assistant_message)
        assert "press Return" in events[-1]["message"]["text"], pool
    assert (await stored_messages(server.url, visitor))["status"] == "ai"
    for sock in sockets.values():
        await sock.close()


async def test_english_request_for_a_human(server: ReplyxProcess, owner: Owner) -> None:
    visitor = open_dialog(server.url, shop_assistant(server, owner))
    site = await ChatSocket.connect(server.ws_url + socket_paths(visitor, owner)["widget"])
    await site.ready()
    await site.send_message("I want to talk to a human")
    events = await events_until(site, status_is("requested"))
    assert [e["message"]["text"] for e in events if assistant_message(e)] == [phrase("calling_human", russian=False)]
    await site.close()
