"""The sync runner around ingest: counts of a stopped sync, and the read-ahead of history rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_card.services import sync_runner
from customer_card.services.ingest import HistoryRecord, IngestService, prepare_history
from customer_card.services.sync_runner import (
    Prepared,
    SyncProgress,
    SyncRunner,
    _ReadAhead,
    _ReadAheadProcess,
)
from customer_card.store import models as m
from customer_card.store.database import Database
from sync.connector import CancelToken, ConnectorError, Item
from sync.records import Checkpoint, RecordKind, SourceRecord
from sync.sources import load_sources
from tests.helpers.processes import gone

SOURCES = """
[sources.shop]
type = "csv"
checkpoint_every = 2

[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
email = "email"

[sources.shop.streams.visits]
kind = "interaction"
file = "visits.csv"
id = "id"
[sources.shop.streams.visits.fields]
customer_ref = "client"
occurred_at = { column = "date", datetime = "iso" }
amount = { column = "montant", decimal = "," }
"""


def write_exports(directory: Path, clients: int, visits: int) -> Path:
    rows = ["id;prenom;nom;email"]
    rows += [f"{n};Prénom{n};Nom{n};p{n}@mail.fr" for n in range(clients)]
    (directory / "clients.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    rows = ["id;client;date;montant"]
    rows += [
        f"V{n};{n % clients};2026-01-{1 + n % 28:02d}T10:00:00+01:00;1,50" for n in range(visits)
    ]
    (directory / "visits.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    path = directory / "sources.toml"
    path.write_text(SOURCES, encoding="utf-8")
    return path


def count(database: Database, model: type[m.Base]) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_cancelled_sync_counts_what_it_committed(database: Database, tmp_path: Path) -> None:
    sources = load_sources(write_exports(tmp_path, clients=3, visits=40))
    runner = SyncRunner(database, IngestService(database, batch_size=10), lambda name: "")
    token = CancelToken()
    seen: list[SyncProgress] = []

    def progress(p: SyncProgress) -> None:
        seen.append(p)
        if p.stream == "visits" and p.read >= 20:
            token.cancel()

    summary = runner.run(sources.select(None), progress=progress, cancel=token)

    assert summary.cancelled
    customers, visits = summary.passes
    assert (customers.read, customers.inserted, customers.cancelled) == (3, 3, False)
    assert visits.cancelled
    # Two batches of visits were committed (10 items each, checkpoints included) before the stop.
    assert visits.inserted == visits.read == count(database, m.Interaction) > 0
    assert visits.inserted == seen[-1].read


def test_history_read_ahead_loads_everything_in_order(database: Database, tmp_path: Path) -> None:
    sources = load_sources(write_exports(tmp_path, clients=5, visits=1200))
    runner = SyncRunner(database, IngestService(database, batch_size=100), lambda name: "")

    summary = runner.run(sources.select(None))

    assert summary.ok, summary.errors
    assert [(p.stream, p.inserted) for p in summary.passes] == [("customers", 5), ("visits", 1200)]
    with database.read() as session:
        value = session.scalar(select(func.sum(m.Customer.lifetime_value_cents)))
        state = session.get(m.SyncState, ("shop", "visits"))
    assert value == 1200 * 150
    assert state is not None
    assert state.state["done"]
    assert state.state["offset"] == 1200
    again = runner.run(sources.select(None))
    assert again.ok
    assert again.total("read") == 0


def records(
    n: int, fail_at: int | None = None, closed: threading.Event | None = None
) -> Iterator[Item]:
    try:
        for i in range(n):
            if i == fail_at:
                raise OSError("connection reset by peer")
            yield SourceRecord("crm", f"O{i}", RecordKind.INTERACTION, {"n": i})
            if i % 7 == 6:
                yield Checkpoint("crm", "orders", {"at": i})
    finally:
        if closed is not None:
            closed.set()


Ahead = Callable[[Iterator[Item]], AbstractContextManager[Iterator[Prepared]]]


def in_thread(items: Iterator[Item]) -> AbstractContextManager[Iterator[Prepared]]:
    return _ReadAhead(items)


def in_process(items: Iterator[Item]) -> AbstractContextManager[Iterator[Prepared]]:
    return _ReadAheadProcess("crm", lambda: None, items)


both = pytest.mark.parametrize("ahead", [in_thread, in_process], ids=["thread", "process"])


@both
def test_read_ahead_gives_every_item_in_order_prepared(ahead: Ahead) -> None:
    def mixed() -> Iterator[Item]:
        for item in records(5000):
            yield item
            if isinstance(item, Checkpoint):  # a customer record now and then: hashed only
                yield SourceRecord("crm", f"C{item.state['at']}", RecordKind.CUSTOMER, {"n": 1})

    def plain(item: Prepared) -> object:  # where a history record keeps its fields aside
        if isinstance(item, HistoryRecord):
            return (*item[:9], item.fields_json)
        return item

    expected = [
        prepare_history(r) if isinstance(r, SourceRecord) and r.kind != "customer" else r
        for r in mixed()
    ]

    with ahead(mixed()) as items:
        got = list(items)

    assert [plain(r) for r in got] == [plain(r) for r in expected]
    assert [type(r) for r in got] == [type(r) for r in expected]
    customers = [r for r in got if isinstance(r, SourceRecord)]
    assert customers
    assert all(r._hash for r in customers)
    assert [r.content_hash for r in customers] == [
        r.content_hash for r in expected if isinstance(r, SourceRecord)
    ]


@pytest.mark.parametrize("read_ahead", [0, 10**9], ids=["reader-prepares", "writer-prepares"])
def test_history_rows_prepared_on_either_side_of_the_pipe_are_alike(
    monkeypatch: pytest.MonkeyPatch, read_ahead: int
) -> None:
    # The reader process prepares history rows only while the writer has chunks waiting; the
    # writer prepares the others as they come. Either way the same items, in the same order.
    monkeypatch.setattr(sync_runner, "_READ_AHEAD", read_ahead)
    monkeypatch.setattr(sync_runner, "_SELF_BOUND", 0.0)  # (however busy the reader is)
    test_read_ahead_gives_every_item_in_order_prepared(in_process)


class _Turns:
    """``time`` for the reader process, whose reading thread seems busy one chunk, waiting
    the next: the chunks alternate between prepared by the reader and by the writer."""

    def __init__(self) -> None:
        self.calls = 0

    def perf_counter(self) -> float:
        return float(self.calls)

    def thread_time(self) -> float:
        self.calls += 1
        return float(self.calls // 2 * 2)  # a whole second of work, then none

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.mark.parametrize("fail_at", [None, 2000, 4321])
def test_chunks_prepared_on_alternate_sides_come_in_order_and_alike(
    monkeypatch: pytest.MonkeyPatch, fail_at: int | None
) -> None:
    monkeypatch.setattr(sync_runner, "_READ_AHEAD", 10**9)  # (only the reader's work decides)
    monkeypatch.setattr(sync_runner, "time", _Turns())
    tags: list[str] = []
    loads = sync_runner.pickle.loads

    def spy(data: bytes) -> Any:
        message = loads(data)
        if type(message) is tuple and message[0] in ("items", "read"):
            tags.append(message[0])
        return message

    monkeypatch.setattr(sync_runner.pickle, "loads", spy)
    got: list[Prepared] = []
    with (
        pytest.raises(OSError, match="connection reset") if fail_at else nullcontext(),
        in_process(records(9000, fail_at=fail_at)) as items,
    ):
        got.extend(items)

    expected = [prepare_history(r) if isinstance(r, SourceRecord) else r for r in records(9000)]
    assert len(got) < len(expected) if fail_at else len(got) == len(expected)
    assert [(*r[:9], r.fields_json) for r in got if isinstance(r, HistoryRecord)] == [
        (*r[:9], r.fields_json) for r in expected[: len(got)] if isinstance(r, HistoryRecord)
    ]
    assert [r for r in got if not isinstance(r, HistoryRecord)] == [
        r for r in expected[: len(got)] if not isinstance(r, HistoryRecord)
    ]
    assert "items" in tags, tags
    assert "read" in tags, tags


@both
def test_read_ahead_raises_the_reader_error_after_the_items_before_it(ahead: Ahead) -> None:
    got: list[Prepared] = []

    def drain() -> None:
        with ahead(records(5000, 4321)) as items:
            got.extend(items)

    with pytest.raises(OSError, match="connection reset"):
        drain()
    assert [r.source_id for r in got if isinstance(r, HistoryRecord)] == [
        f"O{i}" for i in range(4321)
    ]


def test_read_ahead_stops_and_closes_the_reader_when_left_early() -> None:
    closed = threading.Event()
    ahead = _ReadAhead(records(100_000, closed=closed))
    with ahead as items:
        next(items)

    assert closed.is_set()  # the connector's own clean-up ran before the block was left
    assert not ahead._thread.is_alive()


def test_a_reader_process_left_early_is_stopped() -> None:
    ahead = _ReadAheadProcess("crm", lambda: None, records(10_000_000))
    with ahead as items:
        next(items)

    assert ahead._process.exitcode is not None


def test_a_reader_process_error_that_cannot_travel_is_named() -> None:
    class UnpicklableError(Exception):  # local: pickle cannot find it again
        pass

    def failing() -> Iterator[Item]:
        yield from records(10)
        raise UnpicklableError("the tap said no")

    with (
        pytest.raises(ConnectorError, match="UnpicklableError: the tap said no"),
        _ReadAheadProcess("crm", lambda: None, failing()) as items,
    ):
        list(items)


def test_a_reader_process_that_dies_is_one_clear_error() -> None:
    def dying() -> Iterator[Item]:
        yield from records(10)
        os._exit(3)  # what an OOM kill or a crash in a driver looks like from here

    with (
        pytest.raises(ConnectorError, match=r"process reading crm stopped unexpectedly .*code 3"),
        _ReadAheadProcess("crm", lambda: None, dying()) as items,
    ):
        list(items)


def test_a_reader_process_runs_the_connector_hook_first() -> None:
    hooked: list[bool] = []  # the child's copy: what the reader sees there

    def reader() -> Iterator[Item]:
        yield SourceRecord("crm", "O1", RecordKind.INTERACTION, {"hooked": bool(hooked)})

    with _ReadAheadProcess("crm", lambda: hooked.append(True), reader()) as items:
        (first,) = list(items)

    assert isinstance(first, HistoryRecord)
    assert json.loads(first.fields_json) == {"hooked": True}
    assert not hooked  # and only there


def test_a_reader_process_error_keeps_where_it_happened() -> None:
    def parse_row(row: int) -> SourceRecord:
        raise KeyError(f"column 'client' missing at row {row}")

    def reader() -> Iterator[Item]:
        yield from records(10)
        yield parse_row(11)

    with (
        pytest.raises(KeyError, match="column 'client'") as raised,
        _ReadAheadProcess("crm", lambda: None, reader()) as items,
    ):
        list(items)
    assert "in parse_row" in str(raised.value.__cause__)


PARENT = """
import os, signal, sys
from customer_card.services.sync_runner import _ReadAheadProcess
from sync.records import RecordKind, SourceRecord

def endless():
    n = 0
    while True:
        n += 1
        yield SourceRecord("crm", f"O{n}", RecordKind.INTERACTION, {"n": n})

ahead = _ReadAheadProcess("crm", lambda: None, endless())
items = ahead.__enter__()
next(items)
print(ahead._process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def alive(pid: int) -> bool:
    return not gone(pid)  # (a zombie is gone, only not reaped)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the reader process is Linux's")
def test_a_reader_process_dies_with_a_killed_sync(tmp_path: Path) -> None:
    # A killed `sync run` must not leave its reader holding the source's connection.
    script = tmp_path / "parent.py"
    script.write_text(PARENT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


HISTORY_INDEXES = {
    "ix_interaction_timeline",
    "ix_interaction_record",
    "ix_interaction_open",
    "ix_interaction_channel",
}


def history_indexes(database: Database) -> set[str]:
    with database.read() as session:
        rows = session.connection().exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'interaction' "
            "AND sql IS NOT NULL"
        )
        return {str(name) for (name,) in rows}


def test_a_first_history_load_builds_its_indexes_at_the_end(
    database: Database, tmp_path: Path
) -> None:
    expected = HISTORY_INDEXES
    assert history_indexes(database) == expected
    sources = load_sources(write_exports(tmp_path, clients=3, visits=40))
    ingest = IngestService(database, batch_size=10)
    during: list[set[str]] = []

    def progress(p: SyncProgress) -> None:
        if p.stream == "visits" and p.read:
            during.append(history_indexes(database))

    summary = SyncRunner(database, ingest, lambda name: "").run(
        sources.select(None), progress=progress
    )

    assert summary.ok
    assert count(database, m.Interaction) == 40
    assert len(during) > 1
    # Loaded without them, batch after batch, but for the one every card reads through.
    assert all(d == {"ix_interaction_timeline"} for d in during)
    assert history_indexes(database) == expected
    # A history that is not empty keeps its indexes up to date row by row.
    with ingest.history_load():
        assert history_indexes(database) == expected


def test_a_first_load_that_fails_or_is_killed_gets_its_indexes_back(
    database: Database, tmp_path: Path
) -> None:
    expected = HISTORY_INDEXES
    ingest = IngestService(database)
    seen: list[set[str]] = []

    def failing_load() -> None:
        with ingest.history_load():
            seen.append(history_indexes(database))
            raise RuntimeError("connector failed")

    with pytest.raises(RuntimeError):
        failing_load()
    assert seen == [{"ix_interaction_timeline"}]
    assert history_indexes(database) == expected

    # Killed during the load: nothing runs after it; the next sync run builds them first.
    loading = ingest.history_load()
    loading.__enter__()
    assert history_indexes(database) == {"ix_interaction_timeline"}
    sources = load_sources(write_exports(tmp_path, clients=3, visits=0))
    SyncRunner(database, ingest, lambda name: "").run(sources.select(None))
    assert history_indexes(database) == expected


def test_a_connector_that_breaks_while_set_up_fails_its_source_only(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_exports(tmp_path, clients=3, visits=4)
    text = SOURCES + SOURCES.replace("sources.shop", "sources.broken")
    (tmp_path / "sources.toml").write_text(text, encoding="utf-8")
    from sync import csv_source

    built = csv_source.CsvConnector.__init__

    def init(self: csv_source.CsvConnector, config: Any) -> None:
        if config.name == "broken":  # a connector's bug, not a ConnectorError
            raise KeyError("directory")
        built(self, config)

    monkeypatch.setattr(csv_source.CsvConnector, "__init__", init)
    runner = SyncRunner(database, IngestService(database), lambda name: "")
    summary = runner.run(load_sources(tmp_path / "sources.toml").select(None))

    assert summary.errors == {"broken": "unexpected KeyError: 'directory'"}
    assert {(p.source, p.stream): p.inserted for p in summary.passes} == {
        ("shop", "customers"): 3,
        ("shop", "visits"): 4,
    }


def test_a_ctrl_c_let_through_as_the_fork_ends_leaves_no_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # forking() holds Ctrl+C during the fork and lets it through as it ends: after the
    # reader started, before the caller has it. The reader must not outlive that.
    from contextlib import contextmanager

    from customer_card.services import sync_runner

    @contextmanager
    def interrupted_at_the_end() -> Iterator[None]:
        yield
        raise KeyboardInterrupt

    monkeypatch.setattr(sync_runner, "forking", interrupted_at_the_end)
    ahead = _ReadAheadProcess("crm", lambda: None, records(5))
    with pytest.raises(KeyboardInterrupt):
        ahead.__enter__()
    assert ahead._process.pid is not None
    assert not alive(ahead._process.pid)
    assert ahead._process.exitcode is not None
