"""A database's typed values (PostgreSQL: timestamptz, timestamp, date, numeric, boolean …)
through the sql connector, the mapping and the preparation of history rows: what lands in the
cache is what the same values given as text give."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from customer_card.services.ingest import HistoryRecord, prepare_history
from sync.records import SourceRecord
from tests.sync.conftest import Postgres, write_sources

# The session's time zone: psycopg gives timestamptz values in it (DST included).
SESSION = {"options": "-c TimeZone=Europe/Paris"}
LOCAL = ZoneInfo("Europe/Paris")  # the rule's time zone of the naive timestamps
COLUMNS = (
    "id text PRIMARY KEY, updated_at {time} NOT NULL, customer_ref text, occurred_at {time}, "
    "local_at {local}, day {day}, amount {number}, flag boolean, n integer, note text"
)
ROWS = [
    # just before the spring change; the hour that does not exist (naive); half a cent
    ("1", "2026-03-29 00:59:59.5+00", "C1", "2026-03-29 00:59:59.5+00", "2026-03-29 02:30",
     "2024-02-29", "12.345", True, 0, "  x  "),
    # the second 02:30 of the autumn night (aware), the first (naive); half a cent below 0
    ("2", "2026-10-25 01:30+00", "C2", "2026-10-25 00:30+00", "2026-10-25 02:30", None,
     "-0.005", False, None, None),
    ("3", "2026-06-01 10:00:00.123456+00", "C3", None, None, "0001-01-01", None, None, -5, ""),
    # many decimal places
    ("4", "2026-01-05 09:00+00", "C4", "1970-01-01 00:00+00", "2026-01-05 23:59:59.999999",
     "2026-01-05", "1234567890123.456789012345", None, 2, "n"),
]  # fmt: skip


@pytest.fixture
def schema(postgres: Postgres) -> Iterator[tuple[sa.Engine, str]]:
    name = "t" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(postgres.url(), connect_args=SESSION)
    typed = COLUMNS.format(time="timestamptz", local="timestamp", day="date", number="numeric")
    text = COLUMNS.format(time="text", local="text", day="text", number="text")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        conn.exec_driver_sql(f"CREATE TABLE {name}.typed ({typed})")
        conn.exec_driver_sql(f"CREATE TABLE {name}.text ({text})")
        conn.execute(
            sa.text(f"INSERT INTO {name}.typed VALUES (:a, :b, :c, :d, :e, :f, :g, :h, :i, :j)"),
            [dict(zip("abcdefghij", row, strict=True)) for row in ROWS],
        )
        # The same values as the text a CSV export would hold: ISO times with their offset
        # (naive ones in the rule's zone), decimals as written.
        typed_rows = conn.execute(sa.text(f"SELECT * FROM {name}.typed ORDER BY id")).all()
        conn.execute(
            sa.text(f"INSERT INTO {name}.text VALUES (:a, :b, :c, :d, :e, :f, :g, :h, :i, :j)"),
            [dict(zip("abcdefghij", map(_as_text, row), strict=True)) for row in typed_rows],
        )
    yield engine, name
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
    engine.dispose()


def _as_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=LOCAL)).isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def _stream(name: str, schema: str, table: str, kind: str, fields: str) -> str:
    return f"""
[sources.crm.streams.{name}]
kind = "{kind}"
schema = "{schema}"
table = "{table}"
cursor = "updated_at"
id = "id"
updated_at = "updated_at"
[sources.crm.streams.{name}.fields]
customer_ref = "customer_ref"
{fields}
"""


INTERACTION = """occurred_at = "occurred_at"
local_at = { column = "local_at", timezone = "Europe/Paris" }
day = "day"
amount = "amount"
flag = "flag"
n = "n"
summary = "note"
"""
CONSENT = """purpose = { value = "newsletter" }
status = { value = "granted" }
collected_at = { column = "local_at", timezone = "Europe/Paris" }
"""


def test_typed_values_land_as_the_same_values_as_text(
    postgres: Postgres, schema: tuple[sa.Engine, str], tmp_path: Path
) -> None:
    _, name = schema
    sources = write_sources(
        tmp_path,
        f"""
[sources.crm]
type = "sql"
url = "{postgres.url()}"
connect_args = {{ options = "-c TimeZone=Europe/Paris" }}
"""
        + _stream("typed", name, "typed", "interaction", INTERACTION)
        + _stream("text", name, "text", "interaction", INTERACTION)
        + _stream("typed_consents", name, "typed", "consent", CONSENT)
        + _stream("text_consents", name, "text", "consent", CONSENT),
    )
    connector = sources.sources["crm"].connector(lambda n: "")
    try:
        prepared = {
            # (By id without the stream's prefix: the text sorts its times otherwise.)
            stream: sorted(
                prepare_history(item)._replace(source_id=item.source_id.partition(":")[2])
                for item in connector.read(stream, None)
                if isinstance(item, SourceRecord)
            )
            for stream in ("typed", "text", "typed_consents", "text_consents")
        }
    finally:
        connector.close()  # type: ignore[attr-defined]

    assert len(prepared["typed"]) == len(ROWS)
    assert prepared["typed"] == prepared["text"]  # rows, hashes, fields' JSON, updated_at
    assert prepared["typed_consents"] == prepared["text_consents"]
    first, second, third, fourth = prepared["typed"]
    assert _values(first) == (
        "2026-03-29 00:59:59.500000",
        1234,
        "2026-03-29T01:59:59.500000+01:00",
    )
    assert _values(second) == ("2026-10-25 00:30:00.000000", 0, "2026-10-25T02:30:00+01:00")
    assert (third.row, third.error) == (None, "missing occurred_at")
    assert _values(fourth) == ("1970-01-01 00:00:00.000000", 123456789012346, fourth.updated_at)
    assert b'"flag": true' in first.fields_json
    assert b'"local_at": "2026-03-29T02:30:00+01:00"' in first.fields_json
    consent = prepared["typed_consents"][1]
    assert consent.row is not None
    assert consent.row[3] == "2026-10-25 00:30:00.000000"


def _values(item: HistoryRecord) -> tuple[Any, ...]:
    assert item.row is not None, item.error
    return item.row[3], item.row[7], item.updated_at
