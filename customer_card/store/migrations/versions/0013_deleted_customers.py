"""Customers none of whose source records is live: status 'deleted' (out of search and screen
pops, their card says so), as ingest now marks them. Data only; no schema change.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 00:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only customers that have records, all deleted: an empty one (a merge emptied it) has
    # its own status already.
    op.execute(
        "UPDATE customer SET status = 'deleted' WHERE status = 'active' "
        "AND EXISTS (SELECT 1 FROM source_record sr WHERE sr.customer_id = customer.id) "
        "AND NOT EXISTS (SELECT 1 FROM source_record sr "
        "WHERE sr.customer_id = customer.id AND sr.deleted = 0)"
    )


def downgrade() -> None:
    op.execute("UPDATE customer SET status = 'active' WHERE status = 'deleted'")
