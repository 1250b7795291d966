"""Session fixtures: a real `replyx serve` on a free port with its own data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chat import Owner, create_owner
from tests.support.processes import ReplyxProcess

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplyxProcess]:
    """One replyx on SQLite and the in-memory broker, shared by the tests that do not restart it."""
    process = ReplyxProcess(
        tmp_path_factory.mktemp("replyx"),
        env={"REPLYX_WS_PING_INTERVAL": "25", "REPLYX_WS_PONG_TIMEOUT": "20"},
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def owner(server: ReplyxProcess) -> Owner:
    """An owner account with a logged-in operator."""
    return create_owner(server, "owner")


@pytest.fixture
def fresh_owner(server: ReplyxProcess) -> Owner:
    """An owner of this test alone, for tests that post enough to meet the operator rate limit."""
    return create_owner(server, "fresh")


@pytest.fixture(scope="session")
def other_owner(server: ReplyxProcess) -> Owner:
    """A second, unrelated owner account."""
    return create_owner(server, "other")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests save screenshots and reports."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
