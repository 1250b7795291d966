"""WAL checkpoints off the writer's commits: ``replyx.db.checkpoint`` on real SQLite files.

Whether a row has reached the database file itself (not only the log) is read
from a copy of that file alone: a row that is only in the WAL is not in the copy.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from replyx.db.checkpoint import WalCheckpointer
from replyx.db.migrate import upgrade
from replyx.db.store import SqliteMessageStore, WriteRequest
from tests.support.timing import scaled


def rows_in_database_file(path: Path, table: str) -> int:
    """Rows of the table in the main database file, leaving the WAL out."""
    copy = path.with_name("copy-" + path.name)
    shutil.copyfile(path, copy)
    try:
        with sqlite3.connect(copy) as connection:
            return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        copy.unlink()


def wal_size(path: Path) -> int:
    """Bytes of the database's WAL file."""
    return path.with_name(path.name + "-wal").stat().st_size


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll until the condition holds; fail the test when it never does."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A WAL database with an empty table, and a writer connection that never checkpoints by itself.

    The log is cut back whenever it starts over, so its file size tells how much it holds.
    """
    connection = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("PRAGMA journal_size_limit=0")
    connection.execute("CREATE TABLE line (id INTEGER PRIMARY KEY, text TEXT)")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    yield connection
    connection.close()


def commit_lines(connection: sqlite3.Connection, count: int) -> None:
    """Commit ``count`` transactions of one row each."""
    for _ in range(count):
        connection.execute("INSERT INTO line (text) VALUES (?)", ("x" * 200,))


def test_a_nudge_copies_the_log_into_the_database_file(tmp_path: Path, writer: sqlite3.Connection) -> None:
    path = tmp_path / "chat.db"
    checkpointer = WalCheckpointer(str(path), interval=0.01)
    try:
        commit_lines(writer, 20)
        assert rows_in_database_file(path, "line") == 0  # only in the WAL: nothing checkpoints it
        checkpointer.nudge()
        wait_until(lambda: checkpointer.checkpoints == 1)
        assert rows_in_database_file(path, "line") == 20
    finally:
        checkpointer.stop()


def test_without_a_nudge_the_thread_stays_idle(tmp_path: Path, writer: sqlite3.Connection) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "chat.db"), interval=0.01)
    try:
        commit_lines(writer, 5)
        time.sleep(0.2)
        assert checkpointer.checkpoints == 0
    finally:
        checkpointer.stop()
    # Stopping runs a last checkpoint for whatever was written.
    assert checkpointer.checkpoints == 1
    assert rows_in_database_file(tmp_path / "chat.db", "line") == 5


def test_the_writers_catch_up_lets_the_log_start_over(tmp_path: Path, writer: sqlite3.Connection) -> None:
    path = tmp_path / "chat.db"
    checkpointer = WalCheckpointer(str(path), interval=0.01, catch_up_pages=10)
    try:
        commit_lines(writer, 50)
        checkpointer.nudge()
        wait_until(lambda: checkpointer.catch_up_due)
        # Commits after the thread's checkpoint, as under steady load: the log cannot start over now,
        # so each further commit makes it longer.
        commit_lines(writer, 5)
        before = wal_size(path)
        commit_lines(writer, 1)
        grown = wal_size(path)
        assert grown > before
        checkpointer.catch_up(writer)
        assert not checkpointer.catch_up_due
        commit_lines(writer, 1)
        assert wal_size(path) < before  # the log started over: it holds this one commit
    finally:
        checkpointer.stop()
    assert rows_in_database_file(path, "line") == 57


def test_a_small_log_needs_no_catch_up(tmp_path: Path, writer: sqlite3.Connection) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "chat.db"), interval=0.01)
    try:
        commit_lines(writer, 5)
        checkpointer.nudge()
        wait_until(lambda: checkpointer.checkpoints == 1)
        assert not checkpointer.catch_up_due
    finally:
        checkpointer.stop()


def test_messages_the_store_commits_reach_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "replyx.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO owner (id, name, created_at) VALUES (1, 'o', '2026-01-01 00:00:00')")
        connection.execute(
            "INSERT INTO assistant (id, owner_id, name, greeting, allowed_domains, faq, knowledge, instructions,"
            " llm_model, token_version, created_at) VALUES (1, 1, 'a', '', '[]', '[]', '', '', '', 1, '2026-01-01')"
        )
        connection.execute(
            "INSERT INTO dialog (id, owner_id, assistant_id, guest_id, status, last_seq, visitor_read_seq,"
            " operator_read_seq, created_at, updated_at)"
            " VALUES (1, 1, 1, 'g', 'ai', 0, 0, 0, '2026-01-01', '2026-01-01')"
        )

    async def scenario() -> None:
        store = SqliteMessageStore(str(path))
        try:
            for n in range(3):
                request = WriteRequest(dialog_id=1, sender="user", text=f"hello {n}", allowed_statuses=("ai",))
                (outcome,) = await store.write([request])
                assert outcome.stored is not None
            # Three small commits are far below SQLite's own 1,000-page checkpoint: only the
            # checkpointer's thread copies them into the database file while the store stays open.
            await asyncio.to_thread(wait_until, lambda: rows_in_database_file(path, "message") == 3)
        finally:
            await store.close()

    asyncio.run(scenario())
