"""A full extract speaks for the rows waiting in quarantine too: one it no longer lists is gone
from the source, and a later retry must not bring it back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from customer_card.store import models as m
from customer_card.store.database import Database
from tests.sync.conftest import make_runner, write_sources

SOURCES = """
[sources.shop]
type = "csv"

[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"

[sources.shop.streams.orders]
kind = "interaction"
file = "orders.csv"
id = "id"
full_extract = true
[sources.shop.streams.orders.fields]
customer_ref = "client"
occurred_at = { column = "date", datetime = "%Y-%m-%d", timezone = "Europe/Paris" }
amount = "montant"
channel = { value = "web" }
kind = { value = "order" }
"""


def orders(database: Database) -> dict[str, bool]:
    with database.read() as session:
        rows = session.execute(select(m.Interaction.source_id, m.Interaction.deleted))
        return {str(sid): bool(deleted) for sid, deleted in rows}


def waiting(database: Database) -> list[str | None]:
    with database.read() as session:
        rows = session.scalars(
            select(m.Quarantine.source_id).where(m.Quarantine.resolved_at.is_(None))
        )
        return list(rows)


def test_an_order_gone_from_the_extract_while_it_waited_for_its_customer_stays_gone(
    database: Database, tmp_path: Path
) -> None:
    (tmp_path / "clients.csv").write_text("id,prenom,nom\n1,Ana,Leroy\n", encoding="utf-8")
    (tmp_path / "orders.csv").write_text(
        "id,client,date,montant\nA1,1,2026-01-02,10\nA4,8,2026-01-03,40\n", encoding="utf-8"
    )
    sources = write_sources(tmp_path, SOURCES).select(None)
    assert make_runner(database).run(sources).ok
    assert waiting(database) == ["A4"]  # customer 8 is not there yet

    # The shop cancels A4 (gone from the extract), then customer 8 arrives.
    (tmp_path / "clients.csv").write_text(
        "id,prenom,nom\n1,Ana,Leroy\n8,Leo,Petit\n", encoding="utf-8"
    )
    (tmp_path / "orders.csv").write_text(
        "id,client,date,montant\nA1,1,2026-01-02,10\n", encoding="utf-8"
    )
    second = make_runner(database).run(sources)
    assert second.ok, second.errors
    # A4 came back live on customer 8 (and in its value) when its retry found the customer.
    assert orders(database) == {"A1": False}
    assert waiting(database) == []
