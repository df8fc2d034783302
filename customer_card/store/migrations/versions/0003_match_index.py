"""Match index: each customer record's match profile and its block keys, for matching a new
record against the cache through indexed look-ups.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:40:11.204511
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New tables only: existing data stays put; `customer-card match run` fills them for
    # records ingested before this revision.
    op.create_table(
        "match_record",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("source", "source_id", name="uq_match_record_source"),
    )
    op.create_table(
        "match_key",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["match_record.seq"]),
        sa.PrimaryKeyConstraint("key", "seq"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_match_key_seq", "match_key", ["seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_match_key_seq", table_name="match_key")
    op.drop_table("match_key")
    op.drop_table("match_record")
