"""Value figures without cancelled and returned orders (as ingest now counts them): the
customers holding such an order get their lifetime value, order count and last purchase
re-totalled from their history. Data only; no schema change.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 01:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# customer_card.domain.model.VOID_STATUSES when this revision was written (a migration does
# not follow later changes of the vocabulary).
_VOID = ", ".join(
    f"'{s}'"
    for s in (
        "annulé",
        "annulée",
        "canceled",
        "cancelled",
        "failed",
        "refunded",
        "rejected",
        "remboursé",
        "remboursée",
        "retourné",
        "retournée",
        "returned",
        "void",
        "voided",
    )
)
_PURCHASE = (
    "i.customer_id = customer.id AND i.deleted = 0 AND i.amount_cents > 0 "
    f"AND lower(coalesce(i.status, '')) NOT IN ({_VOID})"
)


def upgrade() -> None:
    op.execute(
        "UPDATE customer SET "
        f"lifetime_value_cents = (SELECT coalesce(sum(i.amount_cents), 0) FROM interaction i "
        f"WHERE {_PURCHASE}), "
        f"order_count = (SELECT count(*) FROM interaction i WHERE {_PURCHASE}), "
        f"last_purchase_at = (SELECT max(i.occurred_at) FROM interaction i WHERE {_PURCHASE}) "
        "WHERE id IN (SELECT customer_id FROM interaction "
        f"WHERE deleted = 0 AND amount_cents > 0 AND lower(status) IN ({_VOID}))"
    )


def downgrade() -> None:
    pass  # the figures of before counted what was never bought: not restored
