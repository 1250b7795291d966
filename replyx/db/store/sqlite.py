"""The SQLite message store: a batch in one transaction on the store's own connection.

A batch is a few hundred microseconds of work, so it runs right on the event
loop while the write lock is free; handing it to a thread would cost more,
since every statement gives the GIL to the busy loop and has to win it back
(docs/performance.md). When another connection holds the lock (the API opening
a dialog, another process), a row is refused, or the WAL is due to start over,
the batch goes to the store's thread instead, which may wait.

Inside the transaction a batch is stored one of two ways, with the same result:

* ``_one_by_one``: three statements a message (read the dialog, insert, bump
  its seq); every kind of request;
* ``_plain_batch``: a batch of four or more plain messages in three
  statements in all (one JSON parameter in, one JSON value out), so a backlog
  drains in a few statements; when a batch holds anything else, it returns
  None and the batch goes one by one in the same transaction.

Both decide with ``accepts`` from ``replyx.db.store.base``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from replyx.db.call_thread import CallThread
from replyx.db.checkpoint import WalCheckpointer
from replyx.db.store.base import (
    FIND_CLIENT_ID,
    Outcome,
    WriteRequest,
    accepts,
    notice_args_json,
    row_from_db,
    stored_row,
)

# SQLAlchemy's storage format for DateTime on SQLite, so rows written here read back alike.
_TIME = "%Y-%m-%d %H:%M:%S.%f"
# Positional parameters and no RETURNING (which costs SQLite a temporary table per statement);
# the batch holds the write lock, so reading the dialog first is race-free.
_DIALOG = "SELECT last_seq, owner_id, status, operator_id FROM dialog WHERE id = ?"
_INSERT = (
    "INSERT INTO message (dialog_id, seq, sender, text, client_id, operator_id, notice, notice_args, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_TAKE_SEQ = "UPDATE dialog SET last_seq = ?, updated_at = ? WHERE id = ?"
_TAKE_SEQ_AND_CHANGE = "UPDATE dialog SET last_seq = ?, updated_at = ?, status = ?, operator_id = ? WHERE id = ?"

# From this many messages a batch of plain ones goes in three statements (docs/performance.md).
PLAIN_BATCH_FROM = 4
_BATCH_DIALOGS = (
    "SELECT (SELECT coalesce(max(id), 0) FROM message),"
    " json_group_array(json_array(id, last_seq, owner_id, status, operator_id))"
    " FROM dialog WHERE id IN (SELECT value FROM json_each(?))"
)
_BATCH_INSERT = (
    "INSERT INTO message (dialog_id, seq, sender, text, client_id, operator_id, created_at)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
    " json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), ?"
    " FROM json_each(?) ORDER BY key"
)
_BATCH_TAKE_SEQS = (
    "UPDATE dialog SET last_seq = json_extract(?1, '$.\"' || id || '\"'), updated_at = ?2"
    " WHERE id IN (SELECT key FROM json_each(?1))"
)
_MAX_ROWID = 2**63 - 1


class SqliteMessageStore:
    """SQLite: each batch in one transaction, on the event loop or, when it would wait, on a thread."""

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
        on_thread = asyncio.ensure_future(self._thread.call(self._write_waiting, batch))
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
            # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE. No busy
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

    def _write_waiting(self, requests: list[WriteRequest]) -> list[Outcome]:
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
            return [self._write_waiting([request])[0] for request in requests]

    def _transaction(self, connection: sqlite3.Connection, requests: list[WriteRequest]) -> list[Outcome]:
        # Begun with IMMEDIATE, which takes the write lock up front, so nothing read below can
        # change before the commit (another process on the same file included).
        try:
            outcomes = _plain_batch(connection, requests) if len(requests) >= PLAIN_BATCH_FROM else None
            if outcomes is None:
                outcomes = _one_by_one(connection, requests)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        assert self._checkpointer is not None
        self._checkpointer.nudge()
        return outcomes


def _begin_waiting(connection: sqlite3.Connection, timeout: float) -> None:
    """BEGIN IMMEDIATE, letting SQLite wait up to ``timeout`` seconds for another writer."""
    connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute("PRAGMA busy_timeout = 0")


def _one_by_one(connection: sqlite3.Connection, requests: list[WriteRequest]) -> list[Outcome]:
    """Store each request with its own three statements, in the caller's transaction."""
    return [_one(connection, request) for request in requests]


def _one(connection: sqlite3.Connection, request: WriteRequest) -> Outcome:
    # The insert goes before the seq update: a resent client_id fails it before anything changed,
    # and the unique index answers that, so a message needs no separate lookup of its client_id.
    dialog = connection.execute(_DIALOG, (request.dialog_id,)).fetchone()
    if dialog is None:
        return Outcome()
    last_seq, owner_id, status, operator_id = dialog
    if not accepts(request, status, operator_id):
        return _earlier(connection, request) or Outcome(status=status)
    now = datetime.now(UTC)
    stamp = now.strftime(_TIME)
    seq = last_seq + 1
    values = (request.dialog_id, seq, request.sender, request.text, request.client_id, request.operator_id)
    try:
        cursor = connection.execute(_INSERT, (*values, request.notice, notice_args_json(request), stamp))
    except sqlite3.IntegrityError:
        earlier = _earlier(connection, request)
        if earlier is None:
            raise
        return earlier
    if request.new_status is None:
        connection.execute(_TAKE_SEQ, (seq, stamp, request.dialog_id))
    else:
        status = request.new_status
        connection.execute(_TAKE_SEQ_AND_CHANGE, (seq, stamp, status, request.new_operator_id, request.dialog_id))
    return Outcome(stored=stored_row(request, int(cursor.lastrowid or 0), seq, now), owner_id=owner_id, status=status)


def _earlier(connection: sqlite3.Connection, request: WriteRequest) -> Outcome | None:
    """The message stored before under the request's client_id, if any."""
    if request.client_id is None:
        return None
    found = connection.execute(FIND_CLIENT_ID, {"dialog_id": request.dialog_id, "client_id": request.client_id})
    row = found.fetchone()
    return None if row is None else Outcome(duplicate=row_from_db(row))


def _plain_batch(connection: sqlite3.Connection, requests: list[WriteRequest]) -> list[Outcome] | None:
    """Store a batch of plain messages in three statements; None when it must go one by one.

    That is a batch with a handoff change or a notice, a NUL character, a client_id twice, or a
    request with a client_id that its dialog refuses (it may be a resend of a stored message); a
    batch the database refuses a row of (a client_id stored earlier, an operator deleted
    meanwhile), whose insert then stored nothing; and one whose ids would pass SQLite's largest.
    The caller goes on in the same transaction.
    """
    client_ids = [(r.dialog_id, r.client_id) for r in requests if r.client_id is not None]
    if len(set(client_ids)) != len(client_ids):
        return None
    # SQLite's JSON functions end a text at a NUL character: such a text goes in as a parameter.
    if any(_not_plain(r) for r in requests):
        return None
    dialog_ids = sorted({r.dialog_id for r in requests})
    max_id, found = connection.execute(_BATCH_DIALOGS, (json.dumps(dialog_ids),)).fetchone()
    dialogs = {row[0]: row[1:] for row in json.loads(found)}
    last_seqs: dict[int, int] = {}
    accepted: list[tuple[int, WriteRequest, int]] = []
    outcomes: list[Outcome] = []
    for n, request in enumerate(requests):
        dialog = dialogs.get(request.dialog_id)
        if dialog is None or not accepts(request, dialog[2], dialog[3]):
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
    stamp = now.strftime(_TIME)
    rows = [[r.dialog_id, seq, r.sender, r.text, r.client_id, r.operator_id] for _, r, seq in accepted]
    # SQLite gives a new row the largest id plus one; holding the write lock, the batch's rows get the
    # ids after the one read above, in order. Past the largest possible id it picks ids at random.
    message_ids = range(max_id + 1, max_id + len(accepted) + 1)
    if message_ids[-1] > _MAX_ROWID:
        return None
    try:
        cursor = connection.execute(_BATCH_INSERT, (stamp, json.dumps(rows, ensure_ascii=False)))
    except sqlite3.IntegrityError:
        return None
    if cursor.lastrowid != message_ids[-1]:
        raise sqlite3.DatabaseError(f"a batch's last row got id {cursor.lastrowid}, not {message_ids[-1]}")
    connection.execute(_BATCH_TAKE_SEQS, (json.dumps({str(k): v for k, v in last_seqs.items()}), stamp))
    for message_id, (n, request, seq) in zip(message_ids, accepted, strict=True):
        _, owner_id, status, _ = dialogs[request.dialog_id]
        outcomes[n] = Outcome(stored=stored_row(request, message_id, seq, now), owner_id=owner_id, status=status)
    return outcomes


def _not_plain(request: WriteRequest) -> bool:
    """A request the JSON batch does not carry: a handoff change, a notice, or a NUL character."""
    has_nul = "\x00" in request.text or "\x00" in (request.client_id or "")
    return request.new_status is not None or request.notice is not None or has_nul
