"""Streams of one kind in one source: their ids carry the stream's prefix everywhere — in the
records, in rejected rows, and in ``ids()`` (what a resumed full extract's sweep compares with
the cache), so no live record is taken for gone and a fixed row resolves its quarantine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from customer_card.services.ingest import IngestService
from customer_card.services.sync_runner import SyncRunner
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.sync_store import SyncStore
from sync.connector import Rejected
from sync.mapping import raw_json
from sync.records import SourceRecord
from sync.sources import keyring_secrets
from tests.sync.conftest import write_sources


def _ids_as_read(connector: Any, stream: str) -> tuple[set[str], set[str]]:
    records, rejected = set(), set()
    for item in connector.read(stream, None):
        if isinstance(item, SourceRecord):
            records.add(item.source_id)
        elif isinstance(item, Rejected) and item.source_id:
            rejected.add(item.source_id)
    return records, rejected


def _check(connector: Any, streams: tuple[str, ...]) -> None:
    for stream in streams:
        records, rejected = _ids_as_read(connector, stream)
        assert records
        assert rejected
        listed = set(connector.ids(stream))
        assert listed == records | rejected, stream
        assert all(sid.startswith(f"{stream}:") for sid in listed), stream


def test_sql_streams_of_one_kind(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    with engine.begin() as conn:
        for table in ("appels", "visites"):
            conn.exec_driver_sql(f"CREATE TABLE {table} (id integer PRIMARY KEY, c text, q text)")
            conn.exec_driver_sql(
                f"INSERT INTO {table} VALUES (1, 'C1', '2026-01-02T10:00:00+00:00'), "
                "(2, 'C2', 'not a time')"
            )
    engine.dispose()
    stream = """
[sources.desk.streams.{name}]
kind = "interaction"
table = "{table}"
id = "id"
[sources.desk.streams.{name}.fields]
customer_ref = "c"
occurred_at = {{ column = "q", datetime = "iso" }}
"""
    header = f'[sources.desk]\ntype = "sql"\nurl = "sqlite:///{tmp_path / "desk.db"}"\n'
    streams = (("calls", "appels"), ("visits", "visites"))
    sources = write_sources(
        tmp_path, header + "".join(stream.format(name=n, table=t) for n, t in streams)
    )
    (config,) = sources.select(None)
    _check(config.connector(keyring_secrets()), ("calls", "visits"))


def _csv_streams(tmp_path: Path) -> Any:
    for name in ("shop", "web"):
        (tmp_path / f"{name}.csv").write_text(
            "id;client;quand\n1;C1;2026-01-02T10:00:00+00:00\n2;C2;pas une date\n",
            encoding="utf-8",
        )
    stream = """
[sources.crm.streams.{name}]
kind = "interaction"
id = "id"
file = "{name}.csv"
[sources.crm.streams.{name}.fields]
customer_ref = "client"
occurred_at = {{ column = "quand", datetime = "iso" }}
"""
    return write_sources(
        tmp_path,
        '[sources.crm]\ntype = "csv"\n' + "".join(stream.format(name=n) for n in ("shop", "web")),
    )


def test_csv_streams_of_one_kind(tmp_path: Path) -> None:
    (config,) = _csv_streams(tmp_path).select(None)
    _check(config.connector(keyring_secrets()), ("shop", "web"))


def test_a_row_kept_with_its_id_unprefixed_is_kept_once_after_a_reingest(
    tmp_path: Path, database: Database
) -> None:
    """Before ids carried the prefix, rejected rows were kept under the bare id: the re-ingest
    keeps such a row once, under the id its records carry, not a second time beside it."""
    row = {"id": "2", "client": "C2", "quand": "pas une date"}
    with database.write() as session:
        IngestStore(session).quarantine(
            [
                {
                    "source": "crm",
                    "source_id": "2",
                    "kind": "interaction",
                    "raw": raw_json("shop", row),
                    "reason": "occurred_at: unparseable",
                    "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                }
            ]
        )
    runner = SyncRunner(database, IngestService(database), lambda name: "")
    report = runner.reingest_quarantine(_csv_streams(tmp_path).select(None))

    assert report.total("quarantined") == 1
    with database.read() as session:
        kept = SyncStore(session).quarantined()
    assert [(q.source_id, q.raw) for q in kept] == [("shop:2", raw_json("shop", row))]
    assert kept[0].reason.startswith("occurred_at: unparseable date-time 'pas une date'")
