"""The PostgreSQL message store: a message in one statement, a batch in one transaction.

The store has its own small pool in autocommit mode. A batch of one message is
then a single statement, atomic by itself, and checking a pooled connection is
alive costs one round trip; in a transaction, SQLAlchemy's asyncpg ping is
BEGIN, a query and ROLLBACK, so a message took six round trips where it now
takes two. Larger batches open their transaction explicitly. The statement
takes the seq under the rule of ``accepts_sql`` (``replyx.db.store.base``) and
inserts in one go, so a dialog's row lock orders its seqs across processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from replyx.db.store.base import (
    FIND_CLIENT_ID,
    Outcome,
    WriteRequest,
    accepts_params,
    accepts_sql,
    notice_args_json,
    row_from_db,
    stored_row,
)

_STATUS = "SELECT status FROM dialog WHERE id = :dialog_id"


@lru_cache(maxsize=64)
def take_seq_sql(statuses: int, change: bool, unless_held: bool, new_client_id: bool = False) -> str:
    """The UPDATE that takes a dialog's next seq (and makes its status change) when the dialog accepts."""
    sets = "last_seq = last_seq + 1, updated_at = :now"
    if change:
        sets += ", status = :new_status, operator_id = :new_operator_id"
    where = f"id = :dialog_id AND {accepts_sql(statuses, unless_held)}"
    if new_client_id:
        where += " AND NOT EXISTS (SELECT 1 FROM message WHERE dialog_id = :dialog_id AND client_id = :client_id)"
    return f"UPDATE dialog SET {sets} WHERE {where} RETURNING id, last_seq, owner_id, status"


@lru_cache(maxsize=64)
def store_one_sql(statuses: int, change: bool, unless_held: bool, new_client_id: bool) -> str:
    """Take the seq and insert in one statement, so a message costs one round trip.

    No row comes back when the dialog is missing, refuses the message, or already
    has the client_id; the caller then reads which.
    """
    taken = take_seq_sql(statuses, change, unless_held, new_client_id)
    return (
        f"WITH taken AS ({taken}), stored AS ("
        "INSERT INTO message (dialog_id, seq, sender, text, client_id, operator_id, notice, notice_args, created_at)"
        " SELECT id, last_seq, CAST(:sender AS VARCHAR), CAST(:text AS TEXT), CAST(:client_id AS VARCHAR),"
        " CAST(:operator_id AS INTEGER), CAST(:notice AS VARCHAR), CAST(:notice_args AS JSON),"
        " CAST(:now AS TIMESTAMP WITH TIME ZONE) FROM taken RETURNING id)"
        " SELECT stored.id, taken.last_seq, taken.owner_id, taken.status FROM taken, stored"
    )


def _params(request: WriteRequest, now: datetime) -> dict[str, Any]:
    return {
        **accepts_params(request),
        "dialog_id": request.dialog_id,
        "now": now,
        "sender": request.sender,
        "text": request.text,
        "client_id": request.client_id,
        "operator_id": request.operator_id,
        "notice": request.notice,
        "notice_args": notice_args_json(request),
    }


class PostgresMessageStore:
    """PostgreSQL through SQLAlchemy's async engine: a batch per transaction, a message per statement."""

    def __init__(self, engine: AsyncEngine, lanes: int = 4) -> None:
        self.engine = create_async_engine(
            engine.url, isolation_level="AUTOCOMMIT", pool_size=lanes, max_overflow=lanes, pool_pre_ping=True
        )

    async def write(self, requests: Sequence[WriteRequest]) -> list[Outcome]:
        """Store the requests in one transaction; each dialog's in the order given.

        Another process may store the same client_id between the check and the
        insert, or a row may break another constraint; the whole batch then
        fails, and is retried one request per transaction so only that request
        sees it.
        """
        # Dialog rows are locked in id order, so two processes' batches cannot deadlock on them;
        # a dialog's own messages keep their order (the sort is stable).
        order = sorted(range(len(requests)), key=lambda n: requests[n].dialog_id)
        outcomes: dict[int, Outcome] = {}
        try:
            async with self.engine.connect() as connection:
                if len(requests) == 1:
                    return [await self._one(connection, requests[0])]
                async with _transaction(connection):
                    for n in order:
                        outcomes[n] = await self._one(connection, requests[n])
            return [outcomes[n] for n in range(len(requests))]
        except IntegrityError:
            if len(requests) == 1:
                return [await self._after_conflict(requests[0])]
            return [(await self.write([request]))[0] for request in requests]

    async def close(self) -> None:
        """Close the store's pool."""
        await self.engine.dispose()

    async def _after_conflict(self, request: WriteRequest) -> Outcome:
        async with self.engine.connect() as connection:
            earlier = await _earlier(connection, request)
        return earlier or Outcome(refused=True)

    async def _one(self, connection: AsyncConnection, request: WriteRequest) -> Outcome:
        now = datetime.now(UTC)
        shape = (len(request.allowed_statuses), request.new_status is not None, request.unless_held_by_new_operator)
        sql = store_one_sql(*shape, request.client_id is not None)
        stored = (await connection.execute(_text(sql), _params(request, now))).first()
        if stored is not None:
            message_id, seq, owner_id, status = stored
            return Outcome(stored=stored_row(request, message_id, seq, now), owner_id=owner_id, status=status)
        earlier = await _earlier(connection, request)
        if earlier is not None:
            return earlier
        return Outcome(status=(await connection.execute(_text(_STATUS), {"dialog_id": request.dialog_id})).scalar())


async def _earlier(connection: AsyncConnection, request: WriteRequest) -> Outcome | None:
    """The message stored before under the request's client_id, if any."""
    if request.client_id is None:
        return None
    params = {"dialog_id": request.dialog_id, "client_id": request.client_id}
    found = (await connection.execute(_text(FIND_CLIENT_ID), params)).first()
    return None if found is None else Outcome(duplicate=row_from_db(found))


@contextlib.asynccontextmanager
async def _transaction(connection: AsyncConnection) -> AsyncIterator[None]:
    """BEGIN ... COMMIT on an autocommit connection; on any failure ROLLBACK, or drop the connection."""
    await connection.exec_driver_sql("BEGIN")
    try:
        yield
    except BaseException:
        try:
            await connection.exec_driver_sql("ROLLBACK")
        except Exception:
            # The connection is gone or unusable: the pool must not hand it out again.
            await connection.invalidate()
        raise
    await connection.exec_driver_sql("COMMIT")


@lru_cache(maxsize=64)
def _text(sql: str) -> TextClause:
    # One TextClause per statement: SQLAlchemy memoizes its cache key on the object.
    return text(sql)
