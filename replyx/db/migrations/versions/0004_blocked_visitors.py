"""blocking abusive visitors: dialog.visitor_address and the blocked_visitor table

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dialog", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visitor_address", sa.String(length=64), nullable=True))
    op.create_table(
        "blocked_visitor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owner.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["operator_id"], ["operator.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "kind", "value", name="uq_blocked_visitor"),
    )
    with op.batch_alter_table("blocked_visitor", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blocked_visitor_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("blocked_visitor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blocked_visitor_owner_id"))
    op.drop_table("blocked_visitor")
    with op.batch_alter_table("dialog", schema=None) as batch_op:
        batch_op.drop_column("visitor_address")
