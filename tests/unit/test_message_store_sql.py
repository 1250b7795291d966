"""The seq-taking statement of the message store, built as text without a database."""

from __future__ import annotations

import re

import pytest

from replyx.db.store.postgres import take_seq_sql as _take_seq_sql


def placeholders(sql: str) -> set[str]:
    return set(re.findall(r"(?<!:):([a-z_][a-z0-9_]*)", sql))


@pytest.mark.parametrize("statuses", [1, 3])
def test_a_plain_message_takes_the_next_seq_in_the_allowed_statuses(statuses: int) -> None:
    sql = _take_seq_sql(statuses, False, False)
    assert sql.startswith("UPDATE dialog SET last_seq = last_seq + 1")
    names = ", ".join(f":status{n}" for n in range(statuses))
    assert f"status IN ({names})" in sql
    assert placeholders(sql) == {"now", "dialog_id"} | {f"status{n}" for n in range(statuses)}
    assert "RETURNING" in sql


def test_a_status_change_sets_status_and_holder() -> None:
    sql = _take_seq_sql(2, True, False)
    assert "status = :new_status, operator_id = :new_operator_id" in sql
    assert placeholders(sql) == {"now", "dialog_id", "status0", "status1", "new_status", "new_operator_id"}
    assert "NOT (" not in sql


def test_a_takeover_skips_a_dialog_the_same_operator_holds_but_not_one_held_by_nobody() -> None:
    sql = _take_seq_sql(3, True, True)
    guard = "NOT (status = :new_status AND coalesce(operator_id = :new_operator_id, FALSE))"
    assert guard in sql
    # The guard is part of the WHERE clause, not of what is set.
    assert sql.index("WHERE") < sql.index(guard)


def test_one_statement_per_form() -> None:
    assert _take_seq_sql(3, True, True) is _take_seq_sql(3, True, True)
    assert _take_seq_sql(3, False, False) != _take_seq_sql(2, False, False)
