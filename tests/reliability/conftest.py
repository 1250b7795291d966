"""Fixtures of the reliability suite: servers with the settings each part needs, and the report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.reliability.figures import RECORDED, REPORT
from tests.reliability.profile import PROFILE
from tests.support.processes import ReplyxProcess

# Limits that would otherwise refuse the suite's own traffic (it all comes from 127.0.0.1).
UNLIMITED = {
    "REPLYX_VISITOR_RATE_LIMIT": "1000000000",
    "REPLYX_OPERATOR_RATE_LIMIT": "1000000000",
    "REPLYX_MAX_CONNECTS_PER_IP": "1000000000",
    "REPLYX_MAX_SOCKETS_PER_IP": "1000000",
    "REPLYX_MAX_CONNECTIONS": "1000000",
    # The schema and access-matrix tests read every route from it.
    "REPLYX_API_DOCS": "true",
}

StartServer = Callable[..., ReplyxProcess]


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Start `replyx serve` processes with extra environment; all are stopped after the module."""
    started: list[ReplyxProcess] = []

    def start(name: str, **env: str) -> ReplyxProcess:
        process = ReplyxProcess(tmp_path_factory.mktemp(name), env=env)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplyxProcess]:
    """One server without rate limits for the abuse tests that need no settings of their own.

    Each test works with an owner of its own, so what one does cannot change another's outcome.
    """
    process = ReplyxProcess(tmp_path_factory.mktemp("reliability"), env=UNLIMITED)
    process.start()
    yield process
    process.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures this run recorded, so they are seen without opening the report."""
    if not RECORDED:
        return
    terminalreporter.section(f"reliability figures ({PROFILE} profile, also in {REPORT.name})")
    for section, figures in RECORDED.items():
        terminalreporter.write_line(f"{section}: {json.dumps(figures, sort_keys=True)}")
