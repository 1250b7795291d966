"""Group commit: messages that arrive while a batch is being stored go together in the next one.

Every message of the process passes through one writer. It stores the waiting
messages in one transaction (``replyx.db.store``), then publishes their
events in seq order and only then answers their senders, so a message is
acknowledged only after its commit and each process publishes a dialog's events
in order. Under light load a batch holds one message and costs what a single
write did; under heavy load the commit and the trip to the database are shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from replyx import wire
from replyx.broker.base import Broker
from replyx.db.store import (
    STORAGE_ERRORS,
    MessageStore,
    Outcome,
    SqliteMessageStore,
    WriteRequest,
    create_message_store,
)
from replyx.diagnostics import metrics
from replyx.domain.errors import Conflict, Unavailable
from replyx.wire import addressed, message_payload

log = logging.getLogger("replyx.messages")

# Messages per transaction at most: bounds how long one commit keeps the others waiting.
MAX_BATCH = 256
# Batches in flight at once on a database with concurrent writers (PostgreSQL): see MessageWriter.
SQL_LANES = 4


@dataclass
class _Waiting:
    request: WriteRequest
    operator_name: str | None
    answer: asyncio.Future[Outcome]


class MessageWriter:
    """Stores messages in batches and publishes each one after its batch commits.

    ``lanes`` batches may be in flight at once. SQLite has one writer, so it gets
    one lane; PostgreSQL gets several, so that one slow or stuck transaction (a
    connection caught by a server restart) does not hold every other message of
    the process, and their dialogs' row locks still order each dialog's seqs.
    """

    def __init__(
        self,
        store: MessageStore,
        broker: Broker,
        max_batch: int = MAX_BATCH,
        lanes: int = 1,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        # Told each stored message's dialog after it is published (the hub logs undelivered dialogs).
        self.on_stored = on_stored
        self.max_batch = max_batch
        self.lanes = lanes
        self._waiting: list[_Waiting] = []
        self._flushers: set[asyncio.Task[None]] = set()
        # Lanes in use, counted by the flushers themselves: a finished task leaves the set only when
        # its done callback runs, a loop turn later, and a write arriving meanwhile would wait forever.
        self._busy_lanes = 0

    async def write(self, request: WriteRequest, *, operator_name: str | None = None) -> Outcome:
        """Store one message (in the next batch) and publish it; Unavailable when storage is down.

        ``operator_name`` names the new holder in the status event of a takeover.
        """
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(request, operator_name, answer))
        if self._busy_lanes < self.lanes:
            self._busy_lanes += 1
            flusher = asyncio.create_task(self._flush(), name="message-writer")
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)
        # A sender that goes away (its socket closed) cancels only its answer: the message stays in
        # the batch, and the writer skips answers that are done.
        return await answer

    async def close(self) -> None:
        """Finish the batches already waiting, then release the store."""
        while self._flushers:
            await asyncio.gather(*self._flushers)
        await self.store.close()

    async def _flush(self) -> None:
        # Messages written while this task was being scheduled, or while its last batch was being
        # stored, form its next batch.
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._store(batch)
        finally:
            self._busy_lanes -= 1

    async def _store(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self.store.write([w.request for w in batch])
        except STORAGE_ERRORS as exc:
            log.warning("Storage unavailable while storing %d message(s): %s", len(batch), type(exc).__name__)
            for waiting in batch:
                _fail(waiting.answer, Unavailable("storage is unavailable, retry shortly"))
            return
        except Exception as exc:
            # Not the database being away: a bug. Its senders get it; the writer stays up for the rest.
            log.exception("Storing a batch of %d message(s) failed", len(batch))
            for waiting in batch:
                _fail(waiting.answer, exc)
            return
        metrics.STORE_BATCH_SIZE.observe(len(batch))
        events: list[tuple[str, str]] = []
        stored_by_sender: Counter[str] = Counter()
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if outcome.stored is not None:
                stored_by_sender[waiting.request.sender] += 1
                events += _events(waiting, outcome)
        for sender, count in stored_by_sender.items():
            metrics.MESSAGES_STORED.labels(sender).inc(count)
        try:
            await self.broker.publish_many(events)
        except Exception:
            # Stored all the same: sockets fill the gap from storage, and the writer must go on.
            log.exception("Publishing %d event(s) of a stored batch failed", len(events))
        if self.on_stored is not None:
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if outcome.stored is not None:
                    self.on_stored(waiting.request.dialog_id)
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if outcome.refused:
                _fail(waiting.answer, Conflict("storage refused the message"))
            elif not waiting.answer.done():
                waiting.answer.set_result(outcome)


def _events(waiting: _Waiting, outcome: Outcome) -> list[tuple[str, str]]:
    """The message event of a stored request, and its status event for a handoff change."""
    request = waiting.request
    assert outcome.stored is not None
    dialog_id, owner_id = request.dialog_id, outcome.owner_id
    events = addressed(dialog_id, owner_id, wire.message_event(dialog_id, message_payload(outcome.stored)))
    if request.new_status is not None:
        holder = request.new_operator_id
        operator = {"id": holder, "name": waiting.operator_name} if holder is not None else None
        events += addressed(dialog_id, owner_id, wire.status_event(dialog_id, request.new_status, operator))
    return events


def _fail(answer: asyncio.Future[Outcome], exc: BaseException) -> None:
    if answer.cancelled():
        return
    if not answer.done():
        answer.set_exception(exc)
    # Retrieved here so an answer whose sender went away is not reported as never retrieved.
    answer.exception()


def create_writer(engine: AsyncEngine, broker: Broker, on_stored: Callable[[int], None] | None = None) -> MessageWriter:
    """The writer for this engine's database, publishing through ``broker``."""
    store = create_message_store(engine)
    lanes = 1 if isinstance(store, SqliteMessageStore) else SQL_LANES
    return MessageWriter(store, broker, lanes=lanes, on_stored=on_stored)
