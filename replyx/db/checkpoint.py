"""Moving SQLite's write-ahead log into the database file, mostly on a thread of its own.

By default the connection whose commit grows the WAL past 1,000 pages copies
the log into the database and syncs both, inside that commit. For the message
writer that is every fraction of a second under load, and every message
waiting behind the commit waits for the copy too (the commit tail went from
about 2 ms to 20–200 ms). So the writer's connection turns that off
(``PRAGMA wal_autocheckpoint=0``) and nudges this thread after each commit; the
thread runs a PASSIVE checkpoint, which copies alongside the writer and
readers, at most once per ``interval``.

The log starts over only when a write begins with every frame of it copied,
which a checkpoint running beside a steady stream of commits never achieves.
So once the log has grown past ``catch_up_pages``, the writer runs one more
PASSIVE checkpoint itself, between two of its transactions: by then it only
has to copy what was committed during the thread's last checkpoint, and its
next transaction starts the log over.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("replyx.db")

# Seconds between checkpoints while writes go on: each copies what the WAL gained meanwhile.
CHECKPOINT_INTERVAL = 1.0
# WAL pages (4 KB each by default) past which the writer lets the log start over.
CATCH_UP_PAGES = 4_000


class WalCheckpointer:
    """A daemon thread that checkpoints one SQLite database's WAL after writes."""

    def __init__(
        self, path: str, *, interval: float = CHECKPOINT_INTERVAL, catch_up_pages: int = CATCH_UP_PAGES
    ) -> None:
        self.path = path
        self.interval = interval
        self.catch_up_pages = catch_up_pages
        self.checkpoints = 0
        self.catch_up_due = False
        self._written = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replyx-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Note that a transaction was committed: a checkpoint is due within ``interval``."""
        if not self._written.is_set():
            self._written.set()

    def catch_up(self, connection: sqlite3.Connection) -> None:
        """Copy the rest of the log on the writer's own connection, outside its transactions."""
        self.catch_up_due = False
        _checkpoint(connection)

    def stop(self) -> None:
        """Run a last checkpoint for what was written, then end the thread; waits for it."""
        self._stopping.set()
        self._written.set()
        self._thread.join()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                self._written.wait()
                self._stopping.wait(self.interval)
                self._written.clear()
                connection = connection or sqlite3.connect(self.path)
                pages = _checkpoint(connection)
                self.checkpoints += 1
                if pages > self.catch_up_pages:
                    self.catch_up_due = True
                if self._stopping.is_set():
                    return
        finally:
            if connection is not None:
                connection.close()


def _checkpoint(connection: sqlite3.Connection) -> int:
    """Run a PASSIVE checkpoint; the WAL's size in pages (0 after a failure, logged)."""
    try:
        _, pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as exc:
        # The next commit nudges again; until then the WAL only grows.
        log.warning("SQLite checkpoint failed: %s", exc)
        return 0
    return int(pages)
