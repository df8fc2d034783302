"""The benchmarks' own cache builder keeps working: it calls the ingest's row builders directly,
so a change of their signatures breaks it, and nothing else runs it between benchmarks."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from customer_card.store.cache import Unlock, open_cache
from tests.bench._bulk_card_cache import PASSPHRASE, build


def test_bulk_card_cache_builds_a_readable_cache(tmp_path: Path) -> None:
    path = tmp_path / "bulk.db"

    figures = build(path, 60, 7, progress=False)

    database = open_cache(path, None, Unlock(passphrase=PASSPHRASE)).database
    with database.engine.connect() as connection:
        customers = connection.execute(text("SELECT count(*) FROM customer")).scalar_one()
        searchable = connection.execute(text("SELECT count(*) FROM customer_search")).scalar_one()
    database.engine.dispose()
    assert figures["customers"] == customers >= 60
    assert searchable == customers
