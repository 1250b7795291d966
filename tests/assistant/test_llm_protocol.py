"""Pure parts of the model client and the prompt: server-sent events, chunks, messages."""

from __future__ import annotations

import pytest

from replyx.assistant.knowledge import Hit, Passage
from replyx.assistant.llm import Endpoint, ModelError, SseParser, chunk_text
from replyx.assistant.prompt import chat_messages, system_prompt


def test_sse_parser_joins_data_lines_and_skips_comments() -> None:
    parser = SseParser()
    lines = [": keep-alive", "", "event: x", 'data: {"a":', "data: 1}", "", "data:[DONE]", ""]
    assert [d for d in (parser.feed(line) for line in lines) if d is not None] == ['{"a":\n1}', "[DONE]"]
    parser.feed("data: tail")
    assert parser.flush() == "tail"


def test_chunk_text_reads_deltas_and_the_finish() -> None:
    assert chunk_text({"choices": [{"delta": {"role": "assistant"}}]}) == ("", False)
    assert chunk_text({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}) == ("Hi", False)
    assert chunk_text({"choices": [{"delta": {}, "finish_reason": "stop"}]}) == ("", True)
    with pytest.raises(ModelError, match="overloaded"):
        chunk_text({"error": {"message": "overloaded"}})


def test_endpoint_url_and_key_stays_out_of_repr() -> None:
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1/", model="m", api_key="sk-secret")
    assert endpoint.url == "http://127.0.0.1:9/v1/chat/completions"
    assert "sk-secret" not in repr(endpoint)


def test_system_prompt_carries_instructions_and_passages() -> None:
    hits = [Hit(Passage("faq", "How do I return an item?", "Press Return."), 3.0, 1.0)]
    text = system_prompt(name="Shop", instructions="Be brief.", passages=hits)
    assert "Shop" in text and "Be brief." in text
    assert "[1] Q: How do I return an item?\nA: Press Return." in text
    assert "nothing related" in system_prompt(name="Shop", instructions="", passages=[])


def test_chat_messages_map_senders_to_roles() -> None:
    history = [
        {"sender": "assistant", "text": "Hello!"},
        {"sender": "user", "text": "Hi"},
        {"sender": "system", "text": "Anna joined the conversation."},
        {"sender": "operator", "text": "Anna here."},
    ]
    messages = chat_messages(system="rules", history=history)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "rules"),
        ("assistant", "Hello!"),
        ("user", "Hi"),
        ("assistant", "Anna here."),
    ]
