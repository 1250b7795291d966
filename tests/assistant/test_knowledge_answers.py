"""The default responder on a real server: knowledge-base answers, handoff below the threshold."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from replyx.assistant.phrases import phrase
from replyx.assistant.text import is_russian
from tests.assistant.corpus import load_corpus, shop_assistant
from tests.assistant.waiting import (
    assistant_message,
    events_until,
    open_dialogs,
    post_visitor_message,
    wait_for_status,
)
from tests.support.chat import ChatSocket, Owner, Visitor, create_assistant, open_dialog, socket_paths
from tests.support.processes import ReplyxProcess

# End to end the hit rate must match the knowledge-base unit test (25 of 30 measured).
MIN_HIT_RATE = 0.8


async def ask_all(server: ReplyxProcess, owner: Owner, visitors: list[Visitor], questions: list[str]) -> list[str]:
    """Each visitor asks its question; the assistant's replies, read from the owner's inbox socket."""
    inbox = await ChatSocket.connect(server.ws_url + socket_paths(visitors[0], owner)["inbox"])
    await inbox.ready()
    async with httpx.AsyncClient() as http:
        sent = await asyncio.gather(
            *(post_visitor_message(server.url, v, q, http) for v, q in zip(visitors, questions, strict=True))
        )
    after = {v.dialog_id: m["seq"] for v, m in zip(visitors, sent, strict=True)}
    replies: dict[int, str] = {}

    def all_replied(event: dict[str, Any]) -> bool:
        if assistant_message(event) and event["message"]["seq"] > after.get(event["dialog_id"], 1 << 30):
            replies.setdefault(event["dialog_id"], event["message"]["text"])
        return len(replies) == len(visitors)

    await events_until(inbox, all_replied, timeout=20)
    await inbox.close()
    return [replies[v.dialog_id] for v in visitors]


async def test_shipped_corpus_is_answered_and_unrelated_questions_go_to_a_human(
    server: ReplyxProcess, owner: Owner
) -> None:
    corpus = load_corpus()
    assistant = shop_assistant(server, owner)
    items = corpus["questions"]
    visitors = await open_dialogs(server.url, assistant, len(items))
    answers = await ask_all(server, owner, visitors, [item["q"] for item in items])
    right = [item["q"] for item, text in zip(items, answers, strict=True) if item["expect"] in text]
    rate = len(right) / len(items)
    print(f"\nend-to-end knowledge-base hit rate: {len(right)}/{len(items)} = {rate:.0%}")
    assert rate >= MIN_HIT_RATE

    unrelated = corpus["unrelated"]
    visitors = await open_dialogs(server.url, assistant, len(unrelated))
    answers = await ask_all(server, owner, visitors, unrelated)
    for visitor, question, text in zip(visitors, unrelated, answers, strict=True):
        assert text == phrase("finding_human", russian=is_russian(question)), question
        await wait_for_status(server.url, visitor, "requested")


async def test_an_answer_comes_with_typing_and_after_the_greeting(server: ReplyxProcess, owner: Owner) -> None:
    visitor = open_dialog(server.url, shop_assistant(server, owner))
    site = await ChatSocket.connect(server.ws_url + socket_paths(visitor, owner)["site"])
    await site.ready()
    assert [(m["seq"], m["sender"], m["text"]) for m in site.received_messages()] == [
        (1, "assistant", "Hello! Ask me anything.")
    ]
    await site.send_message("как вернуть товар?")
    events = await events_until(site, assistant_message)
    assert "Вернуть товар надлежащего качества" in events[-1]["message"]["text"]
    assert [e["state"] for e in events if e["type"] == "typing" and e["sender"] == "assistant"] == ["start"]
    assert (await site.next(type="typing"))["state"] == "stop"
    await site.send_message("Спасибо!")
    events = await events_until(site, assistant_message)
    assert events[-1]["message"]["text"] == phrase("thanks", russian=True)
    await site.close()


async def test_an_assistant_without_knowledge_stays_silent(server: ReplyxProcess, owner: Owner) -> None:
    visitor = open_dialog(server.url, create_assistant(server.url, owner))
    site = await ChatSocket.connect(server.ws_url + socket_paths(visitor, owner)["site"])
    await site.ready()
    await site.send_message("Is anyone there?")
    await site.next(type="message")
    await asyncio.sleep(0.5)
    assert [m["sender"] for m in site.received_messages()] == ["user"]
    await site.close()
