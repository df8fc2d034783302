"""Order lines: the canonical ``items`` field lands in ``order_line``, bad lines go to
quarantine with a reason, new versions replace the lines, and the card reads the products."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_card.services.cards import CardService
from customer_card.services.ingest import IngestService
from customer_card.services.merge import MergeService
from customer_card.store import models as m
from customer_card.store.database import Database
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord
from tests.conftest import DemoServices
from tests.unit.merge_people import ESHOP, LOYALTY, Clock

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
PULL = {
    "sku": "FEM-1322",
    "name": "Pull col V mérinos",
    "quantity": 2,
    "unit_price": "39.90",
    "category": "Mode femme",
}
SCARF = {"sku": "FEM-1308", "name": "Foulard imprimé fleurs", "quantity": 1, "unit_price": 19.9}


def order(
    source_id: str,
    items: Any,
    *,
    ref: str = "E1",
    source: str = "eshop",
    days: int = 0,
    **fields: Any,
) -> SourceRecord:
    return SourceRecord(
        source,
        source_id,
        RecordKind.INTERACTION,
        {
            "customer_ref": ref,
            "channel": "web",
            "kind": "order",
            "occurred_at": (T0 + timedelta(days=days)).isoformat(),
            "summary": f"Commande {source_id}",
            "amount": "99.70",
            "currency": "EUR",
            "items": items,
            **fields,
        },
    )


def lines(database: Database, source_id: str) -> list[tuple[Any, ...]]:
    ol, i = m.OrderLine, m.Interaction
    with database.read() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    ol.line_no,
                    ol.sku,
                    ol.name,
                    ol.quantity,
                    ol.unit_price_cents,
                    ol.currency,
                    ol.category,
                )
                .join(i, i.id == ol.interaction_id)
                .where(i.source_id == source_id)
                .order_by(ol.line_no)
            )
        ]


def quarantined(database: Database) -> list[tuple[str | None, str]]:
    q = m.Quarantine
    with database.read() as session:
        return [tuple(r) for r in session.execute(select(q.source_id, q.reason))]  # type: ignore[misc]


def test_items_land_as_order_lines(database: Database, ingest: IngestService) -> None:
    report = ingest.ingest([ESHOP, order("O1", [PULL, SCARF]), order("O2", json.dumps([SCARF]))])

    assert report.total("quarantined") == 0
    assert lines(database, "O1") == [
        (1, "FEM-1322", "Pull col V mérinos", 2, 3990, "EUR", "Mode femme"),
        (2, "FEM-1308", "Foulard imprimé fleurs", 1, 1990, "EUR", None),
    ]
    # JSON text, as a CSV column gives it, is the same list.
    assert lines(database, "O2") == [
        (1, "FEM-1308", "Foulard imprimé fleurs", 1, 1990, "EUR", None)
    ]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ({"sku": "X"}, "items must be a list of order lines, not dict"),
        ("[{oops", "items is not valid JSON"),
        (["a pull"], "items line 1 is not an object"),
        ([PULL, {"quantity": 1, "unit_price": "5"}], "items line 2 has neither name nor sku"),
        ([{**PULL, "quantity": 0}], "items line 1: quantity 0 is not a non-zero whole number"),
        ([{**PULL, "quantity": "two"}], "items line 1: quantity 'two' is not a non-zero whole"),
        ([{**PULL, "quantity": 1.5}], "items line 1: quantity 1.5 is not a non-zero whole"),
        ([{**PULL, "quantity": "²"}], "items line 1: quantity '²' is not a non-zero whole"),
        ([{**PULL, "quantity": 10**30}], "items line 1: quantity 1000000000000000000000000000"),
        ([{**PULL, "unit_price": "cher"}], "items line 1: unparseable amount 'cher'"),
        ([{**PULL, "unit_price": "1e30"}], "items line 1: amount '1e30' is out of range"),
        ([{"name": "Pull", "quantity": 1}], "items line 1: unit_price is missing"),
        ([{**PULL, "currency": "dollars"}], "items line 1: unknown currency 'dollars'"),
        ([{**PULL, "unit_price": "1e999999"}], "items line 1: amount '1e999999' is out of"),
    ],
)
def test_malformed_items_send_the_order_to_quarantine(
    database: Database, ingest: IngestService, items: Any, reason: str
) -> None:
    report = ingest.ingest([ESHOP, order("O1", items), order("O2", [SCARF])])

    assert report.total("quarantined") == 1
    ((source_id, why),) = quarantined(database)
    assert source_id == "O1"
    assert why.startswith(reason)
    assert lines(database, "O1") == []
    with database.read() as session:
        stored = session.scalars(select(m.Interaction.source_id)).all()
    assert stored == ["O2"]  # the good order still lands; the bad one waits, whole


def test_currencies_are_stored_as_their_iso_code(database: Database, ingest: IngestService) -> None:
    # "dollars" was stored as "DOL", "€" as "€"; the card shows a symbol from the code.
    report = ingest.ingest(
        [
            ESHOP,
            order("O1", [{**SCARF, "currency": "£"}], currency="€"),
            order("O2", [SCARF], currency=" euros "),
            order("O3", [SCARF], currency="usd"),
            order("O4", [SCARF], currency="dollars"),
        ]
    )

    assert report.total("quarantined") == 1
    assert quarantined(database) == [
        ("O4", "unknown currency 'dollars' (give its ISO code: EUR, USD…)")
    ]
    with database.read() as session:
        rows = session.execute(select(m.Interaction.source_id, m.Interaction.currency))
        stored: dict[str, str] = {row.source_id: row.currency for row in rows}
    assert stored == {
        "O1": "EUR",
        "O2": "EUR",
        "O3": "USD",
    }
    assert [line[5] for line in lines(database, "O1")] == ["GBP"]


def test_refund_and_discount_lines_are_kept(database: Database, ingest: IngestService) -> None:
    voucher = {"sku": "BON-5", "name": "Bon de réduction", "quantity": 1, "unit_price": "-5,00"}
    refund = {**PULL, "quantity": -1}
    report = ingest.ingest([ESHOP, order("O1", [PULL, voucher]), order("O2", [refund], days=1)])

    assert report.total("quarantined") == 0
    assert lines(database, "O1")[1] == (2, "BON-5", "Bon de réduction", 1, -500, "EUR", None)
    assert lines(database, "O2") == [
        (1, "FEM-1322", "Pull col V mérinos", -1, 3990, "EUR", "Mode femme")
    ]


def test_a_new_version_replaces_the_lines_and_a_tombstone_keeps_them_out(
    database: Database, ingest: IngestService
) -> None:
    ingest.ingest([ESHOP, order("O1", [PULL, SCARF]), order("O2", [SCARF], days=1)])
    ingest.ingest([order("O1", [{**PULL, "quantity": 1}], status="returned")])
    assert lines(database, "O1") == [
        (1, "FEM-1322", "Pull col V mérinos", 1, 3990, "EUR", "Mode femme")
    ]
    unchanged = ingest.ingest([order("O1", [{**PULL, "quantity": 1}], status="returned")])
    assert unchanged.total("unchanged") == 1

    cards = CardService(database)
    (customer_id,) = {c for (c,) in _customers(database)}
    bought = {p.key: p for p in cards.products(customer_id, 8).products}
    assert (bought["FEM-1322"].quantity, bought["FEM-1322"].returned) == (1, 1)
    assert (bought["FEM-1308"].quantity, bought["FEM-1308"].times) == (1, 1)

    # A version without items has no lines; a tombstone keeps the row (and its lines) aside.
    ingest.ingest([order("O1", None)])
    assert lines(database, "O1") == []
    tombstone = SourceRecord("eshop", "O2", RecordKind.INTERACTION, {}, deleted=True)
    assert ingest.ingest([tombstone]).total("deleted") == 1
    assert len(lines(database, "O2")) == 1
    assert cards.products(customer_id, 8).total == 0


def _customers(database: Database) -> list[tuple[int]]:
    with database.read() as session:
        return [tuple(r) for r in session.execute(select(m.Customer.id))]  # type: ignore[misc]


def test_lines_follow_their_order_through_merge_and_unmerge(
    database: Database, ingest: IngestService
) -> None:
    ingest.ingest(
        [
            LOYALTY,
            ESHOP,
            order("O1", [PULL]),
            order("O2", [SCARF], ref="L1", source="loyalty", days=3),
        ]
    )
    with database.read() as session:
        owner = {
            r.source: r.customer_id
            for r in session.execute(select(m.SourceRecord.source, m.SourceRecord.customer_id))
        }
    survivor, merged = owner["loyalty"], owner["eshop"]
    cards = CardService(database)
    before = (cards.products(survivor, 8), cards.products(merged, 8))
    assert [p.key for p in before[1].products] == ["FEM-1322"]

    merging = MergeService(database, clock=Clock())
    event = merging.merge(survivor, merged, actor="supervisor")
    after = cards.products(survivor, 8)
    assert [p.key for p in after.products] == ["FEM-1308", "FEM-1322"]  # most recent first
    assert cards.products(merged, 8).total == 0

    merging.unmerge(event, actor="supervisor")
    assert (cards.products(survivor, 8), cards.products(merged, 8)) == before


def test_products_of_a_demo_customer(demo_services: DemoServices) -> None:
    with demo_services.database.read() as session:
        customer_id, orders = session.execute(
            select(m.Interaction.customer_id, func.count())
            .where(m.Interaction.kind == "order")
            .group_by(m.Interaction.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        expected = session.execute(
            select(func.count(func.distinct(m.OrderLine.sku)))
            .join(m.Interaction, m.Interaction.id == m.OrderLine.interaction_id)
            .where(m.Interaction.customer_id == customer_id)
            .where(m.Interaction.deleted.is_(False))
            .where(m.Interaction.status != "cancelled")
        ).scalar_one()
    assert orders > 3

    bought = demo_services.cards.products(customer_id, 5)

    assert bought.total == expected > 0
    assert len(bought.products) == min(5, expected)
    dates = [p.last_bought_at for p in bought.products]
    assert dates == sorted(dates, reverse=True)
    for product in bought.products:
        assert product.sku
        assert product.name
        assert product.category
        assert product.quantity >= product.times >= 1
        assert product.last_source == "eshop"
        assert product.last_source_id.startswith("ORD-")
    # The detail pane's read: the last order of the newest product, line by line.
    newest = bought.products[0]
    with demo_services.database.read() as session:
        interaction_id, amount = session.execute(
            select(m.Interaction.id, m.Interaction.amount_cents).where(
                m.Interaction.source_id == newest.last_source_id
            )
        ).one()
    order_lines = demo_services.cards.order_lines(interaction_id)
    assert newest.name in {line.name for line in order_lines}
    assert (
        sum(line.quantity * (line.unit_price or 0) for line in order_lines)
        == Decimal(amount or 0) / 100
    )


def test_demo_orders_have_lines_adding_up_and_customers_unchanged() -> None:
    generator = DemoGenerator(DemoConfig(customers=300, seed=3))
    orders = [r for r in generator.records() if r.fields.get("kind") == "order"]
    assert orders
    for record in orders:
        items = record.fields["items"]
        assert 1 <= len(items) <= 5
        total = sum(Decimal(line["unit_price"]) * line["quantity"] for line in items)
        assert total == Decimal(record.fields["amount"])
        articles = sum(line["quantity"] for line in items)
        assert f"{articles} article" in record.fields["summary"]
    again = list(DemoGenerator(DemoConfig(customers=300, seed=3)).records())
    assert [r.fields.get("items") for r in again if r.fields.get("kind") == "order"] == [
        r.fields["items"] for r in orders
    ]
