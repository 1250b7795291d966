"""Schema upgrades keep every row: a database written at an older revision, brought to the newest."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from alembic import command

from replyx.db.migrate import alembic_config, upgrade

# The handoff sentences releases before notice codes stored, as they stored them.
EARLIER = [
    ("The visitor asked for a human operator.", "human_requested", {}),
    ("Anna joined the conversation.", "operator_joined", {"operator": "Anna"}),
    ("None joined the conversation.", "operator_joined", {"operator": None}),
    ("The assistant is back in the conversation.", "assistant_returned", {}),
    ("The conversation was closed.", "conversation_closed", {}),
]


def test_handoff_sentences_stored_before_notice_codes_get_their_code(tmp_path: Path) -> None:
    path = tmp_path / "replyx.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0001")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO owner (id, name, created_at) VALUES (1, 'o', '2026-01-01 00:00:00')")
        db.execute(
            "INSERT INTO assistant (id, owner_id, name, greeting, allowed_domains, faq, knowledge, instructions,"
            " llm_model, token_version, created_at) VALUES (1, 1, 'a', '', '[]', '[]', '', '', '', 1, '2026-01-01')"
        )
        db.execute(
            "INSERT INTO dialog (id, owner_id, assistant_id, guest_id, status, last_seq, visitor_read_seq,"
            " operator_read_seq, created_at, updated_at) VALUES (1, 1, 1, 'g', 'closed', 7, 0, 0, '2026-01-01',"
            " '2026-01-01')"
        )
        texts = [("user", "Anna joined the conversation.")] + [("system", t) for t, _, _ in EARLIER]
        texts.append(("system", "Something else entirely."))
        for seq, (sender, text) in enumerate(texts, start=1):
            db.execute(
                "INSERT INTO message (dialog_id, seq, sender, text, created_at) VALUES (1, ?, ?, ?, '2026-01-01')",
                (seq, sender, text),
            )
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT sender, text, notice, notice_args FROM message ORDER BY seq").fetchall()
    assert len(rows) == len(texts)
    assert [r[1] for r in rows] == [t for _, t in texts]  # every text kept as it was
    assert rows[0][2] is None  # a visitor who typed the sentence is not a notice
    for (_, _, notice, args), (_, code, expected) in zip(rows[1:-1], EARLIER, strict=True):
        assert notice == code and json.loads(args) == expected
    assert rows[-1][2] is None
