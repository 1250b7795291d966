"""system notices by code: message.notice and message.notice_args

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 01:30:00.000000

Handoff notices written before this revision keep only their English text;
the ones in this table are given their code, so every client can translate
the history too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The sentences earlier releases stored, and the code each one stands for.
_EARLIER_TEXTS = {
    "The visitor asked for a human operator.": "human_requested",
    "The assistant is back in the conversation.": "assistant_returned",
    "The conversation was closed.": "conversation_closed",
}
# "<name> joined the conversation.", where a missing name was written as "None".
_JOINED = " joined the conversation."


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("notice_args", sa.JSON(), nullable=True))
    message = sa.table(
        "message",
        sa.column("id", sa.Integer),
        sa.column("sender", sa.String),
        sa.column("text", sa.Text),
        sa.column("notice", sa.String),
        sa.column("notice_args", sa.JSON),
    )
    for text, code in _EARLIER_TEXTS.items():
        op.execute(
            message.update()
            .where(message.c.sender == "system", message.c.text == text)
            .values(notice=code, notice_args={})
        )
    joined = op.get_bind().execute(
        sa.select(message.c.id, message.c.text).where(message.c.sender == "system", message.c.text.like(f"%{_JOINED}"))
    )
    for message_id, text in joined.all():
        name = text.removesuffix(_JOINED)
        args = {"operator": None if name == "None" else name}
        op.execute(
            message.update().where(message.c.id == message_id).values(notice="operator_joined", notice_args=args)
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("notice_args")
        batch_op.drop_column("notice")
