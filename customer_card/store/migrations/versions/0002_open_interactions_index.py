"""Index what every card counts: open tickets and orders, and interactions per channel.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:12:05.318204
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # CREATE INDEX needs no table rebuild, so no batch mode: the table and its data stay put.
    op.create_index(
        "ix_interaction_open", "interaction", ["customer_id", "status", "deleted"], unique=False
    )
    # Covers the per-channel summary (count, last date) without touching the table rows.
    op.create_index(
        "ix_interaction_channel",
        "interaction",
        ["customer_id", "deleted", "channel", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_interaction_channel", table_name="interaction")
    op.drop_index("ix_interaction_open", table_name="interaction")
