"""Answers from an OpenAI-compatible model: streamed deltas, one stored answer, fallbacks, takeover."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx

from replyx.assistant.phrases import phrase
from tests.assistant.conftest import PING_INTERVAL
from tests.assistant.corpus import load_corpus
from tests.assistant.fake_model import ANSWER, FakeModel
from tests.assistant.waiting import (
    assistant_message,
    events_until,
    post_visitor_message,
    status_is,
    stored_messages,
    wait_for_log,
    wait_for_reply,
)
from tests.support.chat import ChatSocket, Owner, Visitor, create_assistant, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

FALLBACK = phrase("fallback", russian=False)
# The slow model streams for about 4 s: an event loop blocked by it would hold a ping back that
# long, while load on a busy machine alone delays one by a few hundred milliseconds.
MAX_PING_GAP = 2 * PING_INTERVAL + scaled(0.5)


def model_assistant(server: ReplyxProcess, owner: Owner, model: str | None = None) -> dict[str, Any]:
    """An assistant with the shop's knowledge, asking the given fake model (the server's default when None)."""
    corpus = load_corpus()
    fields: dict[str, Any] = {
        "greeting": "Hi! I'm the shop assistant.",
        "faq": corpus["faq"],
        "instructions": "Always sign as Shopbot.",
    }
    if model is not None:
        fields["llm_model"] = model
    return create_assistant(server.url, owner, **fields)


async def connect(server: ReplyxProcess, visitor: Visitor, owner: Owner, pool: str) -> ChatSocket:
    """A socket of one pool on the visitor's dialog, after its `ready`."""
    sock = await ChatSocket.connect(server.ws_url + socket_paths(visitor, owner)[pool])
    await sock.ready()
    return sock


def deltas(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The message_delta events among these."""
    return [e for e in events if e["type"] == "message_delta"]


async def test_deltas_reach_visitor_and_operator_then_one_final_message(
    llm_server: ReplyxProcess, llm_owner: Owner, fake_model: FakeModel
) -> None:
    visitor = open_dialog(llm_server.url, model_assistant(llm_server, llm_owner))
    site = await connect(llm_server, visitor, llm_owner, "site")
    admin = await connect(llm_server, visitor, llm_owner, "admin")
    await site.send_message("How do I return an item?")

    for sock in (site, admin):
        events = await events_until(sock, assistant_message)
        final = events[-1]["message"]
        streamed = deltas(events)
        assert streamed, "no message_delta before the final message"
        assert {d["stream_id"] for d in streamed} == {final["client_id"]}
        assert {d["dialog_id"] for d in streamed} == {visitor.dialog_id}
        assert "".join(d["text"] for d in streamed) == final["text"] == ANSWER
        typing = [e["state"] for e in events if e["type"] == "typing" and e["sender"] == "assistant"]
        assert typing == ["start"]
        assert (await sock.next(type="typing"))["state"] == "stop"

    await asyncio.sleep(scaled(0.3))
    stored = (await stored_messages(llm_server.url, visitor))["messages"]
    assert [(m["seq"], m["sender"]) for m in stored] == [(1, "assistant"), (2, "user"), (3, "assistant")]
    assert stored[2]["text"] == ANSWER
    assert [m for m in site.received_messages() if m["sender"] == "assistant"][-1]["seq"] == 3

    request = fake_model.requests_for("ok")[-1]
    system = request["messages"][0]
    assert system["role"] == "system"
    assert "Always sign as Shopbot." in system["content"]
    assert "press Return" in system["content"]  # the best knowledge passage rides along
    assert [(m["role"], m["content"]) for m in request["messages"][1:]] == [
        ("assistant", "Hi! I'm the shop assistant."),
        ("user", "How do I return an item?"),
    ]
    assert "sk-test-key-never-logged" not in llm_server.log()
    await site.close()
    await admin.close()


async def test_a_client_joining_mid_stream_ends_with_the_final_message(
    llm_server: ReplyxProcess, llm_owner: Owner, fake_model: FakeModel
) -> None:
    fake_model.gate.clear()
    visitor = open_dialog(llm_server.url, model_assistant(llm_server, llm_owner, "gated"))
    site = await connect(llm_server, visitor, llm_owner, "site")
    try:
        await site.send_message("How do I return an item?")
        await site.next(type="message_delta")
        late = await ChatSocket.connect(llm_server.ws_url + socket_paths(visitor, llm_owner)["widget"])
        await late.ready()
    finally:
        fake_model.gate.set()
    events = await events_until(late, assistant_message)
    assert events[-1]["message"]["text"] == ANSWER
    await asyncio.sleep(scaled(0.3))
    assert [m["text"] for m in late.received_messages() if m["sender"] == "assistant"][-1:] == [ANSWER]
    assert len([m for m in late.received_messages() if m["text"] == ANSWER]) == 1
    await site.close()
    await late.close()


async def _ping_times(sock: ChatSocket, until: asyncio.Event) -> list[float]:
    """When each heartbeat ping reached the socket (sampled every 10 ms)."""
    times: list[float] = []
    seen = sock.pings
    while not until.is_set():
        if sock.pings != seen:
            seen = sock.pings
            times.append(time.monotonic())
        await asyncio.sleep(0.01)
    return times


async def _prepare(server: ReplyxProcess, owner: Owner, model: str) -> tuple[Visitor, ChatSocket]:
    visitor = open_dialog(server.url, model_assistant(server, owner, model))
    return visitor, await connect(server, visitor, owner, "site")


async def test_failures_end_in_fallback_and_handoff_while_heartbeats_keep_their_rhythm(
    llm_server: ReplyxProcess, llm_owner: Owner, fake_model: FakeModel
) -> None:
    # Everything blocking is set up first: the test's own loop must not delay the pings it times.
    models = ("slow", "error500", "ratelimit", "hang", "cut")
    prepared = [await _prepare(llm_server, llm_owner, m) for m in models]
    bystander_visitor = open_dialog(llm_server.url, create_assistant(llm_server.url, llm_owner))
    bystander = await connect(llm_server, bystander_visitor, llm_owner, "site")
    inbox = await ChatSocket.connect(llm_server.ws_url + socket_paths(bystander_visitor, llm_owner)["inbox"])
    await inbox.ready()
    stop = asyncio.Event()
    bystander_pings = asyncio.create_task(_ping_times(bystander, stop))
    inbox_pings = asyncio.create_task(_ping_times(inbox, stop))
    started = time.monotonic()

    sent = await asyncio.gather(
        *(post_visitor_message(llm_server.url, visitor, "How do I return an item?") for visitor, _ in prepared)
    )
    asked = [(visitor, sock, message) for (visitor, sock), message in zip(prepared, sent, strict=True)]
    health: list[float] = []
    async with httpx.AsyncClient() as http:
        for _ in range(10):
            before = time.monotonic()
            (await http.get(f"{llm_server.url}/health")).raise_for_status()
            health.append(time.monotonic() - before)
            await asyncio.sleep(0.1)
    replies = await asyncio.gather(
        *(wait_for_reply(llm_server.url, visitor, sent["seq"], timeout=15) for visitor, _, sent in asked)
    )
    for model, (visitor, sock, _), (reply, _) in zip(models, asked, replies, strict=True):
        if model == "slow":
            assert reply["text"] == ANSWER
            events = await events_until(sock, assistant_message)
            streamed = deltas(events)
            assert len(streamed) >= 5  # the slow answer was streamed, not delivered at once
            continue
        assert reply["text"] == FALLBACK, model
        await events_until(sock, status_is("requested"))
        assert (await stored_messages(llm_server.url, visitor))["status"] == "requested"
    elapsed = time.monotonic() - started
    stop.set()

    causes = {
        "error500": "the model answered HTTP 500",
        "ratelimit": "the model is rate limited (HTTP 429, retry after 7 s)",
        "hang": "no answer within",
        "cut": "the connection to the model failed",
    }
    for model, cause in causes.items():
        line = await wait_for_log(llm_server, f"Assistant model {model} failed in dialog")
        assert cause in line, line

    for task in (bystander_pings, inbox_pings):
        times = await task
        gaps = [b - a for a, b in itertools.pairwise(times)]
        print(f"\n{len(times)} pings in {elapsed:.1f} s, gaps {min(gaps):.2f}-{max(gaps):.2f} s")
        assert len(times) >= int(elapsed / PING_INTERVAL) - 2, (len(times), elapsed)
        assert max(gaps) <= MAX_PING_GAP, gaps
    assert max(health) < scaled(1.0), health
    assert not bystander.closed.done() and not inbox.closed.done()
    for _, sock, _ in asked:
        await sock.close()
    await bystander.close()
    await inbox.close()


async def test_takeover_during_generation_drops_the_answer(
    llm_server: ReplyxProcess, llm_owner: Owner, fake_model: FakeModel
) -> None:
    fake_model.gate.clear()
    visitor = open_dialog(llm_server.url, model_assistant(llm_server, llm_owner, "gated"))
    site = await connect(llm_server, visitor, llm_owner, "site")
    admin = await connect(llm_server, visitor, llm_owner, "admin")
    try:
        await site.send_message("How do I return an item?")
        await admin.next(type="message_delta")
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{llm_server.url}/api/dialogs/{visitor.dialog_id}/takeover", headers=llm_owner.headers
            )
        assert response.status_code == 200 and response.json()["status"] == "operator"
    finally:
        fake_model.gate.set()
    await wait_for_log(llm_server, f"Dropped the assistant's answer in dialog {visitor.dialog_id}")
    events = await events_until(site, lambda e: e["type"] == "typing" and e["state"] == "stop")
    assert not any(assistant_message(e) for e in events)
    await asyncio.sleep(scaled(0.3))
    stored = (await stored_messages(llm_server.url, visitor))["messages"]
    assert [m["sender"] for m in stored] == ["assistant", "user", "system"]  # greeting, question, "joined"
    assert not any(m["sender"] == "assistant" for m in site.received_messages()[1:])
    await site.close()
    await admin.close()
