"""The singer connector with a real tap process (and a file of tap output)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from customer_card.store.database import Database
from customer_card.store.sync_store import SyncStore
from sync.sources import store_secret
from tests.sync.conftest import make_runner, write_sources

TAP = Path(__file__).with_name("fake_tap.py")
STREAMS = """
[sources.eshop.streams.customers]
kind = "customer"
id = { column = "id", type = "str" }
[sources.eshop.streams.customers.fields]
email = "email"
full_name = { column = "name", split_name = "given_family" }

[sources.eshop.streams.orders]
kind = "interaction"
id = { column = "id", type = "str" }
[sources.eshop.streams.orders.fields]
customer_ref = { column = "customer_id", type = "str" }
occurred_at = "at"
amount = "total"
channel = { value = "web" }
"""


def tap_sources(extra: int = 0, *flags: str) -> str:
    command = json.dumps([sys.executable, str(TAP), "--extra", str(extra), *flags])
    return (
        f"""
[sources.eshop]
type = "singer"
command = {command}
config_secret = "eshop-tap"
"""
        + STREAMS
    )


def test_tap_runs_resumes_from_its_state_and_stays_idempotent(
    database: Database, tmp_path: Path
) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    runner = make_runner(database, batch_size=5)
    first = runner.run(write_sources(tmp_path, tap_sources()).select(None))
    assert first.ok, first.errors
    assert (first.total("inserted"), first.total("quarantined")) == (32, 0)

    # The tap gets its state back: it sends nothing old.
    second = runner.run(write_sources(tmp_path, tap_sources()).select(None))
    assert second.ok
    assert second.total("read") == 0
    third = runner.run(write_sources(tmp_path, tap_sources(extra=2)).select(None))
    assert third.total("inserted") == 2 == third.total("read")
    with database.read() as session:
        state = SyncStore(session).state("eshop", "tap")
    assert state is not None
    assert state["singer"]["bookmarks"]["customers"] == 101


def test_tap_failure_is_reported_without_its_secret(database: Database, tmp_path: Path) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "wrong"}))
    summary = make_runner(database).run(write_sources(tmp_path, tap_sources()).select(None))
    assert "the tap exited with status 2: CRITICAL invalid api_key" in summary.errors["eshop"]
    assert "wrong" not in summary.errors["eshop"]


def test_tap_output_file_twice_changes_nothing(database: Database, tmp_path: Path) -> None:
    messages = [
        {
            "type": "RECORD",
            "stream": "customers",
            "record": {"id": 1, "email": "a@x.fr", "name": "Ana LEROY"},
        },
        {
            "type": "RECORD",
            "stream": "orders",
            "record": {"id": 9, "customer_id": 1, "at": "yesterday", "total": 3},
        },
        {"type": "STATE", "value": {"done": True}},
    ]
    too_deep = "[" * 100_000 + "]" * 100_000  # valid JSON that the parser cannot nest
    (tmp_path / "out.jsonl").write_text(
        "\n".join(json.dumps(x) for x in messages) + f"\nnot json\n{too_deep}\n", encoding="utf-8"
    )
    text = '[sources.eshop]\ntype = "singer"\nfile = "out.jsonl"\n' + STREAMS
    runner = make_runner(database)
    first = runner.run(write_sources(tmp_path, text).select(None))
    assert first.total("inserted") == 1
    assert first.ok, first.errors
    assert first.total("quarantined") == 3  # an unparseable date, two lines not read as JSON
    second = runner.run(write_sources(tmp_path, text).select(None))
    assert second.total("inserted") == second.total("updated") == 0
    assert second.total("unchanged") == 1
    with database.read() as session:
        reasons = sorted(q.reason for q in SyncStore(session).quarantined())
    assert reasons[0].startswith("line 4: not a JSON message")
    assert reasons[1].startswith("line 5: not a JSON message")
    assert "unparseable occurred_at 'yesterday'" in reasons[2]


def test_a_tap_logging_bad_bytes_does_not_hang_the_sync(database: Database, tmp_path: Path) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    sources = write_sources(tmp_path, tap_sources(0, "--noisy")).select(None)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(make_runner(database).run(sources)))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the sync hung on the tap's stderr"
    assert result[0].ok, result[0].errors
    assert result[0].total("inserted") == 32


def test_a_record_that_is_not_utf8_goes_to_quarantine_unaltered(
    database: Database, tmp_path: Path
) -> None:
    """Not into the cache with its letters replaced by U+FFFD ('H\ufffdl\ufffdne')."""
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    summary = make_runner(database).run(
        write_sources(tmp_path, tap_sources(0, "--latin1")).select(None)
    )
    assert summary.ok, summary.errors
    assert (summary.total("inserted"), summary.total("quarantined")) == (32, 1)
    with database.read() as session:
        (kept,) = SyncStore(session).quarantined()
    assert kept.source_id == "77"
    assert kept.reason == "line 2: bad encoding: bytes that are not UTF-8 text"
    assert "H\\xe9l\\xe8ne" in kept.raw  # the bytes as they came


def test_an_output_file_with_a_line_that_is_not_utf8(database: Database, tmp_path: Path) -> None:
    good = {"type": "RECORD", "stream": "customers", "record": {"id": 1, "name": "Ana LEROY"}}
    bad = {"type": "RECORD", "stream": "customers", "record": {"id": 2, "name": "Léa MARTIN"}}
    (tmp_path / "out.jsonl").write_bytes(
        json.dumps(bad, ensure_ascii=False).encode("cp1252")
        + b"\n"
        + json.dumps(good).encode()
        + b"\n"
    )
    text = '[sources.eshop]\ntype = "singer"\nfile = "out.jsonl"\n' + STREAMS
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert summary.ok, summary.errors
    assert (summary.total("inserted"), summary.total("quarantined")) == (1, 1)
    with database.read() as session:
        (kept,) = SyncStore(session).quarantined()
    assert (kept.source_id, kept.reason) == (
        "2",
        "line 1: bad encoding: bytes that are not UTF-8 text",
    )


def test_a_tap_dying_mid_stream_keeps_what_it_sent_and_resumes_from_its_last_state(
    database: Database, tmp_path: Path
) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    runner = make_runner(database, batch_size=2)
    first = runner.run(write_sources(tmp_path, tap_sources(0, "--die-after", "5")).select(None))
    assert first.errors["eshop"] == (
        "eshop: the tap exited with status 1: CRITICAL connection reset by peer"
    )
    assert first.total("inserted") >= 5
    with database.read() as session:
        state = SyncStore(session).state("eshop", "tap")
    assert state is not None
    # Not beyond the last STATE the tap sent: the sixth customer came after it.
    assert state["singer"]["bookmarks"]["customers"] == 5

    second = runner.run(write_sources(tmp_path, tap_sources()).select(None))
    assert second.ok, second.errors
    assert first.total("inserted") + second.total("inserted") == 32  # nothing lost, no double
