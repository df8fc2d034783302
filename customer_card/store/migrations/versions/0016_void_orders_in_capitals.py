"""Value figures without cancelled and returned orders written in capitals with an accent
("ANNULÉE", "REMBOURSÉ"): migration 0014 compared statuses with SQLite's ``lower()``, which
folds ASCII letters only, so it neither chose the customers holding only such an order nor
left it out of those it re-totalled. The same re-total, comparing with every form ``lower()``
gives of the vocabulary (``store/statuses.py``). Data only; no schema change.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 03:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ``customer_card.store.statuses.VOID`` when this revision was written (a migration does not
# follow later changes of the vocabulary).
_VOID = ", ".join(
    f"'{s}'"
    for s in (
        "annulÉ",
        "annulÉe",
        "annulé",
        "annulée",
        "canceled",
        "cancelled",
        "failed",
        "refunded",
        "rejected",
        "remboursÉ",
        "remboursÉe",
        "remboursé",
        "remboursée",
        "retournÉ",
        "retournÉe",
        "retourné",
        "retournée",
        "returned",
        "void",
        "voided",
    )
)
# The forms 0014 could not read: a capital letter ``lower()`` leaves as it is.
_MISSED = ", ".join(
    f"'{s}'" for s in ("annulÉ", "annulÉe", "remboursÉ", "remboursÉe", "retournÉ", "retournÉe")
)
_PURCHASE = (
    "i.customer_id = customer.id AND i.deleted = 0 AND i.amount_cents > 0 "
    f"AND lower(coalesce(i.status, '')) NOT IN ({_VOID})"
)


def upgrade() -> None:
    # (Only customers holding an order 0014 could not read: the others are right already.)
    op.execute(
        "UPDATE customer SET "
        f"lifetime_value_cents = (SELECT coalesce(sum(i.amount_cents), 0) FROM interaction i "
        f"WHERE {_PURCHASE}), "
        f"order_count = (SELECT count(*) FROM interaction i WHERE {_PURCHASE}), "
        f"last_purchase_at = (SELECT max(i.occurred_at) FROM interaction i WHERE {_PURCHASE}) "
        "WHERE id IN (SELECT customer_id FROM interaction "
        f"WHERE deleted = 0 AND amount_cents > 0 AND lower(status) IN ({_MISSED}))"
    )


def downgrade() -> None:
    pass  # the figures of before counted what was never bought: not restored
