"""Storing messages in batches, one transaction a batch; a store per database.

``replyx.domain.writer`` hands a store the messages that queued up while the
previous batch was being committed. Each message still takes its own seq (the
dialog's ``last_seq`` plus one, in the same transaction as the insert), so seqs
stay gapless; what a batch shares is the transaction, the commit and the trip
to the database. ``base`` holds what every store shares (the request, its
outcome and the rule a dialog applies to it), ``sqlite`` and ``postgres`` the
two ways of running a batch. docs/architecture.md follows one message through.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from replyx.db.store.base import STORAGE_ERRORS, MessageStore, Outcome, Row, WriteRequest
from replyx.db.store.postgres import PostgresMessageStore
from replyx.db.store.sqlite import SqliteMessageStore


def create_message_store(engine: AsyncEngine) -> MessageStore:
    """The store for the engine's database: an SQLite file, or PostgreSQL."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return SqliteMessageStore(url.database)
    return PostgresMessageStore(engine)


__all__ = [
    "STORAGE_ERRORS",
    "MessageStore",
    "Outcome",
    "PostgresMessageStore",
    "Row",
    "SqliteMessageStore",
    "WriteRequest",
    "create_message_store",
]
