"""Group commit against real databases: ``replyx.db.store`` and ``replyx.domain.writer``.

Each shared behaviour runs on a SQLite file and on the throwaway PostgreSQL, with
the schema made by the project's own migrations. Rows are created with the ORM
models and read back with plain SQL, so what is checked is what was committed.
The PostgreSQL-only tests cover what one process cannot show: two stores (two
processes) locking the same dialogs, and a client_id stored by another process
between the check and the insert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from replyx import wire
from replyx.broker.memory import MemoryBroker
from replyx.db.engine import create_engine, create_session_factory
from replyx.db.migrate import upgrade
from replyx.db.models import Assistant, Dialog, Operator, Owner
from replyx.db.models import Message as MessageRow
from replyx.db.store import (
    MessageStore,
    Outcome,
    PostgresMessageStore,
    Row,
    SqliteMessageStore,
    WriteRequest,
    create_message_store,
)
from replyx.db.store import sqlite as sqlite_store
from replyx.domain.errors import Conflict, Unavailable
from replyx.domain.writer import MessageWriter
from replyx.wire import message_payload
from tests.support.processes import free_port
from tests.support.services import PostgresCluster
from tests.support.timing import scaled

OPEN = ("ai", "requested", "operator")
MISSING_DIALOG = 2_000_000_000
# Texts the drivers must carry unchanged: Cyrillic, an emoji outside the BMP, quotes, a newline.
TEXTS = ("привет, мир", "👋🏽 hi", 'it\'s "quoted"\nsecond line', "plain")


# --- databases -------------------------------------------------------------------------------


def off_the_loop(function: Callable[..., Any], *args: Any) -> Any:
    """Call a function that runs its own event loop (``upgrade``), on a thread of its own."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(function, *args).result()


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, copied by each test."""
    path = tmp_path_factory.mktemp("store-schema") / "replyx.db"
    off_the_loop(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


async def _create_database(url: str, name: str) -> None:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="module")
def pg_url(postgres: PostgresCluster) -> str:
    """A database of this module in the throwaway cluster, at the newest schema."""
    name = f"store_{uuid.uuid4().hex[:12]}"
    off_the_loop(asyncio.run, _create_database(postgres.url, name))
    url = postgres.url.rsplit("/", 1)[0] + "/" + name
    off_the_loop(upgrade, url)
    return url


@dataclass
class Database:
    """One test's database: builds stores, creates rows, reads back what was committed."""

    kind: str
    url: str
    engine: AsyncEngine
    engines: list[AsyncEngine] = field(default_factory=list)
    stores: list[MessageStore] = field(default_factory=list)
    writers: list[MessageWriter] = field(default_factory=list)
    owner_id: int = 0
    assistant_id: int = 0

    def store(self, *, own_engine: bool = False) -> MessageStore:
        """The store replyx picks for this database (``own_engine``: as another process would)."""
        engine = self.engine
        if own_engine:
            engine = create_engine(self.url)
            self.engines.append(engine)
        store = create_message_store(engine)
        self.stores.append(store)
        return store

    def writer(
        self, broker: MemoryBroker, store: MessageStore | None = None, max_batch: int = 256, lanes: int = 1
    ) -> MessageWriter:
        """A writer over ``store`` (by default this database's); it closes its store."""
        if store is None:
            store = create_message_store(self.engine)
        writer = MessageWriter(store, broker, max_batch=max_batch, lanes=lanes)
        self.writers.append(writer)
        return writer

    async def close(self) -> None:
        for writer in self.writers:
            await writer.close()
        for store in self.stores:
            await store.close()
        for engine in [*self.engines, self.engine]:
            await engine.dispose()

    async def add(self, row: Any) -> int:
        async with create_session_factory(self.engine)() as session:
            session.add(row)
            await session.commit()
            return int(row.id)

    async def setup(self) -> None:
        self.owner_id = await self.add(Owner(name="store tests"))
        self.assistant_id = await self.add(Assistant(owner_id=self.owner_id, name="assistant"))

    async def operator(self, name: str = "Оля") -> int:
        email = f"{uuid.uuid4().hex}@example.test"
        return await self.add(Operator(owner_id=self.owner_id, email=email, name=name, password_hash="x"))

    async def dialog(self, status: str = "ai", operator_id: int | None = None) -> int:
        return await self.add(
            Dialog(
                owner_id=self.owner_id,
                assistant_id=self.assistant_id,
                guest_id=uuid.uuid4().hex,
                status=status,
                operator_id=operator_id,
            )
        )

    async def messages(self, dialog_id: int) -> list[dict[str, Any]]:
        """The dialog's committed messages in seq order; created_at as an aware instant."""
        query = text(
            "SELECT id, seq, sender, text, client_id, operator_id, created_at FROM message"
            " WHERE dialog_id = :dialog_id ORDER BY seq"
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query, {"dialog_id": dialog_id})).mappings().all()
        return [{**r, "created_at": instant(r["created_at"])} for r in rows]

    async def dialog_row(self, dialog_id: int) -> dict[str, Any]:
        query = text("SELECT status, operator_id, last_seq FROM dialog WHERE id = :dialog_id")
        async with self.engine.connect() as connection:
            return dict((await connection.execute(query, {"dialog_id": dialog_id})).mappings().one())


def instant(value: datetime | str) -> datetime:
    """A stored time as an aware datetime (SQLite hands back naive UTC, raw SQL a string)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@pytest.fixture(params=["sqlite", "sqlite-batched", "postgresql"])
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Database]:
    """A database with one owner and assistant, on SQLite (a file of this test) or PostgreSQL.

    "sqlite-batched" stores every batch of plain messages the way long batches go (three statements
    for the whole batch), so each rule below holds on that path too.
    """
    if request.param == "sqlite-batched":
        monkeypatch.setattr(sqlite_store, "PLAIN_BATCH_FROM", 1)
    if request.param.startswith("sqlite"):
        path = tmp_path / "replyx.db"
        path.write_bytes(request.getfixturevalue("sqlite_template").read_bytes())
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
    database = Database(request.param, url, create_engine(url))
    await database.setup()
    yield database
    await database.close()


# What only a server database shows: several processes' transactions on the same rows.
postgresql_only = pytest.mark.parametrize("db", ["postgresql"], indirect=True)


def message(dialog_id: int, body: str, *, client_id: str | None = None, sender: str = "user") -> WriteRequest:
    return WriteRequest(dialog_id=dialog_id, sender=sender, text=body, allowed_statuses=OPEN, client_id=client_id)


def takeover(dialog_id: int, operator_id: int) -> WriteRequest:
    """What ``append_message`` sends for an operator's takeover."""
    return WriteRequest(
        dialog_id=dialog_id,
        sender="system",
        text="operator joined",
        allowed_statuses=OPEN,
        new_status="operator",
        new_operator_id=operator_id,
        unless_held_by_new_operator=True,
    )


def stored(outcome: Outcome) -> Row:
    assert outcome.stored is not None, outcome
    assert outcome.duplicate is None
    return outcome.stored


def as_stored(row: Row, operator_id: int | None = None) -> dict[str, Any]:
    """A returned row in the shape ``Database.messages`` reads back."""
    return {
        "id": row.id,
        "seq": row.seq,
        "sender": row.sender,
        "text": row.text,
        "client_id": row.client_id,
        "operator_id": operator_id,
        "created_at": instant(row.created_at),
    }


# --- the writer's surroundings ---------------------------------------------------------------


class Published:
    """What the writer handed to the broker, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def on_message(self, topic: str, data: str) -> None:
        self.events.append((topic, json.loads(data)))

    async def on_reconnect(self) -> None:
        """Never called by the memory broker."""

    def on(self, topic: str, kind: str = "message") -> list[dict[str, Any]]:
        return [e for t, e in self.events if t == topic and e["type"] == kind]


async def memory_broker(published: Published, topics: list[str]) -> MemoryBroker:
    broker = MemoryBroker(on_message=published.on_message, on_reconnect=published.on_reconnect)
    await broker.start()
    for topic in topics:
        await broker.subscribe(topic)
    return broker


class RecordingStore:
    """The real store, noting how many requests each batch held."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self.batches: list[int] = []

    async def write(self, requests: Sequence[WriteRequest]) -> list[Outcome]:
        self.batches.append(len(requests))
        return await self.store.write(requests)

    async def close(self) -> None:
        await self.store.close()


def histogram(sample: str) -> float:
    return REGISTRY.get_sample_value(f"replyx_store_batch_messages_{sample}") or 0.0


# --- one batch -------------------------------------------------------------------------------


async def test_replyx_picks_the_store_for_the_database(db: Database) -> None:
    expected = SqliteMessageStore if db.kind.startswith("sqlite") else PostgresMessageStore
    assert type(db.store()) is expected


async def test_a_batch_takes_gapless_seqs_per_dialog_in_request_order(db: Database) -> None:
    first = await db.dialog()
    second = await db.dialog()
    operator = await db.operator()
    # Requests start with the dialog of the larger id: PostgreSQL locks dialogs in id order,
    # which must not reorder a dialog's own messages.
    plan = [second, first, second, second, first, second]
    requests = [
        WriteRequest(
            dialog_id=dialog_id,
            sender="operator" if n == 4 else "user",
            text=TEXTS[n % len(TEXTS)],
            allowed_statuses=OPEN,
            client_id=f"c{n}" if n % 2 else None,
            operator_id=operator if n == 4 else None,
        )
        for n, dialog_id in enumerate(plan)
    ]
    outcomes = await db.store().write(requests)

    rows = [stored(o) for o in outcomes]
    assert [r.seq for r in rows] == [1, 1, 2, 3, 2, 4]
    for request, outcome in zip(requests, outcomes, strict=True):
        assert (outcome.owner_id, outcome.status) == (db.owner_id, "ai")
        assert outcome.stored is not None
        assert (outcome.stored.sender, outcome.stored.text) == (request.sender, request.text)
        assert outcome.stored.client_id == request.client_id
        assert outcome.stored.created_at.tzinfo is not None
    for dialog_id in (first, second):
        expected = [
            as_stored(o.stored, r.operator_id)
            for r, o in zip(requests, outcomes, strict=True)
            if o.stored is not None and r.dialog_id == dialog_id
        ]
        assert await db.messages(dialog_id) == expected
        assert (await db.dialog_row(dialog_id))["last_seq"] == len(expected)

    # The next batch goes on from there.
    more = await db.store().write([message(first, "next"), message(second, "next")])
    assert [stored(o).seq for o in more] == [3, 5]


async def test_a_repeated_client_id_returns_the_first_row_and_takes_no_seq(db: Database) -> None:
    dialog_id = await db.dialog()
    other = await db.dialog()
    store = db.store()
    batch = await store.write(
        [
            message(dialog_id, "первое", client_id="same"),
            message(dialog_id, "resent within the batch", client_id="same"),
            message(dialog_id, "another", client_id="other"),
            message(other, "same id, other dialog", client_id="same"),
        ]
    )
    first = stored(batch[0])
    assert batch[1].stored is None
    assert batch[1].duplicate is not None
    assert message_payload(batch[1].duplicate) == message_payload(first)
    assert stored(batch[2]).seq == 2
    assert stored(batch[3]).seq == 1

    later = await store.write([message(dialog_id, "resent later", client_id="same"), message(dialog_id, "new")])
    assert later[0].stored is None
    assert later[0].duplicate is not None
    assert message_payload(later[0].duplicate) == message_payload(first)
    assert stored(later[1]).seq == 3

    rows = await db.messages(dialog_id)
    assert [(r["seq"], r["text"], r["client_id"]) for r in rows] == [
        (1, "первое", "same"),
        (2, "another", "other"),
        (3, "new", None),
    ]
    assert (await db.dialog_row(dialog_id))["last_seq"] == 3


async def test_a_resend_to_a_dialog_closed_meanwhile_returns_the_stored_message(db: Database) -> None:
    dialog_id = await db.dialog()
    other = await db.dialog()
    store = db.store()
    first = stored((await store.write([message(dialog_id, "sent before the close", client_id="early")]))[0])
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE dialog SET status = 'closed' WHERE id = :id"), {"id": dialog_id})
    outcomes = await store.write(
        [
            message(other, "before"),
            message(dialog_id, "sent before the close", client_id="early"),
            message(dialog_id, "new after the close", client_id="late"),
            message(other, "after"),
        ]
    )
    assert outcomes[1].duplicate is not None
    assert message_payload(outcomes[1].duplicate) == message_payload(first)
    assert outcomes[2] == Outcome(status="closed")
    assert [stored(outcomes[n]).seq for n in (0, 3)] == [1, 2]
    assert [r["text"] for r in await db.messages(dialog_id)] == ["sent before the close"]


@pytest.mark.parametrize("db", ["sqlite", "sqlite-batched"], indirect=True)
async def test_sqlite_stores_a_text_with_a_nul_character_whole(db: Database) -> None:
    # The domain refuses such a text before it gets here; the store must not cut it short all the same.
    dialog_id = await db.dialog()
    texts = ["before", "bad \x00 byte", "after", "last"]
    outcomes = await db.store().write([message(dialog_id, body) for body in texts])
    assert [stored(o).text for o in outcomes] == texts
    assert [r["text"] for r in await db.messages(dialog_id)] == texts


@pytest.mark.parametrize("db", ["sqlite", "sqlite-batched"], indirect=True)
async def test_sqlite_returns_the_ids_it_gave_even_after_the_largest_id(db: Database) -> None:
    # Past the largest id SQLite picks new ids at random: the long-batch path reads them back then.
    dialog_id = await db.dialog()
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO message (id, dialog_id, seq, sender, text, created_at)"
                " VALUES (9223372036854775807, :dialog_id, 0, 'user', 'the last id', '2026-01-01 00:00:00.000000')"
            ),
            {"dialog_id": dialog_id},
        )
    outcomes = await db.store().write([message(dialog_id, body) for body in TEXTS])
    rows = [stored(o) for o in outcomes]
    assert [as_stored(r) for r in rows] == (await db.messages(dialog_id))[1:]
    assert len({r.id for r in rows}) == len(TEXTS)


async def test_a_missing_or_refusing_dialog_stores_nothing_and_the_rest_of_the_batch_is_stored(
    db: Database,
) -> None:
    open_dialog = await db.dialog()
    closed = await db.dialog(status="closed")
    with_assistant = await db.dialog(status="ai")
    operator_only = ("operator",)
    outcomes = await db.store().write(
        [
            message(open_dialog, "one"),
            message(MISSING_DIALOG, "nowhere", client_id="m1"),
            message(closed, "too late", client_id="c1"),
            WriteRequest(dialog_id=with_assistant, sender="operator", text="not held", allowed_statuses=operator_only),
            message(open_dialog, "two"),
        ]
    )
    assert [stored(outcomes[n]).seq for n in (0, 4)] == [1, 2]
    assert outcomes[1] == Outcome(status=None)
    assert outcomes[2] == Outcome(status="closed")
    assert outcomes[3] == Outcome(status="ai")
    assert [r["text"] for r in await db.messages(open_dialog)] == ["one", "two"]
    for refused in (closed, with_assistant):
        assert await db.messages(refused) == []
        assert (await db.dialog_row(refused))["last_seq"] == 0
    assert (await db.dialog_row(closed))["status"] == "closed"


async def test_a_status_change_applies_once(db: Database) -> None:
    dialog_id = await db.dialog(status="requested")
    first_operator = await db.operator()
    second_operator = await db.operator()
    outcomes = await db.store().write(
        [
            takeover(dialog_id, first_operator),
            takeover(dialog_id, first_operator),
            message(dialog_id, "after the takeover"),
            takeover(dialog_id, second_operator),
        ]
    )
    assert stored(outcomes[0]).seq == 1
    assert outcomes[0].status == "operator"
    # The same operator already holds it: refused, with the status that refused it.
    assert outcomes[1] == Outcome(status="operator")
    assert stored(outcomes[2]).seq == 2
    # Another operator may take it over from the first.
    assert stored(outcomes[3]).seq == 3
    assert await db.dialog_row(dialog_id) == {"status": "operator", "operator_id": second_operator, "last_seq": 3}

    # Back to the assistant, allowed only from "operator": the second request finds it in "ai".
    back = WriteRequest(
        dialog_id=dialog_id,
        sender="system",
        text="back to the assistant",
        allowed_statuses=("operator",),
        new_status="ai",
        new_operator_id=None,
    )
    returned = await db.store().write([back, back])
    assert stored(returned[0]).seq == 4
    assert returned[1] == Outcome(status="ai")
    assert await db.dialog_row(dialog_id) == {"status": "ai", "operator_id": None, "last_seq": 4}


async def test_a_notice_is_stored_with_its_code_and_arguments_and_read_back_alike(db: Database) -> None:
    dialog_id = await db.dialog()
    store = db.store()
    request = WriteRequest(
        dialog_id=dialog_id,
        sender="system",
        text="Оля joined the conversation.",
        allowed_statuses=OPEN,
        notice="operator_joined",
        notice_args={"operator": "Оля"},
        new_status="requested",
    )
    plain = [message(dialog_id, f"m{n}") for n in range(5)]
    outcomes = await store.write([*plain, request])
    row = stored(outcomes[-1])
    assert (row.notice, row.notice_args) == ("operator_joined", {"operator": "Оля"})
    async with create_session_factory(db.engine)() as session:
        found = await session.get(MessageRow, row.id)
        assert found is not None
        assert message_payload(found) == message_payload(row)
    assert message_payload(row)["args"] == {"operator": "Оля"}
    assert all("notice" not in message_payload(stored(o)) for o in outcomes[:-1])


async def test_a_takeover_applies_when_the_holder_was_deleted(db: Database) -> None:
    # An operator deleted while holding a dialog leaves status "operator" with operator_id NULL.
    dialog_id = await db.dialog(status="operator", operator_id=None)
    operator = await db.operator()
    outcomes = await db.store().write([takeover(dialog_id, operator)])
    assert stored(outcomes[0]).seq == 1
    assert await db.dialog_row(dialog_id) == {"status": "operator", "operator_id": operator, "last_seq": 1}


# --- the writer ------------------------------------------------------------------------------


async def test_concurrent_writes_are_batched_gapless_and_published_once_in_order(db: Database) -> None:
    dialogs = [await db.dialog() for _ in range(5)]
    published = Published()
    broker = await memory_broker(published, [wire.dialog_topic(d) for d in dialogs])
    store = RecordingStore(create_message_store(db.engine))
    writer = db.writer(broker, store, max_batch=16)
    count_before, sum_before = histogram("count"), histogram("sum")

    async def send(n: int) -> Outcome:
        # Staggered arrival: some requests come while a batch is being stored.
        for _ in range(n % 3):
            await asyncio.sleep(0)
        dialog_id = dialogs[n % len(dialogs)]
        request = message(dialog_id, f"{n} {TEXTS[n % len(TEXTS)]}", client_id=f"c{n}" if n % 2 else None)
        outcome = await writer.write(request)
        row = stored(outcome)
        # Answered only after its event went out.
        assert row.id in {e["message"]["id"] for e in published.on(wire.dialog_topic(dialog_id))}
        return outcome

    async with asyncio.timeout(scaled(20)):
        outcomes = await asyncio.gather(*(send(n) for n in range(200)))

    assert sum(store.batches) == 200
    assert max(store.batches) > 1
    assert max(store.batches) <= 16
    assert histogram("count") - count_before == len(store.batches)
    assert histogram("sum") - sum_before == 200
    for index, dialog_id in enumerate(dialogs):
        rows = await db.messages(dialog_id)
        assert [r["seq"] for r in rows] == list(range(1, 41))
        mine = [stored(o) for n, o in enumerate(outcomes) if n % len(dialogs) == index]
        assert sorted(r.id for r in mine) == sorted(r["id"] for r in rows)
        events = published.on(wire.dialog_topic(dialog_id))
        assert [e["message"]["seq"] for e in events] == list(range(1, 41))
        assert [e["message"] for e in events] == [message_payload(r) for r in sorted(mine, key=lambda r: r.seq)]


@pytest.mark.parametrize("lanes", [1, 4])
async def test_a_write_right_after_the_previous_one_is_answered_is_stored(db: Database, lanes: int) -> None:
    # Each write finds a free lane again after the previous batch is done (lanes are counted by the
    # flushers themselves, not by their tasks' done callbacks, which run a loop turn later).
    dialog_id = await db.dialog()
    writer = db.writer(await memory_broker(Published(), []), lanes=lanes)
    for n in range(1, 31):
        outcome = await asyncio.wait_for(writer.write(message(dialog_id, f"#{n}")), timeout=10)
        assert stored(outcome).seq == n


async def test_a_sender_that_goes_away_leaves_its_message_stored_and_published(db: Database) -> None:
    # Its socket closed while the batch was in flight: the sender's task is cancelled, the message
    # is not, and the writer goes on answering the others.
    dialog_id = await db.dialog()
    published = Published()
    writer = db.writer(await memory_broker(published, [wire.dialog_topic(dialog_id)]))
    gone = asyncio.create_task(writer.write(message(dialog_id, "sent, then the socket closed")))
    await asyncio.sleep(0)
    gone.cancel()
    after = await asyncio.wait_for(writer.write(message(dialog_id, "the next one")), timeout=10)
    assert gone.cancelled()
    assert stored(after).seq == 2
    assert [r["text"] for r in await db.messages(dialog_id)] == ["sent, then the socket closed", "the next one"]
    assert [e["message"]["seq"] for e in published.on(wire.dialog_topic(dialog_id))] == [1, 2]


async def test_the_writer_publishes_one_takeover_with_its_status_event(db: Database) -> None:
    dialog_id = await db.dialog(status="requested")
    operator = await db.operator("Оля")
    published = Published()
    topic = wire.dialog_topic(dialog_id)
    broker = await memory_broker(published, [topic, wire.owner_topic(db.owner_id)])
    writer = db.writer(broker)

    outcomes = await asyncio.gather(
        writer.write(takeover(dialog_id, operator), operator_name="Оля"),
        writer.write(takeover(dialog_id, operator), operator_name="Оля"),
    )

    assert stored(outcomes[0]).seq == 1
    assert outcomes[1] == Outcome(status="operator")
    expected = [
        {"type": "message", "dialog_id": dialog_id, "message": message_payload(stored(outcomes[0]))},
        {"type": "status", "dialog_id": dialog_id, "status": "operator", "operator": {"id": operator, "name": "Оля"}},
    ]
    assert [e for t, e in published.events if t == topic] == expected
    # The owner's inbox gets the same events.
    assert [e for t, e in published.events if t == wire.owner_topic(db.owner_id)] == expected


# --- storage down ----------------------------------------------------------------------------


async def until_all_done(calls: list[Awaitable[Outcome]]) -> list[Outcome | BaseException]:
    async with asyncio.timeout(scaled(20)):
        return await asyncio.gather(*calls, return_exceptions=True)


async def test_sqlite_unreachable_answers_unavailable_then_the_writer_goes_on(
    tmp_path: Path, sqlite_template: Path
) -> None:
    # The store's file is in a directory that does not exist yet; later it appears (a symlink to
    # a directory holding a real database), as a remounted volume would.
    real = tmp_path / "real"
    real.mkdir()
    (real / "replyx.db").write_bytes(sqlite_template.read_bytes())
    url = f"sqlite+aiosqlite:///{real / 'replyx.db'}"
    database = Database("sqlite", url, create_engine(url))
    await database.setup()
    dialog_id = await database.dialog()
    published = Published()
    broker = await memory_broker(published, [wire.dialog_topic(dialog_id)])
    writer = database.writer(broker, SqliteMessageStore(str(tmp_path / "mount" / "replyx.db")))
    try:
        results = await until_all_done([writer.write(message(dialog_id, f"lost {n}")) for n in range(10)])
        assert all(isinstance(r, Unavailable) for r in results), results
        assert published.events == []

        (tmp_path / "mount").symlink_to(real, target_is_directory=True)
        results = await until_all_done([writer.write(message(dialog_id, f"kept {n}")) for n in range(10)])
        assert [stored(r).seq for r in results if isinstance(r, Outcome)] == list(range(1, 11))
        assert [r["text"] for r in await database.messages(dialog_id)] == [f"kept {n}" for n in range(10)]
        assert len(published.events) == 10
    finally:
        await database.close()


@pytest.mark.parametrize("db", ["sqlite", "sqlite-batched"], indirect=True)
async def test_sqlite_batches_wait_off_the_loop_while_another_connection_writes(db: Database) -> None:
    dialog_id = await db.dialog()
    store = db.store()
    await store.write([message(dialog_id, "first")])  # opens the store's connection
    path = db.url.removeprefix("sqlite+aiosqlite:///")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer (the API, another process) holds the lock
        waiting = asyncio.ensure_future(store.write([message(dialog_id, f"#{n}") for n in range(5)]))
        ticks = 0
        for _ in range(20):  # the loop keeps running while the batch waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not waiting.done()
        # A batch written meanwhile queues behind the waiting one instead of sharing the connection.
        behind = asyncio.ensure_future(store.write([message(dialog_id, "behind")]))
        await asyncio.sleep(0.05)
        assert not behind.done()
        other.execute("COMMIT")
        outcomes = await asyncio.wait_for(waiting, timeout=scaled(10))
        (last,) = await asyncio.wait_for(behind, timeout=scaled(10))
    finally:
        other.close()
    assert [stored(o).seq for o in outcomes] == [2, 3, 4, 5, 6]
    assert stored(last).seq == 7
    texts = [r["text"] for r in await db.messages(dialog_id)]
    assert texts == ["first"] + [f"#{n}" for n in range(5)] + ["behind"]


async def forward(port: int, target: int) -> asyncio.Server:
    """A TCP relay from ``port`` to ``target``: the database coming back on the port the engine uses."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    return await asyncio.start_server(relay, "127.0.0.1", port)


@postgresql_only
async def test_postgresql_unreachable_answers_unavailable_then_the_writer_goes_on(
    db: Database, postgres: PostgresCluster
) -> None:
    dialog_id = await db.dialog()
    port = free_port()
    engine = create_engine(db.url.replace(f":{postgres.port}/", f":{port}/"))
    db.engines.append(engine)
    published = Published()
    broker = await memory_broker(published, [wire.dialog_topic(dialog_id)])
    writer = db.writer(broker, create_message_store(engine))
    relay: asyncio.Server | None = None
    try:
        results = await until_all_done([writer.write(message(dialog_id, f"lost {n}")) for n in range(10)])
        assert all(isinstance(r, Unavailable) for r in results), results

        relay = await forward(port, postgres.port)
        results = await until_all_done([writer.write(message(dialog_id, f"kept {n}")) for n in range(10)])
        assert [stored(r).seq for r in results if isinstance(r, Outcome)] == list(range(1, 11))
        assert [r["text"] for r in await db.messages(dialog_id)] == [f"kept {n}" for n in range(10)]
        assert len(published.events) == 10
    finally:
        # Closing the engine's connections ends the relay's pipes.
        await engine.dispose()
        if relay is not None:
            relay.close()


@postgresql_only
async def test_a_batch_the_database_refuses_is_rolled_back_whole(db: Database) -> None:
    # PostgreSQL refuses NUL in text (validation keeps it out; the store must still fail atomically).
    first = await db.dialog()
    second = await db.dialog()
    published = Published()
    broker = await memory_broker(published, [wire.dialog_topic(first), wire.dialog_topic(second)])
    store = RecordingStore(create_message_store(db.engine))
    writer = db.writer(broker, store)
    results = await until_all_done(
        [
            writer.write(message(first, "fine")),
            writer.write(message(second, "bad \x00 byte")),
            writer.write(message(first, "fine too")),
        ]
    )
    assert store.batches == [3]
    assert all(isinstance(r, Unavailable) for r in results), results
    assert published.events == []
    for dialog_id in (first, second):
        assert await db.messages(dialog_id) == []
        assert (await db.dialog_row(dialog_id))["last_seq"] == 0

    after = await writer.write(message(first, "after"))
    assert stored(after).seq == 1


@pytest.mark.parametrize("db", ["sqlite", "sqlite-batched", "postgresql"], indirect=True)
async def test_a_refused_row_fails_only_its_own_sender(db: Database) -> None:
    # An operator deleted between authenticating and posting: their request names an operator row
    # that no longer exists, which the foreign key refuses. That sender gets a conflict; the other
    # messages of the batch are stored, published and answered as stored.
    dialog_id = await db.dialog()
    gone = await db.operator()
    async with db.engine.begin() as connection:
        await connection.execute(text("DELETE FROM operator WHERE id = :id"), {"id": gone})
    published = Published()
    broker = await memory_broker(published, [wire.dialog_topic(dialog_id)])
    store = RecordingStore(create_message_store(db.engine))
    writer = db.writer(broker, store)
    orphan = WriteRequest(
        dialog_id=dialog_id, sender="operator", text="orphan", allowed_statuses=OPEN, operator_id=gone
    )
    results = await until_all_done(
        [writer.write(message(dialog_id, "before")), writer.write(orphan), writer.write(message(dialog_id, "after"))]
    )
    assert store.batches[0] == 3

    committed = {r["text"]: r for r in await db.messages(dialog_id)}
    assert sorted(committed) == ["after", "before"]
    assert isinstance(results[1], Conflict), results[1]
    events = {e["message"]["text"] for e in published.on(wire.dialog_topic(dialog_id))}
    assert events == {"before", "after"}
    for body, result in zip(("before", "after"), (results[0], results[2]), strict=True):
        assert isinstance(result, Outcome), f"{body!r} was committed, its sender got {result!r}"
        assert stored(result).id == committed[body]["id"]


# --- several processes on PostgreSQL ---------------------------------------------------------


@postgresql_only
async def test_two_stores_writing_the_same_dialogs_in_opposite_orders_do_not_deadlock(db: Database) -> None:
    dialogs = [await db.dialog() for _ in range(4)]
    orders = {"a": dialogs, "b": dialogs[::-1]}
    stores = {name: db.store(own_engine=True) for name in orders}
    rounds = 15

    async def run(name: str) -> None:
        for n in range(rounds):
            batch = [message(d, f"{name} {n} {i}") for i, d in enumerate(orders[name]) for _ in range(2)]
            outcomes = await stores[name].write(batch)
            assert all(o.stored is not None for o in outcomes)

    async with asyncio.timeout(scaled(20)):
        await asyncio.gather(*(run(name) for name in orders))

    for dialog_id in dialogs:
        rows = await db.messages(dialog_id)
        assert [r["seq"] for r in rows] == list(range(1, 4 * rounds + 1))
        for name, order in orders.items():
            # Each store's messages keep the order it sent them in.
            i = order.index(dialog_id)
            texts = [r["text"] for r in rows if r["text"].startswith(f"{name} ")]
            assert texts == [f"{name} {n} {i}" for n in range(rounds) for _ in range(2)]


async def lock_waiters(db: Database) -> int:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with db.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(scaled(timeout)):
        while not await condition():
            await asyncio.sleep(0.01)


@postgresql_only
async def test_a_client_id_stored_by_another_process_meanwhile_becomes_a_duplicate(db: Database) -> None:
    contested = await db.dialog()
    bystander = await db.dialog()
    one, two = db.store(own_engine=True), db.store(own_engine=True)
    holder = create_engine(db.url)
    try:
        # Hold the dialog row so both stores find no such client_id yet and then wait on the row.
        async with holder.begin() as connection:
            await connection.execute(text("SELECT id FROM dialog WHERE id = :id FOR UPDATE"), {"id": contested})
            first = asyncio.create_task(one.write([message(contested, "from one", client_id="same")]))
            second = asyncio.create_task(
                two.write([message(bystander, "bystander"), message(contested, "from two", client_id="same")])
            )
            await until(lambda: _waiting_for(db, 2))
        async with asyncio.timeout(scaled(10)):
            (a,), (b, c) = await first, await second
    finally:
        await holder.dispose()

    assert stored(b).seq == 1
    winner, loser = (a, c) if a.stored is not None else (c, a)
    assert loser.stored is None
    assert loser.duplicate is not None
    assert message_payload(loser.duplicate) == message_payload(stored(winner))
    assert [r["client_id"] for r in await db.messages(contested)] == ["same"]
    assert (await db.dialog_row(contested))["last_seq"] == 1
    assert [r["text"] for r in await db.messages(bystander)] == ["bystander"]
    assert (await db.dialog_row(bystander))["last_seq"] == 1


async def _waiting_for(db: Database, count: int) -> bool:
    return await lock_waiters(db) >= count
