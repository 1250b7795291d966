"""operator sessions that can end: operator.token_version and operator.active

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 02:00:00.000000

Tokens issued before this revision carry no version and stop working: every
operator logs in once more after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("operator", schema=None) as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("token_version")
