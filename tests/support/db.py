"""Read a test server's SQLite file directly, to check what was really stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def stored_messages(data_dir: Path, dialog_id: int) -> list[dict[str, Any]]:
    """Rows of the message table for one dialog, in seq order."""
    with sqlite3.connect(data_dir / "replyx.db") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT id, seq, sender, text, client_id FROM message WHERE dialog_id = ? ORDER BY seq", (dialog_id,)
        ).fetchall()
    return [dict(r) for r in rows]
