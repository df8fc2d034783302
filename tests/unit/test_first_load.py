"""A large first load files its records unlinked and links them at its end: the cache it
leaves is the one matching each record as it came would leave (clusters, reasons,
suggestions, golden fields, value figures, search), and a load stopped before its end is
linked by the next sync or match run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_card.services import first_load
from customer_card.services.actions import ActionError, ActionService
from customer_card.services.ingest import IngestService
from customer_card.services.matching import MatchService
from customer_card.services.search import SearchService
from customer_card.store import models as m
from customer_card.store.cache import open_cache
from customer_card.store.database import Database
from customer_card.store.keys import KdfCost, Keychain
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord
from tests.helpers.cache_snapshot import by_person

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PEOPLE = 400


def clock() -> datetime:
    return NOW


@pytest.fixture
def second(tmp_path: Path, keychain: Keychain) -> Iterator[Database]:
    opened = open_cache(tmp_path / "second.db", keychain, create=True, kdf_cost=KdfCost.minimal())
    yield opened.database
    opened.database.dispose()


def demo_records(people: int = PEOPLE, seed: int = 5) -> list[SourceRecord]:
    return list(DemoGenerator(DemoConfig(customers=people, seed=seed)).records())


def load(database: Database, records: list[SourceRecord], defer_after: int | None) -> None:
    IngestService(database, batch_size=500, customer_batch_size=100, clock=clock).ingest(
        records, defer_after=defer_after
    )


def pending_customers(database: Database) -> int:
    with database.read() as session:
        query = select(func.count()).select_from(m.Customer).where(m.Customer.status == "pending")
        return int(session.scalar(query) or 0)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_deferred_first_load_leaves_the_cache_inline_matching_leaves(
    database: Database, second: Database, workers: int
) -> None:
    records = demo_records()
    load(database, records, defer_after=None)
    load(second, records, defer_after=60)
    assert pending_customers(second) > 300  # (filed unlinked: most of the load)

    report = first_load.link_pending(second, clock=clock, workers=workers)

    assert report is not None
    assert report.linked > 50
    assert report.customers_created > 300
    assert report.suggestions > 0
    assert pending_customers(second) == 0
    inline, deferred = by_person(database), by_person(second)
    for part in inline:
        assert deferred[part] == inline[part], part
    assert first_load.link_pending(second, clock=clock) is None  # nothing left


def test_search_finds_a_first_load_only_once_it_is_linked(
    database: Database, second: Database
) -> None:
    records = demo_records(150, seed=9)
    load(database, records, defer_after=None)
    load(second, records, defer_after=0)
    name = next(
        r.fields["family_name"]
        for r in records
        if r.kind == RecordKind.CUSTOMER and r.fields.get("family_name")
    )
    assert SearchService(second).search(name) == []  # pending: not a card yet

    first_load.link_pending(second, clock=clock)

    def found(db: Database) -> set[tuple[Any, ...]]:
        return {(h.name, h.city, h.birth_year, h.sources) for h in SearchService(db).search(name)}

    assert found(second) == found(database) != set()


def test_a_pending_customer_is_not_a_card_and_what_it_holds_follows_its_record(
    database: Database,
) -> None:
    fields = {"given_name": "Jean", "family_name": "Moreau", "email": "jean.moreau@example.org"}
    first = SourceRecord("crm", "1", RecordKind.CUSTOMER, fields)
    again = SourceRecord("shop", "9", RecordKind.CUSTOMER, fields)
    load(database, [first, again], defer_after=0)
    with database.read() as session:
        customer_of = dict(
            session.execute(select(m.SourceRecord.source_id, m.SourceRecord.customer_id)).all()
        )
    # Not a card before the load is linked: nothing can be written on it…
    with pytest.raises(ActionError):
        ActionService(database).add_note(customer_of["9"], "called", author="amina")
    # …but what an older version wrote on one follows its record.
    with database.write() as session:
        session.add(m.Note(customer_id=customer_of["9"], author="amina", text="called"))

    report = first_load.link_pending(database, clock=clock)

    assert report is not None
    assert (report.linked, report.removed) == (1, 1)
    with database.read() as session:
        customers = session.scalars(select(m.Customer)).all()
        notes = session.scalars(select(m.Note)).all()
        reasons = dict(
            session.execute(select(m.SourceRecord.source_id, m.SourceRecord.link_reason)).all()
        )
    assert [(c.id, c.status, c.given_name) for c in customers] == [
        (customer_of["1"], "active", "Jean")
    ]
    assert [n.customer_id for n in notes] == [customer_of["1"]]
    assert reasons["1"] == "new customer"
    assert reasons["9"].startswith("shares")


def test_match_run_links_a_stopped_first_load_without_merging(database: Database) -> None:
    records = demo_records(120, seed=11)
    load(database, records, defer_after=10)  # a load killed before its end: never linked
    assert pending_customers(database) > 0

    report = MatchService(database, clock=clock).run()

    assert pending_customers(database) == 0
    assert report.merges == 0  # (pending customers are joined, not merged)
    assert by_person(database)["merge_events"] == 0
