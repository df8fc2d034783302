"""What advisors record on the card: the author of an interaction, and local contact corrections.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-22 14:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD COLUMN: no rebuild of a 10M-row table.
    op.add_column("interaction", sa.Column("author", sa.String(length=64), nullable=True))
    op.create_table(
        "contact_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("old_value", sa.String(length=300), nullable=True),
        sa.Column("old_normalised", sa.String(length=300), nullable=True),
        sa.Column("new_value", sa.String(length=300), nullable=False),
        sa.Column("new_normalised", sa.String(length=300), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("contact_correction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_correction_customer", ["customer_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_correction", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_correction_customer")
    op.drop_table("contact_correction")
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_column("author")
