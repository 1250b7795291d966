"""Fixtures of the assistant tests: a fake model on a free port and a replyx that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.assistant.fake_model import FakeModel
from tests.support.chat import Owner, create_owner
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

# Short enough that a hanging model is given up on quickly, long enough for a busy machine.
LLM_TIMEOUT = 1.5
# A quick heartbeat, so a blocked event loop would show as a late ping within seconds.
PING_INTERVAL = 0.5


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModel]:
    """The OpenAI-compatible fake model, serving on 127.0.0.1."""
    model = FakeModel().start()
    yield model
    model.stop()


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeModel) -> Iterator[ReplyxProcess]:
    """A replyx whose assistants ask the fake model (model ``ok`` unless an assistant names another)."""
    process = ReplyxProcess(
        Path(tmp_path_factory.mktemp("replyx-llm")),
        env={
            "REPLYX_LLM_BASE_URL": fake_model.base_url,
            "REPLYX_LLM_MODEL": "ok",
            "REPLYX_LLM_API_KEY": "sk-test-key-never-logged",
            "REPLYX_LLM_TIMEOUT": str(scaled(LLM_TIMEOUT)),
            "REPLYX_WS_PING_INTERVAL": str(PING_INTERVAL),
            "REPLYX_WS_PONG_TIMEOUT": "10",
        },
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def llm_owner(llm_server: ReplyxProcess) -> Owner:
    """An owner on the model-backed server."""
    return create_owner(llm_server, "llm")
