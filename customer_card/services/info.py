"""What is in the cache: for ``customer-card info`` and the about box."""

from __future__ import annotations

from typing import Any

from customer_card.store import stats
from customer_card.store.database import Database


def cache_info(database: Database) -> dict[str, Any]:
    with database.read() as session:
        return {
            "path": str(database.path),
            "size_bytes": database.path.stat().st_size if database.path.exists() else 0,
            "schema_version": stats.schema_version(session),
            "tables": stats.table_counts(session),
            "customers_by_status": stats.customers_by_status(session),
            "sources": stats.sources(session),
            "quarantine_pending": stats.pending_quarantine(session),
        }
