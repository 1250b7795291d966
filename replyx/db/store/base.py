"""What every message store shares: the request, its outcome, and the rule a dialog applies to it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError

# What a database that is down or refusing raises, by driver: a batch failing with one of these
# was not stored at all (its transaction rolled back), so the senders may simply retry.
STORAGE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, OSError, sqlite3.Error)


@dataclass(frozen=True)
class WriteRequest:
    """One message to store, with the dialog statuses in which it may be stored."""

    dialog_id: int
    sender: str
    text: str
    allowed_statuses: tuple[str, ...]
    client_id: str | None = None
    operator_id: int | None = None
    # A system notice's code and arguments (replyx.domain.notices), stored beside its text.
    notice: str | None = None
    notice_args: dict[str, Any] | None = None
    # A handoff change stored with the message: the dialog's new status and holder.
    new_status: str | None = None
    new_operator_id: int | None = None
    # A takeover does not apply when the same operator already holds the dialog.
    unless_held_by_new_operator: bool = False


@dataclass(frozen=True)
class Row:
    """A stored message as the wire shows it (``created_at`` still a datetime)."""

    id: int
    seq: int
    sender: str
    text: str
    created_at: datetime
    client_id: str | None
    notice: str | None = None
    notice_args: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of a request.

    ``stored``: the new row, with the dialog's owner and status after the write.
    ``duplicate``: the row stored earlier under the same client_id.
    ``refused``: a constraint refused the row (say, its operator was deleted meanwhile).
    None of these: the dialog is missing (``status`` None) or in a status that refuses it.
    """

    stored: Row | None = None
    duplicate: Row | None = None
    owner_id: int | None = None
    status: str | None = None
    refused: bool = False


class MessageStore(Protocol):
    """Stores batches of messages, each batch in one transaction."""

    async def write(self, requests: Sequence[WriteRequest]) -> list[Outcome]:
        """Store the requests in order; one outcome per request."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


# The rule a dialog applies to a request, in one place. SQLite applies it in Python to the dialog
# row it read (its batch holds the write lock, so the row cannot change meanwhile); PostgreSQL
# applies it in the WHERE of the statement that takes the seq, so a message costs one round trip.
# tests/unit/test_store_rule.py checks on a real database that the two agree on every case.


def accepts(request: WriteRequest, status: str, operator_id: int | None) -> bool:
    """Whether a dialog in ``status``, held by ``operator_id``, takes the request."""
    if status not in request.allowed_statuses:
        return False
    if request.unless_held_by_new_operator:
        # A NULL operator holds nobody, so the change applies.
        return not (status == request.new_status and operator_id is not None and operator_id == request.new_operator_id)
    return True


@lru_cache(maxsize=64)
def accepts_sql(statuses: int, unless_held: bool) -> str:
    """``accepts`` as an SQL condition on the dialog row, with ``:statusN`` and ``:new_*`` parameters."""
    names = ", ".join(f":status{n}" for n in range(statuses))
    condition = f"status IN ({names})"
    if unless_held:
        # coalesce: a NULL on either side (a deleted holder, no new holder) is "not held by", as in Python.
        condition += " AND NOT (status = :new_status AND coalesce(operator_id = :new_operator_id, FALSE))"
    return condition


def accepts_params(request: WriteRequest) -> dict[str, Any]:
    """The parameters of ``accepts_sql`` for this request."""
    params: dict[str, Any] = {f"status{n}": s for n, s in enumerate(request.allowed_statuses)}
    if request.new_status is not None:
        params.update(new_status=request.new_status, new_operator_id=request.new_operator_id)
    return params


# A resend: the message stored earlier under the same client_id.
FIND_CLIENT_ID = (
    "SELECT id, seq, sender, text, created_at, client_id, notice, notice_args FROM message"
    " WHERE dialog_id = :dialog_id AND client_id = :client_id"
)


def row_from_db(values: Sequence[Any]) -> Row:
    """A row read with ``FIND_CLIENT_ID``: drivers hand back times and JSON as text or as values."""
    created_at, notice_args = values[4], values[7]
    if isinstance(created_at, str):
        created_at = datetime.fromisoformat(created_at)
    if isinstance(notice_args, str):
        notice_args = json.loads(notice_args)
    return Row(values[0], values[1], values[2], values[3], created_at, values[5], values[6], notice_args)


def notice_args_json(request: WriteRequest) -> str | None:
    """The notice's arguments as the JSON text the ``notice_args`` column holds."""
    return None if request.notice_args is None else json.dumps(request.notice_args, ensure_ascii=False)


def stored_row(request: WriteRequest, message_id: int, seq: int, now: datetime) -> Row:
    """The row a request became, without reading it back."""
    return Row(
        message_id, seq, request.sender, request.text, now, request.client_id, request.notice, request.notice_args
    )
