"""Storing messages in batches: one transaction for every message waiting to be written.

The write path (``replyx.domain.writer``) hands a store the messages that queued
up while the previous batch was being committed. Each one still takes its seq
with ``UPDATE dialog SET last_seq = last_seq + 1 ... RETURNING`` and is inserted
in the same transaction, so seqs stay gapless; what is shared is the
transaction, the commit and the trip to the database. The SQL is plain text,
the same for SQLite and PostgreSQL, so no statement is compiled per message.

Two stores: SQLite runs a whole batch on its own connection in one call, on the
event loop while the write lock is free and on a thread of its own when it
would have to wait (no hop per statement through the async driver); every other
database runs the batch through SQLAlchemy's async engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from replyx.db.checkpoint import WalCheckpointer

# What a database that is down or refusing raises, by driver: a batch failing with one of these
# was not stored at all (its transaction rolled back), so the senders may simply retry.
STORAGE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, OSError, sqlite3.Error)

# SQLAlchemy's storage format for DateTime on SQLite, so rows written here read back alike.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class WriteRequest:
    """One message to store, with the dialog statuses in which it may be stored."""

    dialog_id: int
    sender: str
    text: str
    allowed_statuses: tuple[str, ...]
    client_id: str | None = None
    operator_id: int | None = None
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


_FIND_CLIENT_ID = (
    "SELECT id, seq, sender, text, created_at, client_id FROM message"
    " WHERE dialog_id = :dialog_id AND client_id = :client_id"
)
_STATUS = "SELECT status FROM dialog WHERE id = :dialog_id"
# SQLite's statements: positional parameters and no RETURNING (which costs SQLite a temporary
# table per statement); the batch holds the write lock, so reading the dialog first is race-free.
_SQLITE_DIALOG = "SELECT last_seq, owner_id, status, operator_id FROM dialog WHERE id = ?"
_SQLITE_INSERT = (
    "INSERT INTO message (dialog_id, seq, sender, text, client_id, operator_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_TAKE_SEQ = "UPDATE dialog SET last_seq = ?, updated_at = ? WHERE id = ?"
_SQLITE_TAKE_SEQ_AND_CHANGE = "UPDATE dialog SET last_seq = ?, updated_at = ?, status = ?, operator_id = ? WHERE id = ?"
# A batch of plain messages in three statements, whatever its size: the batch goes in as one JSON
# parameter and its dialogs come back as one JSON value, so a backlog drains in a few statements
# instead of three a message; a short batch costs less a statement per message (docs/performance.md).
PLAIN_BATCH_FROM = 4
_SQLITE_BATCH_DIALOGS = (
    "SELECT (SELECT coalesce(max(id), 0) FROM message),"
    " json_group_array(json_array(id, last_seq, owner_id, status, operator_id))"
    " FROM dialog WHERE id IN (SELECT value FROM json_each(?))"
)
_SQLITE_BATCH_INSERT = (
    "INSERT INTO message (dialog_id, seq, sender, text, client_id, operator_id, created_at)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
    " json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), ?"
    " FROM json_each(?) ORDER BY key"
)
_SQLITE_MAX_ID = 2**63 - 1
_SQLITE_BATCH_TAKE_SEQS = (
    "UPDATE dialog SET last_seq = json_extract(?1, '$.\"' || id || '\"'), updated_at = ?2"
    " WHERE id IN (SELECT key FROM json_each(?1))"
)


@lru_cache(maxsize=64)
def _take_seq_sql(statuses: int, change: bool, unless_held: bool, new_client_id: bool = False) -> str:
    """The seq-taking UPDATE for a request of this form."""
    sets = "last_seq = last_seq + 1, updated_at = :now"
    if change:
        sets += ", status = :new_status, operator_id = :new_operator_id"
    names = ", ".join(f":status{n}" for n in range(statuses))
    where = f"id = :dialog_id AND status IN ({names})"
    if unless_held:
        # operator_id may be NULL (its operator was deleted): that holds nobody, so the change applies.
        where += " AND NOT (status = :new_status AND operator_id IS NOT NULL AND operator_id = :new_operator_id)"
    if new_client_id:
        where += " AND NOT EXISTS (SELECT 1 FROM message WHERE dialog_id = :dialog_id AND client_id = :client_id)"
    return f"UPDATE dialog SET {sets} WHERE {where} RETURNING id, last_seq, owner_id, status"


@lru_cache(maxsize=64)
def _store_one_sql(statuses: int, change: bool, unless_held: bool, new_client_id: bool) -> str:
    """PostgreSQL: take the seq and insert in one statement, so a message costs one round trip.

    No row comes back when the dialog is missing, refuses the message, or already
    has the client_id; the caller then reads which.
    """
    taken = _take_seq_sql(statuses, change, unless_held, new_client_id)
    return (
        f"WITH taken AS ({taken}), stored AS ("
        "INSERT INTO message (dialog_id, seq, sender, text, client_id, operator_id, created_at)"
        " SELECT id, last_seq, CAST(:sender AS VARCHAR), CAST(:text AS TEXT), CAST(:client_id AS VARCHAR),"
        " CAST(:operator_id AS INTEGER), CAST(:now AS TIMESTAMP WITH TIME ZONE) FROM taken RETURNING id)"
        " SELECT stored.id, taken.last_seq, taken.owner_id, taken.status FROM taken, stored"
    )


def _seq_params(request: WriteRequest, now: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"dialog_id": request.dialog_id, "now": now}
    params.update({f"status{n}": s for n, s in enumerate(request.allowed_statuses)})
    if request.new_status is not None:
        params.update(new_status=request.new_status, new_operator_id=request.new_operator_id)
    return params


def _shape(request: WriteRequest) -> tuple[int, bool, bool]:
    return len(request.allowed_statuses), request.new_status is not None, request.unless_held_by_new_operator


def _message_params(request: WriteRequest) -> dict[str, Any]:
    return {
        "dialog_id": request.dialog_id,
        "sender": request.sender,
        "text": request.text,
        "client_id": request.client_id,
        "operator_id": request.operator_id,
    }


def _row(values: Sequence[Any]) -> Row:
    created_at = values[4]
    if isinstance(created_at, str):
        created_at = datetime.fromisoformat(created_at)
    return Row(values[0], values[1], values[2], values[3], created_at, values[5])


class CallThread:
    """One thread running calls in order for the event loop: a lighter hop than ``run_in_executor``.

    A batch crosses to it and back once; the executor's locks, work items and chained futures
    cost the loop more than the hop itself (docs/performance.md).
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` on the thread and return its result (or raise its exception)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls.put((function, args, answer))
        return await answer

    def stop(self) -> None:
        """Let the thread finish the calls already queued, then end; waits for it."""
        self._calls.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            function, args, answer = call
            try:
                outcome: tuple[Any, BaseException | None] = (function(*args), None)
            except BaseException as exc:  # handed to the caller, as an executor would
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                answer.get_loop().call_soon_threadsafe(_settle, answer, *outcome)


def _settle(answer: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    # The caller may have been cancelled meanwhile; its call still ran.
    if answer.done():
        return
    if exc is None:
        answer.set_result(result)
    else:
        answer.set_exception(exc)


class SqliteMessageStore:
    """SQLite: each batch in one transaction on the event loop, or on a thread when it would wait.

    A batch runs right on the event loop when the write lock is free: it is a few hundred
    microseconds of work, and handing it to a thread costs more than that, since every statement
    gives the GIL to the busy loop and has to win it back (docs/performance.md). When another
    connection holds the lock (the API opening a dialog, another process), or a row is refused, or
    the WAL is due to start over, the batch goes to the store's thread, which may wait.
    """

    def __init__(self, path: str, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._thread = CallThread("replyx-sqlite-writer")
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._closed = False
        # Batches handed to the thread and not yet answered: while there are any, later batches
        # queue behind them there, so two never share the connection at once and order is kept.
        self._on_thread = 0

    async def write(self, requests: Sequence[WriteRequest]) -> list[Outcome]:
        """Store the requests in order in one transaction."""
        batch = list(requests)
        connection, checkpointer = self._connection, self._checkpointer
        if connection is not None and checkpointer is not None and not (checkpointer.catch_up_due or self._on_thread):
            try:
                connection.execute("BEGIN IMMEDIATE")  # SQLITE_BUSY at once when another connection writes
                return self._transaction(connection, batch)
            except sqlite3.IntegrityError:
                pass  # rolled back: the thread stores the others, each in a transaction of its own
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
        self._on_thread += 1
        on_thread = asyncio.ensure_future(self._thread.call(self._write, batch))
        on_thread.add_done_callback(self._left_thread)
        # Shielded: a caller that goes away must not end the count while the thread still writes.
        return await asyncio.shield(on_thread)

    def _left_thread(self, call: asyncio.Future[list[Outcome]]) -> None:
        self._on_thread -= 1
        if not call.cancelled():
            call.exception()  # retrieved here too, for a caller that went away

    async def close(self) -> None:
        """Close the connection on its thread and stop the thread (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        await self._thread.call(self._close)
        self._thread.stop()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE below. No busy
            # timeout: on the event loop a taken lock sends the batch to the thread, which waits for it.
            connection = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints run on their own thread (replyx.db.checkpoint), not inside this writer's commits.
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = WalCheckpointer(self.path)
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _write(self, requests: list[WriteRequest]) -> list[Outcome]:
        """The batch on the store's thread, waiting up to ``busy_timeout`` for the write lock."""
        connection = self._connect()
        checkpointer = self._checkpointer
        assert checkpointer is not None
        if checkpointer.catch_up_due:
            checkpointer.catch_up(connection)
        try:
            _begin_waiting(connection, self.busy_timeout)
            return self._transaction(connection, requests)
        except sqlite3.IntegrityError:
            # One request broke a constraint: store the others, each in a transaction of its own.
            if len(requests) == 1:
                return [Outcome(refused=True)]
            return [self._write([request])[0] for request in requests]

    def _transaction(self, connection: sqlite3.Connection, requests: list[WriteRequest]) -> list[Outcome]:
        # Begun with IMMEDIATE, which takes the write lock up front, so the client_id check below
        # cannot race another writer (another process on the same file included).
        try:
            outcomes = _plain_batch(connection, requests) if len(requests) >= PLAIN_BATCH_FROM else None
            if outcomes is None:
                outcomes = [self._one(connection, request) for request in requests]
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        assert self._checkpointer is not None
        self._checkpointer.nudge()
        return outcomes

    def _one(self, connection: sqlite3.Connection, request: WriteRequest) -> Outcome:
        # The insert goes before the seq update: a resent client_id fails it before anything changed,
        # and the unique index answers that, so a message needs no separate lookup of its client_id.
        dialog = connection.execute(_SQLITE_DIALOG, (request.dialog_id,)).fetchone()
        if dialog is None:
            return Outcome()
        last_seq, owner_id, status, operator_id = dialog
        if not _accepts(request, status, operator_id):
            return self._earlier(connection, request) or Outcome(status=status)
        now = datetime.now(UTC)
        stamp = now.strftime(_SQLITE_TIME)
        seq = last_seq + 1
        try:
            cursor = connection.execute(
                _SQLITE_INSERT,
                (request.dialog_id, seq, request.sender, request.text, request.client_id, request.operator_id, stamp),
            )
        except sqlite3.IntegrityError:
            earlier = self._earlier(connection, request)
            if earlier is None:
                raise
            return earlier
        if request.new_status is None:
            connection.execute(_SQLITE_TAKE_SEQ, (seq, stamp, request.dialog_id))
        else:
            status = request.new_status
            connection.execute(
                _SQLITE_TAKE_SEQ_AND_CHANGE, (seq, stamp, status, request.new_operator_id, request.dialog_id)
            )
        row = Row(int(cursor.lastrowid or 0), seq, request.sender, request.text, now, request.client_id)
        return Outcome(stored=row, owner_id=owner_id, status=status)

    @staticmethod
    def _earlier(connection: sqlite3.Connection, request: WriteRequest) -> Outcome | None:
        """The message stored before under the request's client_id, if any."""
        if request.client_id is None:
            return None
        params = {"dialog_id": request.dialog_id, "client_id": request.client_id}
        found = connection.execute(_FIND_CLIENT_ID, params).fetchone()
        return None if found is None else Outcome(duplicate=_row(found))


def _begin_waiting(connection: sqlite3.Connection, timeout: float) -> None:
    """BEGIN IMMEDIATE, letting SQLite wait up to ``timeout`` seconds for another writer."""
    connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute("PRAGMA busy_timeout = 0")


def _plain_batch(connection: sqlite3.Connection, requests: list[WriteRequest]) -> list[Outcome] | None:
    """Store a batch of plain messages in three statements; None when it must go one message at a time.

    That is a batch with a handoff change, a NUL character, a client_id twice, or a request with a
    client_id that its dialog refuses (it may be a resend of a stored message); a batch the
    database refuses a row of (a client_id stored earlier, an operator deleted meanwhile), whose
    insert then stored nothing; and one whose ids would pass SQLite's largest. The caller goes on in
    the same transaction.
    """
    client_ids = [(r.dialog_id, r.client_id) for r in requests if r.client_id is not None]
    if len(set(client_ids)) != len(client_ids):
        return None
    # SQLite's JSON functions end a text at a NUL character: such a text goes in as a parameter.
    if any(r.new_status is not None or "\x00" in r.text or "\x00" in (r.client_id or "") for r in requests):
        return None
    dialog_ids = sorted({r.dialog_id for r in requests})
    max_id, found = connection.execute(_SQLITE_BATCH_DIALOGS, (json.dumps(dialog_ids),)).fetchone()
    dialogs = {row[0]: row[1:] for row in json.loads(found)}
    last_seqs: dict[int, int] = {}
    accepted: list[tuple[int, WriteRequest, int]] = []
    outcomes: list[Outcome] = []
    for n, request in enumerate(requests):
        dialog = dialogs.get(request.dialog_id)
        if dialog is None or not _accepts(request, dialog[2], dialog[3]):
            if request.client_id is not None:
                return None
            outcomes.append(Outcome(status=None if dialog is None else dialog[2]))
            continue
        seq = last_seqs.get(request.dialog_id, dialog[0]) + 1
        last_seqs[request.dialog_id] = seq
        accepted.append((n, request, seq))
        outcomes.append(Outcome())
    if not accepted:
        return outcomes
    now = datetime.now(UTC)
    stamp = now.strftime(_SQLITE_TIME)
    rows = [[r.dialog_id, seq, r.sender, r.text, r.client_id, r.operator_id] for _, r, seq in accepted]
    # SQLite gives a new row the largest id plus one; holding the write lock, the batch's rows get the
    # ids after the one read above, in order. Past the largest possible id it picks ids at random.
    message_ids = range(max_id + 1, max_id + len(accepted) + 1)
    if message_ids[-1] > _SQLITE_MAX_ID:
        return None
    try:
        cursor = connection.execute(_SQLITE_BATCH_INSERT, (stamp, json.dumps(rows, ensure_ascii=False)))
    except sqlite3.IntegrityError:
        return None
    if cursor.lastrowid != message_ids[-1]:
        raise sqlite3.DatabaseError(f"a batch's last row got id {cursor.lastrowid}, not {message_ids[-1]}")
    connection.execute(_SQLITE_BATCH_TAKE_SEQS, (json.dumps({str(k): v for k, v in last_seqs.items()}), stamp))
    for message_id, (n, request, seq) in zip(message_ids, accepted, strict=True):
        _, owner_id, status, _ = dialogs[request.dialog_id]
        row = Row(message_id, seq, request.sender, request.text, now, request.client_id)
        outcomes[n] = Outcome(stored=row, owner_id=owner_id, status=status)
    return outcomes


def _accepts(request: WriteRequest, status: str, operator_id: int | None) -> bool:
    """Whether a dialog in this status, held by this operator, takes the request (as the UPDATE's WHERE)."""
    if status not in request.allowed_statuses:
        return False
    if request.unless_held_by_new_operator:
        # A NULL operator holds nobody, so the change applies.
        return not (status == request.new_status and operator_id is not None and operator_id == request.new_operator_id)
    return True


class SqlMessageStore:
    """Any database SQLAlchemy's async engine reaches (PostgreSQL): a batch per transaction.

    The store has its own small pool in autocommit mode. A batch of one message is then a single
    statement, atomic by itself, and checking a pooled connection is alive costs one round trip;
    in a transaction, SQLAlchemy's asyncpg ping is BEGIN, a query and ROLLBACK, so a message took
    six round trips where it now takes two. Larger batches open their transaction explicitly.
    """

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
        if request.client_id is None:
            return Outcome(refused=True)
        async with self.engine.connect() as connection:
            found = (
                await connection.execute(
                    _text(_FIND_CLIENT_ID), {"dialog_id": request.dialog_id, "client_id": request.client_id}
                )
            ).first()
        return Outcome(refused=True) if found is None else Outcome(duplicate=_row(found))

    async def _one(self, connection: AsyncConnection, request: WriteRequest) -> Outcome:
        now = datetime.now(UTC)
        sql = _store_one_sql(*_shape(request), request.client_id is not None)
        params = {**_seq_params(request, now), **_message_params(request)}
        stored = (await connection.execute(_text(sql), params)).first()
        if stored is not None:
            message_id, seq, owner_id, status = stored
            row = Row(message_id, seq, request.sender, request.text, now, request.client_id)
            return Outcome(stored=row, owner_id=owner_id, status=status)
        if request.client_id is not None:
            found = (
                await connection.execute(
                    _text(_FIND_CLIENT_ID), {"dialog_id": request.dialog_id, "client_id": request.client_id}
                )
            ).first()
            if found is not None:
                return Outcome(duplicate=_row(found))
        return Outcome(status=(await connection.execute(_text(_STATUS), {"dialog_id": request.dialog_id})).scalar())


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
def _text(sql: str) -> Any:
    # One TextClause per statement: SQLAlchemy memoizes its cache key on the object.
    return text(sql)


def create_message_store(engine: AsyncEngine) -> MessageStore:
    """The fastest store for the engine's database."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return SqliteMessageStore(url.database)
    return SqlMessageStore(engine)
