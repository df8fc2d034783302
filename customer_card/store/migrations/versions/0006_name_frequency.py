"""Name frequencies: how many match-indexed records carry each given name, family name and
name pair, for term-frequency adjusted name weights in matching.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty at first: inline matching weighs names by the configured average until
    # `customer-card match run` counts the records already in the cache.
    op.create_table(
        "name_frequency",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("name_frequency")
