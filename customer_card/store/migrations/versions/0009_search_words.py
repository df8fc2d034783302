"""A word index over the searchable names, beside the trigram index: typo-tolerant search asks
for whole known spellings, which a word index answers from short posting lists.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 17:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE customer_search_words USING fts5("
        "names, tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
    )
    op.execute(
        "INSERT INTO customer_search_words (rowid, names) SELECT rowid, names FROM customer_search"
    )


def downgrade() -> None:
    op.execute("DROP TABLE customer_search_words")
