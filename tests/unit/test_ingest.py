"""Ingest: every record lands once, linked to one golden customer or quarantined with a reason."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_card.services.ingest import IngestReport, IngestService
from customer_card.store import ingest_store
from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from sync.connector import Rejected
from sync.records import Checkpoint, RecordKind, SourceRecord

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand, so every run has its own recognisable time."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ingest(database: Database, clock: Clock) -> IngestService:
    return IngestService(database, clock=clock)


def customer(source: str, source_id: str, *, deleted: bool = False, **fields: Any) -> SourceRecord:
    return SourceRecord(
        source, source_id, RecordKind.CUSTOMER, fields, updated_at=T0, deleted=deleted
    )


def interaction(
    source: str, source_id: str, ref: str, *, deleted: bool = False, **fields: Any
) -> SourceRecord:
    fields = {"customer_ref": ref, "channel": "store", "kind": "order", **fields}
    return SourceRecord(source, source_id, RecordKind.INTERACTION, fields, deleted=deleted)


def consent(source: str, source_id: str, ref: str, **fields: Any) -> SourceRecord:
    fields = {"customer_ref": ref, "purpose": "newsletter", "status": "granted", **fields}
    return SourceRecord(source, source_id, RecordKind.CONSENT, fields)


JOCELYNE: dict[str, Any] = {
    "given_name": "Jocelyne",
    "family_name": "Michu",
    "birth_date": "1961-03-14",
    "email": "jocelyne.michu@mail.fr",
    "phone": "06 12 34 56 78",
    "loyalty_card": "FID 2904-1234",
    "instagram": "@JocelyneMichu",
    "city": "Lyon",
}


def outcomes(report: IngestReport) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_, _, outcome), n in report.counts.items():
        out[outcome] = out.get(outcome, 0) + n
    return out


def row_counts(database: Database) -> dict[str, int]:
    with database.read() as session:
        counts = {
            table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in m.Base.metadata.sorted_tables
        }
        search = session.connection().exec_driver_sql("SELECT count(*) FROM customer_search")
        counts["customer_search"] = int(search.scalar_one())
    return counts


def count(database: Database, model: Any, *where: Any) -> int:
    with database.read() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int(session.execute(query).scalar_one())


def customers(database: Database) -> list[m.Customer]:
    with database.read() as session:
        return list(session.scalars(select(m.Customer).order_by(m.Customer.id)))


def source_record(database: Database, source: str, source_id: str) -> m.SourceRecord:
    with database.read() as session:
        return session.scalars(
            select(m.SourceRecord)
            .where(m.SourceRecord.source == source)
            .where(m.SourceRecord.source_id == source_id)
        ).one()


def customer_of(database: Database, source: str, source_id: str) -> m.Customer:
    record = source_record(database, source, source_id)
    with database.read() as session:
        found = session.get(m.Customer, record.customer_id)
        assert found is not None
        return found


def quarantine_rows(database: Database) -> list[m.Quarantine]:
    with database.read() as session:
        return list(session.scalars(select(m.Quarantine).order_by(m.Quarantine.id)))


# --- idempotence --------------------------------------------------------------------------------


def test_same_records_twice_change_nothing(
    ingest: IngestService, database: Database, clock: Clock
) -> None:
    records = [
        customer("crm", "C1", **JOCELYNE),
        customer("eshop", "E1", given_name="Jocelyne", email="JOCELYNE.MICHU@mail.fr"),
        customer("crm", "C2", given_name="Marcel", family_name="Proust", city="Cabourg"),
        interaction("crm", "I1", "C1", occurred_at="2026-01-10T10:00:00+00:00", amount="49.90"),
        interaction("eshop", "O1", "E1", occurred_at="2026-02-01T12:00:00+00:00", amount="12"),
        consent("crm", "K1", "C2"),
    ]
    first = ingest.ingest(records)
    assert outcomes(first) == {"inserted": len(records)}
    counts = row_counts(database)
    golden = [
        (c.id, c.public_id, c.updated_at, c.lifetime_value_cents) for c in customers(database)
    ]

    clock.tick()
    second = ingest.ingest(records)

    assert outcomes(second) == {"unchanged": len(records)}
    assert second.customers_created == second.linked == second.suggestions == 0
    assert row_counts(database) == counts
    # Nothing was even rewritten: the golden records keep the first run's time.
    assert [
        (c.id, c.public_id, c.updated_at, c.lifetime_value_cents) for c in customers(database)
    ] == golden


# --- linking ------------------------------------------------------------------------------------


SAME_PERSON = {
    "email": customer("eshop", "E1", full_name="Jocelyne MICHU", email=" Jocelyne.Michu@MAIL.fr "),
    "phone": customer("support", "S1", given_name="Jocelyne", phone="+33 6 12 34 56 78"),
    "loyalty_card": customer("loyalty", "L1", loyalty_card="fid29041234", family_name="Michu"),
    "social": customer("social", "X1", instagram="jocelynemichu", followers=120),
}


@pytest.mark.parametrize("same_batch", [True, False], ids=["same-batch", "later-batch"])
@pytest.mark.parametrize("shared", sorted(SAME_PERSON))
def test_shared_identifier_links_to_one_customer(
    ingest: IngestService, database: Database, shared: str, same_batch: bool
) -> None:
    first, second = customer("crm", "C1", **JOCELYNE), SAME_PERSON[shared]
    if same_batch:
        report = ingest.ingest([first, second])
    else:
        ingest.ingest([first])
        report = ingest.ingest([second])

    assert report.linked == 1
    assert len(customers(database)) == 1
    linked = source_record(database, second.source, second.source_id)
    assert linked.customer_id == source_record(database, "crm", "C1").customer_id
    assert shared in linked.link_reason
    assert count(database, m.MergeSuggestion) == 0


@pytest.mark.parametrize("same_batch", [True, False], ids=["same-batch", "later-batch"])
def test_family_sharing_an_email_stays_apart(
    ingest: IngestService, database: Database, same_batch: bool
) -> None:
    mother = customer("crm", "F1", **JOCELYNE)
    son = customer(
        "eshop",
        "F2",
        given_name="Kevin",
        family_name="Michu",
        birth_date="30/08/1992",
        email="jocelyne.michu@mail.fr",
    )
    if same_batch:
        ingest.ingest([mother, son])
    else:
        ingest.ingest([mother])
        ingest.ingest([son])

    assert len(customers(database)) == 2
    assert customer_of(database, "crm", "F1").id != customer_of(database, "eshop", "F2").id
    with database.read() as session:
        suggestions = list(session.scalars(select(m.MergeSuggestion)))
    assert len(suggestions) == 1
    assert suggestions[0].status == "pending"
    assert "different" in suggestions[0].reason
    assert {suggestions[0].customer_a, suggestions[0].customer_b} == {
        c.id for c in customers(database)
    }

    again = ingest.ingest([mother, son])
    assert outcomes(again) == {"unchanged": 2}
    assert count(database, m.MergeSuggestion) == 1


# --- changes and tombstones ---------------------------------------------------------------------


def test_changed_record_updates_the_golden_record(
    ingest: IngestService, database: Database
) -> None:
    ingest.ingest([customer("crm", "C1", **JOCELYNE)])
    moved = customer("crm", "C1", **{**JOCELYNE, "city": "MARSEILLE", "postcode": "13001"})

    report = ingest.ingest([moved])

    assert outcomes(report) == {"updated": 1}
    (golden,) = customers(database)
    assert (golden.city, golden.postcode) == ("Marseille", "13001")
    assert count(database, m.SourceRecord) == 1
    assert source_record(database, "crm", "C1").fields["city"] == "MARSEILLE"


def test_tombstone_keeps_the_row_and_drops_its_values(
    ingest: IngestService, database: Database
) -> None:
    ingest.ingest(
        [
            customer("crm", "C1", **JOCELYNE),
            customer(
                "eshop",
                "E1",
                given_name="Jocelyne",
                email="jocelyne.michu@mail.fr",
                phone="04 78 00 00 01",
                postcode="69003",
                loyalty_tier="gold",
            ),
        ]
    )
    (before,) = customers(database)
    assert (before.postcode, before.loyalty_tier) == ("69003", "gold")
    eshop_id = source_record(database, "eshop", "E1").id

    report = ingest.ingest([customer("eshop", "E1", deleted=True)])

    assert outcomes(report) == {"deleted": 1}
    tombstone = source_record(database, "eshop", "E1")
    assert tombstone.id == eshop_id
    assert tombstone.deleted
    (after,) = customers(database)
    assert after.id == before.id
    assert (after.postcode, after.loyalty_tier) == (None, None)
    assert after.city == "Lyon"  # still supplied by the live crm record
    for model in (m.ContactPoint, m.Identifier):
        assert count(database, model, model.source_record_id == eshop_id) == 0

    again = ingest.ingest([customer("eshop", "E1", deleted=True)])
    assert outcomes(again) == {"unchanged": 1}


def test_a_customer_whose_every_record_is_deleted_leaves_search_and_comes_back_with_one(
    ingest: IngestService, database: Database
) -> None:
    from customer_card.services.cards import CardService
    from customer_card.services.search import SearchService

    ingest.ingest(
        [
            customer("crm", "C9", given_name="Gaspard", family_name="Ollier", phone="0611223344"),
            interaction("crm", "O9", "C9", occurred_at="2024-03-01T10:00:00+00:00", amount="12"),
        ]
    )
    (before,) = customers(database)
    search = SearchService(database)
    assert [h.customer_id for h in search.search("Ollier")] == [before.id]

    report = ingest.ingest([customer("crm", "C9", deleted=True)])

    assert outcomes(report) == {"deleted": 1}
    (gone,) = customers(database)
    # Who the card was stays (its contact points went with the record's details).
    assert (gone.id, gone.status, gone.family_name) == (before.id, "deleted", "Ollier")
    assert search.search("Ollier") == []
    card = CardService(database).load(before.id)
    assert card is not None
    assert card.customer.status == "deleted"
    assert card.interaction_count == 1  # its history stays, for reference

    # Sent again (the source undid the deletion): the same customer, active and found again.
    again = ingest.ingest(
        [customer("crm", "C9", given_name="Gaspard", family_name="Ollier", phone="0611223344")]
    )

    assert outcomes(again) == {"updated": 1}
    (back,) = customers(database)
    assert (back.id, back.status, back.family_name) == (before.id, "active", "Ollier")
    assert [h.customer_id for h in search.search("Ollier")] == [before.id]


def test_a_customer_with_one_live_record_left_stays_active(
    ingest: IngestService, database: Database
) -> None:
    ingest.ingest(
        [
            customer("crm", "C1", given_name="Ines", family_name="Barbier", email="ib@mail.fr"),
            customer("shop", "S1", given_name="Ines", family_name="Barbier", email="ib@mail.fr"),
        ]
    )
    ingest.ingest([customer("shop", "S1", deleted=True)])

    (only,) = customers(database)
    assert (only.status, only.family_name) == ("active", "Barbier")


def test_tombstone_of_an_unknown_record_stores_nothing(
    ingest: IngestService, database: Database
) -> None:
    report = ingest.ingest([customer("crm", "GHOST", deleted=True)])

    assert outcomes(report) == {"unchanged": 1}
    assert count(database, m.SourceRecord) == 0
    assert count(database, m.Customer) == 0


# --- interactions and quarantine ----------------------------------------------------------------


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-05:00"])
def test_a_date_beyond_what_utc_can_hold_is_quarantined_not_a_failed_sync(
    ingest: IngestService, database: Database, when: str
) -> None:
    ingest.ingest([customer("crm", "C1", **JOCELYNE)])
    report = ingest.ingest(
        [
            interaction("crm", "I1", "C1", occurred_at=when),
            consent("crm", "K1", "C1", collected_at=when),
            interaction("crm", "I2", "C1", occurred_at="2026-01-10T10:00:00+00:00"),
        ]
    )
    assert outcomes(report) == {"quarantined": 2, "inserted": 1}
    reasons = {r.source_id: r.reason for r in quarantine_rows(database)}
    assert reasons == {
        "I1": f"occurred_at out of range: {when!r}",
        "K1": f"collected_at out of range: {when!r}",
    }


def test_bad_interactions_are_quarantined_once_and_resolved_when_fixed(
    ingest: IngestService, database: Database, clock: Clock
) -> None:
    ingest.ingest([customer("crm", "C1", **JOCELYNE)])
    orphan = interaction("crm", "I1", "C404", occurred_at="2026-01-10T10:00:00+00:00")
    undated = interaction("crm", "I2", "C1", occurred_at="le 10 janvier")

    first = ingest.ingest([orphan, undated])
    clock.tick()
    second = ingest.ingest([orphan, undated])

    assert outcomes(first) == outcomes(second) == {"quarantined": 2}
    rows = quarantine_rows(database)
    assert [(r.source_id, r.kind) for r in rows] == [("I1", "interaction"), ("I2", "interaction")]
    assert "unknown customer 'C404'" in rows[0].reason
    assert "occurred_at" in rows[1].reason
    assert "le 10 janvier" in rows[1].reason
    assert all(r.resolved_at is None for r in rows)
    assert all("customer_ref" in r.raw for r in rows)
    assert count(database, m.Interaction) == 0

    # The missing customer arrives and the undated ticket gets a date.
    resolved_at = clock.tick()
    fixed = interaction("crm", "I2", "C1", occurred_at="2026-01-11T09:00:00+00:00")
    third = ingest.ingest([customer("crm", "C404", given_name="Paul", email="p@mail.fr")])
    fourth = ingest.ingest([orphan, fixed])

    assert outcomes(third) == {"inserted": 1}
    assert outcomes(fourth) == {"inserted": 2}
    rows = quarantine_rows(database)
    assert len(rows) == 2
    assert [r.resolved_at for r in rows] == [resolved_at, resolved_at]
    assert count(database, m.Interaction) == 2
    assert customer_of(database, "crm", "C404").last_contact_at == datetime(
        2026, 1, 10, 10, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"customer_ref": ""}, "no customer_ref"),
        ({"occurred_at": None}, "missing occurred_at"),
        # (It said "missing occurred_at", though a value was there.)
        (
            {"occurred_at": 1767225600},
            "occurred_at 1767225600 is a number, not a date: give its format in the mapping "
            '(datetime = "epoch" for seconds since 1970)',
        ),
        ({"amount": "12 euros"}, "unparseable amount"),
        ({"amount": "NaN"}, "unparseable amount"),
    ],
)
def test_unusable_interaction_reasons(
    ingest: IngestService, database: Database, fields: Mapping[str, Any], reason: str
) -> None:
    ingest.ingest([customer("crm", "C1", **JOCELYNE)])
    base = {"occurred_at": "2026-01-10T10:00:00+00:00", "amount": "10"}
    record = interaction("crm", "I1", "C1", **{**base, **fields})

    report = ingest.ingest([record])

    assert outcomes(report) == {"quarantined": 1}
    (row,) = quarantine_rows(database)
    assert reason in row.reason


# --- customer value -----------------------------------------------------------------------------


def test_value_figures_follow_the_history(ingest: IngestService, database: Database) -> None:
    orders = [
        interaction("crm", "O1", "C1", occurred_at="2026-01-10T10:00:00+00:00", amount="49.90"),
        interaction("crm", "O2", "C1", occurred_at="2026-03-05T15:30:00+01:00", amount="100,10"),
        interaction("crm", "R1", "C1", occurred_at="2026-03-20T10:00:00+00:00", amount="-20"),
        interaction(
            "crm", "T1", "C1", channel="phone", kind="call", occurred_at="2026-04-01T09:00:00Z"
        ),
    ]
    ingest.ingest([customer("crm", "C1", **JOCELYNE), *orders])

    (golden,) = customers(database)
    assert golden.lifetime_value_cents == 15000
    assert golden.order_count == 2
    assert golden.last_purchase_at == datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    assert golden.last_contact_at == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

    cheaper = interaction(
        "crm", "O2", "C1", occurred_at="2026-03-05T15:30:00+01:00", amount="10.10"
    )
    report = ingest.ingest([cheaper])

    assert outcomes(report) == {"updated": 1}
    (golden,) = customers(database)
    assert golden.lifetime_value_cents == 6000
    assert golden.order_count == 2

    cancelled = interaction(
        "crm",
        "O2",
        "C1",
        deleted=True,
        occurred_at="2026-03-05T15:30:00+01:00",
        amount="10.10",
    )
    report = ingest.ingest([cancelled])

    assert outcomes(report) == {"deleted": 1}
    (golden,) = customers(database)
    assert golden.lifetime_value_cents == 4990
    assert golden.order_count == 1
    assert golden.last_purchase_at == datetime(2026, 1, 10, 10, 0, tzinfo=UTC)


def test_bare_interaction_tombstone_removes_the_order(
    ingest: IngestService, database: Database
) -> None:
    order = interaction("crm", "O1", "C1", occurred_at="2026-01-10T10:00:00+00:00", amount="50")
    ingest.ingest([customer("crm", "C1", **JOCELYNE), order])
    bare = SourceRecord("crm", "O1", RecordKind.INTERACTION, {}, deleted=True)

    report = ingest.ingest([bare])

    assert outcomes(report) == {"deleted": 1}
    (golden,) = customers(database)
    assert (golden.lifetime_value_cents, golden.order_count) == (0, 0)


def test_interaction_moved_to_another_customer(ingest: IngestService, database: Database) -> None:
    paul = customer("crm", "C2", given_name="Paul", family_name="Durand", email="p@mail.fr")
    order = interaction("crm", "O1", "C1", occurred_at="2026-01-10T10:00:00+00:00", amount="50")
    ingest.ingest([customer("crm", "C1", **JOCELYNE), paul, order])
    assert customer_of(database, "crm", "C1").lifetime_value_cents == 5000

    ingest.ingest(
        [interaction("crm", "O1", "C2", occurred_at="2026-01-10T10:00:00+00:00", amount="50")]
    )

    assert customer_of(database, "crm", "C2").lifetime_value_cents == 5000
    jocelyne = customer_of(database, "crm", "C1")
    assert (jocelyne.lifetime_value_cents, jocelyne.order_count) == (0, 0)
    assert jocelyne.last_purchase_at is None


def figures(database: Database) -> dict[int, tuple[Any, ...]]:
    with database.read() as session:
        rows = session.execute(
            select(
                m.Customer.id,
                m.Customer.lifetime_value_cents,
                m.Customer.order_count,
                m.Customer.last_purchase_at,
                m.Customer.last_contact_at,
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}


def retotalled(database: Database) -> dict[int, tuple[Any, ...]]:
    """The figures a full re-total of every customer's history gives (rolled back after)."""
    with database.write() as session:
        ids = list(session.scalars(select(m.Customer.id)))
        IngestStore(session).refresh_activity(ids)
        rows = session.execute(
            select(
                m.Customer.id,
                m.Customer.lifetime_value_cents,
                m.Customer.order_count,
                m.Customer.last_purchase_at,
                m.Customer.last_contact_at,
            )
        )
        out = {row[0]: tuple(row[1:]) for row in rows}
        session.rollback()
    return out


def test_added_figures_equal_a_full_retotal_through_inserts_updates_and_deletes(
    database: Database, clock: Clock
) -> None:
    # Small batches, so that figures are added to across many transactions.
    ingest = IngestService(database, batch_size=3, clock=clock)
    paul = customer("crm", "C2", given_name="Paul", family_name="Durand", email="p@mail.fr")
    ingest.ingest([customer("crm", "C1", **JOCELYNE), paul])

    def at(day: int, hour: int = 10) -> str:
        return f"2026-01-{day:02d}T{hour:02d}:00:00+01:00"

    history = [
        interaction("crm", "O1", "C1", occurred_at=at(10), amount="49.90"),
        interaction("crm", "O2", "C1", occurred_at=at(3), amount="100,10"),  # older, later
        interaction("crm", "R1", "C1", occurred_at=at(20), amount="-20"),  # a refund
        interaction("crm", "T1", "C1", channel="phone", kind="call", occurred_at=at(25)),
        interaction("crm", "O3", "C2", occurred_at=at(5), amount="0"),
        interaction("crm", "O4", "C2", occurred_at=at(6), amount="15"),
        interaction("crm", "O5", "C2", occurred_at=at(7, 9), amount="7"),
    ]
    ingest.ingest(history)
    assert figures(database) == retotalled(database)
    jocelyne = customer_of(database, "crm", "C1")
    assert (jocelyne.lifetime_value_cents, jocelyne.order_count) == (15000, 2)
    assert jocelyne.last_contact_at == datetime(2026, 1, 25, 9, 0, tzinfo=UTC)

    changes = [
        interaction("crm", "O1", "C1", occurred_at=at(10), amount="10"),  # cheaper
        interaction("crm", "O4", "C1", occurred_at=at(6), amount="15"),  # moved to Jocelyne
        interaction("crm", "O6", "C2", occurred_at=at(28), amount="30"),  # new, newest
        SourceRecord("crm", "O5", RecordKind.INTERACTION, {}, deleted=True),
        interaction("crm", "O7", "C2", occurred_at=at(29), amount="99"),
        interaction("crm", "O8", "C1", occurred_at=at(30), amount="5"),
        SourceRecord("crm", "O7", RecordKind.INTERACTION, {}, deleted=True),  # same batch
        interaction("crm", "O2", "C1", deleted=True, occurred_at=at(3), amount="100,10"),
    ]
    ingest.ingest(changes)

    assert figures(database) == retotalled(database)
    paul_now = customer_of(database, "crm", "C2")
    assert (paul_now.lifetime_value_cents, paul_now.order_count) == (3000, 1)
    assert paul_now.last_purchase_at == datetime(2026, 1, 28, 9, 0, tzinfo=UTC)
    jocelyne = customer_of(database, "crm", "C1")
    assert (jocelyne.lifetime_value_cents, jocelyne.order_count) == (3000, 3)


def test_cancelled_and_returned_orders_count_neither_in_value_nor_as_purchases(
    database: Database, clock: Clock
) -> None:
    ingest = IngestService(database, batch_size=2, clock=clock)
    ingest.ingest([customer("crm", "C1", **JOCELYNE)])

    def order(source_id: str, day: int, amount: str, status: str | None) -> SourceRecord:
        when = f"2026-02-{day:02d}T10:00:00+00:00"
        return interaction("crm", source_id, "C1", occurred_at=when, amount=amount, status=status)

    ingest.ingest(
        [
            order("O1", 1, "40", "closed"),
            order("O2", 2, "25", "Cancelled"),  # as the source writes it
            order("O3", 3, "60", "returned"),
            order("O4", 4, "10", None),
            order("O5", 5, "70", "Annulée"),  # French sources say it in French
            order("O6", 6, "90", "ANNULÉE"),  # (SQLite's lower() leaves the É)
        ]
    )
    assert figures(database) == retotalled(database)
    jocelyne = customer_of(database, "crm", "C1")
    assert (jocelyne.lifetime_value_cents, jocelyne.order_count) == (5000, 2)
    assert jocelyne.last_purchase_at == datetime(2026, 2, 4, 10, 0, tzinfo=UTC)
    assert jocelyne.last_contact_at == datetime(2026, 2, 6, 10, 0, tzinfo=UTC)  # any contact

    # An order cancelled after it was counted leaves the figures; one un-cancelled comes in.
    ingest.ingest([order("O4", 4, "10", "canceled"), order("O2", 2, "25", "closed")])

    assert figures(database) == retotalled(database)
    jocelyne = customer_of(database, "crm", "C1")
    assert (jocelyne.lifetime_value_cents, jocelyne.order_count) == (6500, 2)
    assert jocelyne.last_purchase_at == datetime(2026, 2, 2, 10, 0, tzinfo=UTC)


def test_a_record_new_and_deleted_in_one_batch_is_kept_marked(
    ingest: IngestService, database: Database
) -> None:
    order = interaction("crm", "O1", "C1", occurred_at="2026-01-10T10:00:00+00:00", amount="50")
    gone = SourceRecord("crm", "O1", RecordKind.INTERACTION, {}, deleted=True)

    report = ingest.ingest([customer("crm", "C1", **JOCELYNE), order, gone])

    assert outcomes(report) == {"inserted": 2, "deleted": 1}
    with database.read() as session:
        (row,) = session.scalars(select(m.Interaction))
        assert row.deleted
        assert row.content_hash == gone.content_hash
    (golden,) = customers(database)
    assert (golden.lifetime_value_cents, golden.order_count, golden.last_contact_at) == (0, 0, None)

    # The same two again: the order comes back for a moment, and goes again.
    assert outcomes(ingest.ingest([order, gone])) == {"updated": 1, "deleted": 1}
    with database.read() as session:
        (row,) = session.scalars(select(m.Interaction))
        assert row.deleted
        assert row.content_hash == gone.content_hash
    assert customers(database)[0].lifetime_value_cents == 0


def test_a_transaction_holds_few_customer_records_and_many_history_rows(
    database: Database,
) -> None:
    ingest = IngestService(database, batch_size=6, customer_batch_size=2)
    sizes: list[int] = []

    def batches(report: IngestReport) -> None:
        sizes.append(report.read - sum(sizes))

    items: list[SourceRecord] = [*people(0, 5)]
    items += [
        interaction("crm", f"O{n}", "P0", occurred_at="2026-01-10T10:00:00+00:00") for n in range(8)
    ]
    ingest.ingest(items, batches)

    assert sizes == [2, 2, 6, 3]


# --- checkpoints --------------------------------------------------------------------------------


class ConnectorDownError(Exception):
    pass


def people(start: int, stop: int) -> list[SourceRecord]:
    return [
        customer("crm", f"P{n}", given_name=f"Person{n}", email=f"person{n}@mail.fr")
        for n in range(start, stop)
    ]


def feed(start: int, stop: int, fail_after: int | None = None) -> Iterator[Any]:
    """A connector: customers P<start>..P<stop-1>, a checkpoint every 2, dying if asked."""
    for n in range(start, stop):
        yield from people(n, n + 1)
        if fail_after is not None and n == fail_after:
            raise ConnectorDownError("connection reset by peer")
        if (n + 1) % 2 == 0:
            yield Checkpoint("crm", "customers", {"cursor": n + 1})


def saved_state(database: Database) -> dict[str, Any] | None:
    with database.read() as session:
        return IngestStore(session).load_state("crm", "customers")


def test_checkpoint_is_saved_with_its_records(database: Database) -> None:
    report = IngestService(database, batch_size=3).ingest(feed(0, 6))

    assert outcomes(report) == {"inserted": 6}
    assert saved_state(database) == {"cursor": 6}


def test_failing_connector_leaves_committed_batches_consistent(database: Database) -> None:
    ingest = IngestService(database, batch_size=3)
    # Items: P0 P1 cp2 | P2 P3 cp4 | P4 <boom>  (batches of 3 items)
    with pytest.raises(ConnectorDownError):
        ingest.ingest(feed(0, 10, fail_after=4))

    assert saved_state(database) == {"cursor": 4}
    with database.read() as session:
        stored = set(session.scalars(select(m.SourceRecord.source_id)))
    assert stored == {"P0", "P1", "P2", "P3"}

    # Resuming from the saved cursor loses nothing and duplicates nothing.
    state = saved_state(database)
    assert state is not None
    report = ingest.ingest(feed(int(state["cursor"]), 10))

    assert outcomes(report) == {"inserted": 6}
    assert count(database, m.SourceRecord) == 10
    assert count(database, m.Customer) == 10
    assert saved_state(database) == {"cursor": 10}


def test_checkpoint_state_is_replaced(database: Database) -> None:
    ingest = IngestService(database)
    ingest.ingest([Checkpoint("crm", "customers", {"cursor": "a", "page": 1})])
    ingest.ingest([Checkpoint("crm", "customers", {"cursor": "b"})])

    assert saved_state(database) == {"cursor": "b"}
    assert count(database, m.SyncState) == 1


# --- nothing lost -------------------------------------------------------------------------------


def mixed_batch() -> list[SourceRecord]:
    return [
        customer("crm", "C1", **JOCELYNE),
        customer("eshop", "E1", given_name="Jocelyne", email="jocelyne.michu@mail.fr"),
        customer("crm", "C2", given_name="Kevin", birth_date="1992-08-30", phone="0612345678"),
        customer("crm", "C3", vip=True),  # no name, identifier or contact point
        customer("crm", "", given_name="Nobody"),  # no source id
        customer("crm", "C4", email="not an address"),
        interaction("crm", "I1", "C1", occurred_at="2026-01-10T10:00:00+00:00", amount="5"),
        interaction("eshop", "O1", "E1", occurred_at="2026-01-11T10:00:00+00:00"),
        interaction("crm", "I2", "C999", occurred_at="2026-01-12T10:00:00+00:00"),
        interaction("crm", "I3", "C1", occurred_at="yesterday"),
        interaction("crm", "I4", "C1", occurred_at="2026-01-13T10:00:00+00:00", amount="abc"),
        consent("crm", "K1", "C1"),
        consent("crm", "K2", "C2", status="maybe"),
        consent("crm", "K3", "C2", purpose=""),
        consent("crm", "K4", "C999"),
        SourceRecord("crm", "Z1", "order", {"customer_ref": "C1"}),  # type: ignore[arg-type]
    ]


def test_every_record_is_counted_once_and_kept_somewhere(
    ingest: IngestService, database: Database
) -> None:
    records = mixed_batch()
    assert len({(r.source, r.kind, r.source_id) for r in records}) == len(records)

    report = ingest.ingest(records)

    assert report.read == len(records)
    assert outcomes(report) == {"inserted": 7, "quarantined": 9}
    unresolved = count(database, m.Quarantine, m.Quarantine.resolved_at.is_(None))
    assert unresolved == 9
    kept = (
        count(database, m.SourceRecord)
        + count(database, m.Interaction)
        + count(database, m.Consent)
        + unresolved
    )
    assert kept == len(records)


def test_same_id_in_two_streams_keeps_its_quarantine(
    ingest: IngestService, database: Database
) -> None:
    # Company systems number customers and tickets separately: ids collide across kinds.
    records = [
        customer("support", "42", given_name="Paul", email="p@mail.fr"),
        interaction("support", "42", "C999", occurred_at="2026-01-10T10:00:00+00:00"),
    ]

    report = ingest.ingest(records)

    assert outcomes(report) == {"inserted": 1, "quarantined": 1}
    (row,) = quarantine_rows(database)
    assert row.kind == "interaction"
    assert row.resolved_at is None


def test_customer_quarantine_is_resolved_when_the_record_becomes_usable(
    ingest: IngestService, database: Database
) -> None:
    ingest.ingest([customer("crm", "C3", vip=True)])
    assert quarantine_rows(database)[0].resolved_at is None

    ingest.ingest([customer("crm", "C3", vip=True, family_name="Martin")])

    (row,) = quarantine_rows(database)
    assert row.resolved_at is not None
    assert customers(database)[0].family_name == "Martin"


def test_birth_date_survives_from_the_best_source(
    ingest: IngestService, database: Database
) -> None:
    ingest.ingest(
        [
            customer("eshop", "E1", given_name="Jocelyne", email="jocelyne.michu@mail.fr"),
            customer("crm", "C1", **JOCELYNE),
        ]
    )

    (golden,) = customers(database)
    assert golden.birth_date == date(1961, 3, 14)
    assert (golden.given_name, golden.family_name) == ("Jocelyne", "Michu")


@pytest.mark.parametrize(
    "born",
    [
        19610314,  # a JSON number, a spreadsheet's number: stopped the whole source with
        # "'int' object has no attribute 'strip'"
        "1961-03-14T00:00:00+00:00",  # a spreadsheet's date cell, a JSON date-time
        "1961-03-14 00:00:00",  # a database's timestamp (these were dropped without a word)
    ],
)
def test_birth_dates_as_sources_give_them(
    ingest: IngestService, database: Database, born: object
) -> None:
    ingest.ingest([customer("crm", "C1", **{**JOCELYNE, "birth_date": born})])
    (golden,) = customers(database)
    assert golden.birth_date == date(1961, 3, 14)


def test_an_older_version_of_a_customer_does_not_undo_the_newer_one(
    ingest: IngestService, database: Database
) -> None:
    # A stale export (restored from a backup) sent Jean as he was in February after the March
    # version: "updated 1", and the card went back to the old name and e-mail.
    march = SourceRecord(
        "crm", "C1", RecordKind.CUSTOMER, {**JOCELYNE, "given_name": "Jocelyne"}, updated_at=T0
    )
    february = SourceRecord(
        "crm",
        "C1",
        RecordKind.CUSTOMER,
        {**JOCELYNE, "given_name": "Josiane"},
        updated_at=T0 - timedelta(days=30),
    )
    ingest.ingest([march])
    report = ingest.ingest([february])
    assert (report.total("updated"), report.total("quarantined")) == (0, 1)
    (golden,) = customers(database)
    assert golden.given_name == "Jocelyne"
    (row,) = quarantine_rows(database)
    assert row.reason.startswith("older than the version in the cache (updated ")

    # A supervisor's re-ingest overwrites the newer version on purpose.
    forced = ingest.ingest([february], overwrite_newer=True)
    assert forced.total("updated") == 1
    assert customers(database)[0].given_name == "Josiane"

    newer = SourceRecord(
        "crm",
        "C1",
        RecordKind.CUSTOMER,
        {**JOCELYNE, "given_name": "Josy"},
        updated_at=T0 + timedelta(days=1),
    )
    assert ingest.ingest([newer]).total("updated") == 1
    assert customers(database)[0].given_name == "Josy"
    assert quarantine_rows(database)[0].resolved_at is not None, "the newer version resolves it"


@pytest.mark.parametrize("dated", [True, False], ids=["dated tombstone", "sweep tombstone"])
def test_an_older_version_does_not_bring_back_a_deleted_customer_record(
    ingest: IngestService, database: Database, dated: bool
) -> None:
    # Deleted at its source (a dated tombstone, or gone from a full extract), then a stale
    # export restored from a backup sends it again as it was a month before: it stayed
    # deleted only if the source said when.
    march = SourceRecord("crm", "C1", RecordKind.CUSTOMER, JOCELYNE, updated_at=T0)
    gone = SourceRecord(
        "crm", "C1", RecordKind.CUSTOMER, {}, deleted=True, updated_at=T0 + timedelta(days=2)
    )
    if not dated:
        gone = replace(gone, updated_at=None)
    february = replace(march, fields={**JOCELYNE, "city": "Lyon"}, updated_at=T0 - timedelta(30))
    ingest.ingest([march])
    ingest.ingest([gone])

    report = ingest.ingest([february])

    assert (report.total("updated"), report.total("quarantined")) == (0, 1)
    assert source_record(database, "crm", "C1").deleted
    (row,) = quarantine_rows(database)
    assert row.reason.startswith("older than the version in the cache, which its source deleted")
    # Map again re-ingests every row kept aside: it applies older versions, never this one.
    again_aside = ingest.ingest([february], overwrite_newer=True)
    assert (again_aside.total("updated"), again_aside.total("quarantined")) == (0, 1)
    assert source_record(database, "crm", "C1").deleted
    # A version as new as the last one seen (the same row listed again), or newer, is back.
    again = replace(march, fields={**JOCELYNE, "city": "Lille"}, updated_at=T0 + timedelta(3))
    assert ingest.ingest([march if not dated else again]).total("updated") == 1
    assert not source_record(database, "crm", "C1").deleted


def test_a_deletion_older_than_the_cached_version_does_not_delete_it(
    ingest: IngestService, database: Database
) -> None:
    # A stale export with a soft-delete flag: the account was closed in February and reopened
    # in March; the February deletion comes after the March version.
    march = SourceRecord("crm", "C1", RecordKind.CUSTOMER, JOCELYNE, updated_at=T0)
    closed = SourceRecord(
        "crm", "C1", RecordKind.CUSTOMER, {}, deleted=True, updated_at=T0 - timedelta(days=30)
    )
    ingest.ingest([march])

    report = ingest.ingest([closed])

    assert (report.total("deleted"), report.total("quarantined")) == (0, 1)
    assert not source_record(database, "crm", "C1").deleted
    (row,) = quarantine_rows(database)
    assert row.reason.startswith("a deletion older than the version in the cache (updated ")
    # Map again (re-ingesting every row kept aside, to fix a mapping) leaves it aside too.
    again = ingest.ingest([closed], overwrite_newer=True)
    assert (again.total("deleted"), again.total("quarantined")) == (0, 1)
    assert not source_record(database, "crm", "C1").deleted
    # A deletion dated after the cached version deletes it, as before.
    later = replace(closed, updated_at=T0 + timedelta(days=1))
    assert ingest.ingest([later]).total("deleted") == 1
    stored = source_record(database, "crm", "C1")
    assert stored.deleted
    assert stored.source_updated_at == T0 + timedelta(days=1)


# --- rows written at the driver ---------------------------------------------------------------


def test_rows_written_at_the_driver_read_back_through_the_models(
    ingest: IngestService, database: Database, clock: Clock
) -> None:
    collected = datetime(2026, 9, 30, 18, 15, 7, 250, tzinfo=UTC)
    ingest.ingest(
        [
            customer("crm", "C1", **JOCELYNE, note="Caf\u00e9 cr\u00e8me"),
            consent("crm", "K1", "C1", collected_at=collected.isoformat()),
        ]
    )

    record = source_record(database, "crm", "C1")
    assert record.fields == {**JOCELYNE, "note": "Caf\u00e9 cr\u00e8me"}
    assert record.source_updated_at == T0
    assert record.first_seen_at == record.last_seen_at == clock.now
    assert (record.kind, record.deleted, record.link_reason) == ("customer", False, "new customer")
    (golden,) = customers(database)
    assert (golden.status, golden.created_at, golden.vip) == ("active", clock.now, False)
    with database.read() as session:
        (row,) = session.scalars(select(m.Consent))
    assert (row.customer_id, row.source_record_id) == (golden.id, record.id)
    assert (row.collected_at, row.source_updated_at, row.deleted) == (collected, None, False)


def test_updates_written_at_the_driver_read_back_through_the_models(
    ingest: IngestService, database: Database, clock: Clock
) -> None:
    ingest.ingest([customer("crm", "C1", **JOCELYNE)])
    first_seen = clock.now
    clock.tick()
    paris = timezone(timedelta(hours=2))
    changed = SourceRecord(
        "crm",
        "C1",
        RecordKind.CUSTOMER,
        {**JOCELYNE, "vip": True, "customer_since": "2015-06-01", "phone": "07 98 76 54 32"},
        updated_at=datetime(2026, 10, 2, 9, 30, tzinfo=paris),
    )
    visit = interaction("crm", "V1", "C1", occurred_at="2026-10-02T11:00:00+02:00", amount="12")

    assert outcomes(ingest.ingest([changed, visit])) == {"updated": 1, "inserted": 1}

    record = source_record(database, "crm", "C1")
    assert record.fields == changed.fields
    assert record.source_updated_at == datetime(2026, 10, 2, 7, 30, tzinfo=UTC)
    assert (record.first_seen_at, record.last_seen_at) == (first_seen, clock.now)
    (golden,) = customers(database)
    assert (golden.vip, golden.birth_date, golden.customer_since) == (
        True,
        date(1961, 3, 14),
        date(2015, 6, 1),
    )
    assert (golden.given_name, golden.family_name, golden.updated_at) == (
        "Jocelyne",
        "Michu",
        clock.now,
    )
    assert golden.last_contact_at == golden.last_purchase_at == datetime(2026, 10, 2, 9, tzinfo=UTC)
    with database.read() as session:
        phones = session.execute(
            select(
                m.ContactPoint.normalised, m.ContactPoint.valid, m.ContactPoint.is_primary
            ).where(m.ContactPoint.kind == "phone")
        ).all()
    assert [tuple(p) for p in phones] == [("+33798765432", True, True)]


def test_interactions_are_numbered_in_arrival_order(
    ingest: IngestService, database: Database
) -> None:
    paul = customer("crm", "C2", given_name="Paul", family_name="Durand", email="p@mail.fr")
    ingest.ingest([customer("crm", "C1", **JOCELYNE), paul])
    at = "2026-01-10T10:00:00+00:00"
    arrivals = [("O1", "C2"), ("O2", "C1"), ("O3", "C2"), ("O4", "C1")]

    ingest.ingest([interaction("crm", sid, ref, occurred_at=at) for sid, ref in arrivals])
    ingest.ingest([interaction("crm", "O5", "C2", occurred_at=at)])

    with database.read() as session:
        rows = session.execute(select(m.Interaction.source_id).order_by(m.Interaction.id))
        assert [sid for (sid,) in rows] == ["O1", "O2", "O3", "O4", "O5"]


def test_a_record_hash_never_changes() -> None:
    # Caches keep these hashes: a new digest for the same content would make the next sync
    # update every record.
    fields = {
        "given_name": "Zoé",
        "amount": Decimal("12.50"),
        "born": date(1961, 3, 14),
        "at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        "tags": ["a", "b"],
        "n": 3,
    }
    record = SourceRecord("crm", "1", RecordKind.CUSTOMER, fields)

    assert record.content_hash == "91188ceb17c0b13f96877587eeb92441"


def test_public_ids_already_taken_are_never_given_again(
    ingest: IngestService, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only three ids can ever be drawn: the second run must skip the one the first took.
    drawn = itertools.cycle(["C0000000A", "C0000000B", "C0000000C"])
    monkeypatch.setattr(ingest_store, "new_public_id", lambda: next(drawn))

    ingest.ingest([customer("crm", "C1", given_name="Ana", family_name="Lopez")])
    ingest.ingest(
        [
            customer("crm", "C2", given_name="Bruno", family_name="Marchal"),
            customer("crm", "C3", given_name="Chlo\u00e9", family_name="Nguyen"),
        ]
    )

    public_ids = [c.public_id for c in customers(database)]
    assert sorted(public_ids) == ["C0000000A", "C0000000B", "C0000000C"]


def test_a_row_rejected_twice_in_one_batch_is_kept_once(
    ingest: IngestService, database: Database
) -> None:
    # A tap printing the same stray line twice between two states: one quarantine row, both
    # counted as read and quarantined; the state is saved with it.
    line = Rejected("tap", "customers", RecordKind.CUSTOMER, None, "not json", "not a message")
    report = ingest.ingest([line, line, Checkpoint("tap", "customers", {"at": 1})])
    assert report.total("quarantined") == 2
    with database.read() as session:
        rows = session.scalars(select(m.Quarantine)).all()
        assert [(r.source, r.source_id, r.raw, r.reason) for r in rows] == [
            ("tap", None, "not json", "not a message")
        ]


@pytest.mark.parametrize("rejected_last", [True, False])
def test_a_record_met_and_rejected_in_one_batch_ends_as_its_last_version_says(
    ingest: IngestService, database: Database, rejected_last: bool
) -> None:
    # Two versions of one record in one batch (a re-ingest of two kept rows, a source that
    # repeats a row): one maps, one does not. The later one tells whether it stays kept.
    good = customer("shop", "7", given_name="Ana", family_name="Leroy")
    bad = Rejected("shop", "customers", RecordKind.CUSTOMER, "7", '{"row": 2}', "bad date")
    ingest.ingest([bad])  # kept by an earlier sync
    report = ingest.ingest([good, bad] if rejected_last else [bad, good])

    assert report.total("inserted") == 1
    assert source_record(database, "shop", "7").customer_id
    rows = quarantine_rows(database)
    assert [(r.source_id, r.reason) for r in rows] == [("7", "bad date")], "kept once"
    assert (rows[0].resolved_at is None) is rejected_last


def test_a_row_rejected_twice_in_one_batch_keeps_the_later_reason(
    ingest: IngestService, database: Database
) -> None:
    first = Rejected("shop", "customers", RecordKind.CUSTOMER, "7", '{"row": 1}', "bad date")
    again = Rejected("shop", "customers", RecordKind.CUSTOMER, "7", '{"row": 1}', "no name")
    ingest.ingest([first, again])
    assert [(r.source_id, r.reason) for r in quarantine_rows(database)] == [("7", "no name")]
