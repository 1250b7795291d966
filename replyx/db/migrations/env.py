"""Alembic environment: runs migrations over the async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from replyx.db.models import Base

config = context.config
target_metadata = Base.metadata

# Key of the PostgreSQL advisory lock that serializes migrations (any constant shared by all processes).
MIGRATION_LOCK_KEY = 0x7265706C7978


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several backends may start at once: one migrates, the others wait here and then find the
        # schema at head. The lock is held until the caller commits (Alembic sees an outer transaction).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
