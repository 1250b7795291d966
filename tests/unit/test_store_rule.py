"""The rule a dialog applies to a write, in Python (SQLite's store) and in SQL (PostgreSQL's): one answer."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from replyx.db.store.base import WriteRequest, accepts, accepts_params, accepts_sql
from replyx.domain.status import DialogStatus

STATUSES = [s.value for s in DialogStatus]
HOLDERS = [None, 1, 2]
ALLOWED = [("operator",), ("ai",), ("ai", "requested", "operator"), ("requested", "operator")]


def requests() -> list[WriteRequest]:
    """Plain messages, status changes and takeovers by operators 1 and 2, in every allowed set."""
    found = []
    for allowed in ALLOWED:
        found.append(WriteRequest(1, "user", "hi", allowed))
        for new_status, new_operator, unless_held in itertools.product(STATUSES, HOLDERS, (False, True)):
            found.append(
                WriteRequest(
                    1,
                    "system",
                    "change",
                    allowed,
                    new_status=new_status,
                    new_operator_id=new_operator,
                    unless_held_by_new_operator=unless_held,
                )
            )
    return found


@pytest.fixture(scope="module")
def database() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE dialog (id INTEGER PRIMARY KEY, status TEXT, operator_id INTEGER)")
    return connection


@pytest.mark.parametrize(("status", "holder"), list(itertools.product(STATUSES, HOLDERS)))
def test_python_and_sql_agree_for_every_dialog_state(database: sqlite3.Connection, status: str, holder: int) -> None:
    database.execute("DELETE FROM dialog")
    database.execute("INSERT INTO dialog VALUES (1, ?, ?)", (status, holder))
    for request in requests():
        condition = accepts_sql(len(request.allowed_statuses), request.unless_held_by_new_operator)
        params = accepts_params(request)
        if "new_status" not in params:
            params.update(new_status=None, new_operator_id=None)
        in_sql = database.execute(f"SELECT count(*) FROM dialog WHERE id = 1 AND {condition}", params).fetchone()[0]
        assert bool(in_sql) == accepts(request, status, holder), (request, status, holder)


def test_a_takeover_by_the_holder_is_refused_but_one_by_a_colleague_applies() -> None:
    takeover = WriteRequest(
        1,
        "system",
        "x",
        ("ai", "requested", "operator"),
        new_status="operator",
        new_operator_id=1,
        unless_held_by_new_operator=True,
    )
    assert not accepts(takeover, "operator", 1)
    assert accepts(takeover, "operator", 2)
    assert accepts(takeover, "operator", None)  # a deleted operator holds nobody
    assert not accepts(takeover, "closed", None)
