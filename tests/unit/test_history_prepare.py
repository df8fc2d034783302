"""History records prepared where they are read: the same cache as records ingested as they are.

A sync reads interactions and consents in a second process (or thread) that builds their rows
there and sends them as :class:`HistoryRecord`; what lands in the cache (rows, order lines,
figures, quarantine with its raw text and reason) must not depend on where the row was built.
"""

from __future__ import annotations

import pickle
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from customer_card.services import sync_runner
from customer_card.services.ingest import (
    HistoryRecord,
    IngestService,
    RecordError,
    _cents,
    prepare_history,
)
from customer_card.services.sync_runner import SyncRunner, _record_from_raw
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.keys import KdfCost
from sync.records import RecordKind, SourceRecord, canonical_json
from sync.sources import load_sources

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

NASTY: dict[str, Any] = {
    "customer_ref": "C404",
    "occurred_at": datetime(2026, 1, 10, 10, 0, tzinfo=timezone(timedelta(hours=1))),
    "amount": Decimal("12.50"),
    "born": date(1961, 3, 14),
    "summary": 'Zoé « ticket » \u00a0\u2028 \x01 \\ "quoted" 😀',
    "ratio": 1e16,
    "small": 0.1,
    "big": 2**70,
    "none": None,
    "flags": [True, False, None],
    "items": [{"sku": "A", "name": "Ä", "quantity": 1, "unit_price": Decimal("-0.50")}],
}


def test_a_prepared_record_keeps_in_quarantine_the_text_of_the_record_itself(
    database: Database,
) -> None:
    record = SourceRecord(
        "crm", "I1", RecordKind.INTERACTION, NASTY, updated_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    prepared = prepare_history(record)
    # The way it comes from a reader process.
    travelled = pickle.loads(pickle.dumps(prepared, pickle.HIGHEST_PROTOCOL))
    assert type(travelled) is HistoryRecord
    assert travelled == prepared
    assert prepared.content_hash == record.content_hash

    report = IngestService(database, clock=lambda: NOW).ingest([travelled])

    assert report.total("quarantined") == 1
    with database.read() as session:
        (row,) = session.scalars(select(m.Quarantine))
    assert row.reason == "unknown customer 'C404' in crm"
    assert row.raw == canonical_json(
        {
            "source": "crm",
            "source_id": "I1",
            "kind": "interaction",
            "updated_at": record.updated_at,
            "deleted": False,
            "fields": NASTY,
        }
    )
    again = _record_from_raw("crm", "interaction", row.raw)
    assert again is not None
    assert again.content_hash == record.content_hash  # re-ingested later as the same record


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("0", 0),
        ("-0", 0),
        ("25.99", 2599),
        ("-20", -2000),
        ("+5", 500),
        ("7.5", 750),
        ("007.50", 750),
        ("-0.50", -50),
        ("1.", 100),
        (".5", 50),
        ("1,5", 150),
        ("1 234,56", 123456),
        ("1.235", 124),  # more decimals: rounded half to even, as Decimal does
        ("1.245", 124),
        ("1e3", 100000),
        ("999999999999999.99", 99999999999999999),
        ("١٢", 1200),  # digits of another script: Decimal reads them
        (12, 1200),
        (Decimal("0.015"), 2),
    ],
)
def test_amounts_in_cents(text: Any, cents: int) -> None:
    assert _cents(text) == cents


@pytest.mark.parametrize("text", ["12 euros", "NaN", "Infinity", "1e30"])
def test_unusable_amounts(text: str) -> None:
    with pytest.raises(RecordError):
        _cents(text)


SOURCES = """
[sources.shop]
type = "csv"
checkpoint_every = 3

[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
email = "email"

[sources.shop.streams.orders]
kind = "interaction"
file = "orders.csv"
id = "id"
[sources.shop.streams.orders.fields]
customer_ref = "client"
occurred_at = "date"
amount = { column = "montant", decimal = "," }
items = "lignes"

[sources.shop.streams.consents]
kind = "consent"
file = "consents.csv"
id = "id"
[sources.shop.streams.consents.fields]
customer_ref = "client"
purpose = "objet"
status = "statut"
collected_at = "date"
"""

LINE = '[{""sku"": ""A1"", ""name"": ""Pot"", ""quantity"": 2, ""unit_price"": ""3.50""}]'


def write_exports(directory: Path, version: int) -> Path:
    clients = ["id;prenom;nom;email"] + [f"{n};P{n};N{n};p{n}@mail.fr" for n in range(4)]
    orders = ["id;client;date;montant;lignes"]
    for n in range(40):
        day = 1 + (n + version) % 28
        orders.append(f'O{n};{n % 4};2026-01-{day:02d}T10:00:00+01:00;{n},5{version};"{LINE}"')
    orders += [
        "O1;1;2026-01-03T10:00:00+01:00;1,50;",  # the same order again, changed
        "X1;9;2026-01-03T10:00:00+01:00;1;",  # unknown customer
        "X2;;2026-01-03T10:00:00+01:00;1;",  # no customer
        "X3;1;le 3 janvier;1;",  # unparseable date
        'X4;1;2026-01-03T10:00:00+01:00;1;"[{""name"": ""Pot""}]"',  # a line without quantity
        "X5;1;2026-01-03T10:00:00+01:00;douze;",  # unparseable amount
    ]
    if version:
        orders = [o for o in orders if not o.startswith("O7;")]
    consents = ["id;client;objet;statut;date"]
    consents += [f"K{n};{n % 4};newsletter;granted;2026-01-0{1 + version}" for n in range(5)]
    consents += ["K9;1;;granted;2026-01-01", "K8;1;sms;maybe;"]
    (directory / "clients.csv").write_text("\n".join(clients) + "\n", encoding="utf-8")
    (directory / "orders.csv").write_text("\n".join(orders) + "\n", encoding="utf-8")
    (directory / "consents.csv").write_text("\n".join(consents) + "\n", encoding="utf-8")
    path = directory / "sources.toml"
    path.write_text(SOURCES, encoding="utf-8")
    return path


def cache(path: Path) -> Database:
    return open_cache(
        path, None, Unlock(passphrase="p"), create=True, kdf_cost=KdfCost.minimal()
    ).database


def dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the history tables and quarantine, ids and times of the run aside."""
    queries = {
        "interaction": "SELECT customer_id, source_record_id, source, source_id, channel, kind, "
        "direction, occurred_at, summary, details, status, amount_cents, currency, "
        "content_hash, deleted, author FROM interaction ORDER BY id",
        "order_line": "SELECT i.source_id, l.line_no, l.sku, l.name, l.quantity, "
        "l.unit_price_cents, l.currency, l.category FROM order_line l "
        "JOIN interaction i ON i.id = l.interaction_id ORDER BY i.id, l.line_no",
        "consent": "SELECT customer_id, source_record_id, source, source_id, purpose, status, "
        "channel, collected_at, source_updated_at, content_hash, deleted FROM consent ORDER BY id",
        "quarantine": "SELECT source, source_id, kind, raw, reason, resolved_at IS NULL "
        "FROM quarantine ORDER BY id",
        "figures": "SELECT id, lifetime_value_cents, order_count, last_purchase_at, "
        "last_contact_at FROM customer ORDER BY id",
    }
    with database.read() as session:
        conn = session.connection()
        return {
            name: [tuple(r) for r in conn.exec_driver_sql(sql)] for name, sql in queries.items()
        }


def sync_twice(database: Database, tmp_path: Path) -> list[dict[str, list[tuple[Any, ...]]]]:
    """A first load, a second run over changed exports, a third over the same: each's cache."""
    runner = SyncRunner(database, IngestService(database, batch_size=7), lambda name: "")
    states = []
    for version in (0, 1, 1):
        summary = runner.run(load_sources(write_exports(tmp_path, version)).select(None))
        assert summary.ok, summary.errors
        states.append(dump(database))
    return states


def read_here(connector: Any, items: Any, spec: Any) -> Any:
    """Records read where they are written, as a connector without read-ahead gives them."""
    return nullcontext(items)


def no_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_runner, "can_fork", lambda: False)


@pytest.mark.parametrize("reader", ["process", "process, written where prepared", "thread"])
def test_history_prepared_by_a_reader_lands_as_records_ingested_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    # The reader process prepares the rows, or the writer prepares them all as they come.
    if reader == "process":
        monkeypatch.setattr(sync_runner, "_READ_AHEAD", 0)
    elif reader == "process, written where prepared":
        monkeypatch.setattr(sync_runner, "_READ_AHEAD", 10**9)
        monkeypatch.setattr(sync_runner, "_SELF_BOUND", 0.0)
    with monkeypatch.context() as patch:
        patch.setattr(sync_runner, "_read_ahead", read_here)
        (tmp_path / "here").mkdir()
        expected = sync_twice(cache(tmp_path / "here.db"), tmp_path / "here")
    if reader == "thread":
        no_fork(monkeypatch)
    (tmp_path / "ahead").mkdir()
    got = sync_twice(cache(tmp_path / "ahead.db"), tmp_path / "ahead")

    assert got == expected
    first, second, third = got
    assert third == second  # the same exports again change nothing
    reasons = {r[4] for r in first["quarantine"]}
    assert "unknown customer '9' in shop" in reasons
    assert "no customer_ref" in reasons
    assert any("occurred_at" in r for r in reasons)
    assert any("items line 1" in r for r in reasons)
    assert any("amount" in r for r in reasons), reasons
    assert any(r.startswith("unknown consent status") for r in reasons)
    assert len(first["order_line"]) == 39  # O1 came again without lines
    assert next(r for r in second["interaction"] if r[3] == "O7")[14] == 0  # not a full extract
