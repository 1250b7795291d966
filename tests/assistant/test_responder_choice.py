"""Which answerer an assistant gets: the knowledge base by default, a model when configured."""

from __future__ import annotations

from pathlib import Path

from replyx.assistant.answering import AssistantResponder, Facts
from replyx.config import Settings


def facts(llm_model: str = "") -> Facts:
    """An assistant of a dialog in state ai."""
    return Facts(
        dialog_id=1,
        status="ai",
        assistant_id=1,
        name="Shop",
        faq=[],
        knowledge="",
        instructions="",
        llm_model=llm_model,
    )


def responder(tmp_path: Path, **llm: str) -> AssistantResponder:
    """A responder for these LLM settings."""
    return AssistantResponder(Settings(data_dir=tmp_path, **llm))  # type: ignore[arg-type]


def test_no_configuration_means_the_knowledge_base(tmp_path: Path) -> None:
    assert responder(tmp_path).endpoint(facts()) is None
    assert responder(tmp_path).endpoint(facts("llama3.1")) is None  # a model name alone has nowhere to go


def test_the_server_model_and_the_assistant_override(tmp_path: Path) -> None:
    configured = responder(tmp_path, llm_base_url="http://127.0.0.1:11434/v1", llm_model="base", llm_api_key="k")
    endpoint = configured.endpoint(facts())
    assert endpoint is not None and (endpoint.model, endpoint.api_key) == ("base", "k")
    override = configured.endpoint(facts("special"))
    assert override is not None and override.model == "special"
    assert endpoint.url == "http://127.0.0.1:11434/v1/chat/completions"


def test_a_base_url_without_any_model_name_means_the_knowledge_base(tmp_path: Path) -> None:
    only_url = responder(tmp_path, llm_base_url="http://127.0.0.1:11434/v1")
    assert only_url.endpoint(facts()) is None
    endpoint = only_url.endpoint(facts("qwen2.5"))
    assert endpoint is not None and endpoint.model == "qwen2.5"
