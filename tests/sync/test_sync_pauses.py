"""A source that pauses (a tap fetching its next page, slowly) leaves what it sent committed
during the pause, not only once the next batch is read."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_card.services import ingest as ingest_module
from customer_card.services.forking import can_fork
from customer_card.services.ingest import IngestService, _Waiting
from customer_card.services.sync_runner import SyncRunner, SyncSummary, _PassItems, _ReadAhead
from customer_card.store import models as m
from customer_card.store.cache import open_cache
from customer_card.store.database import Database
from customer_card.store.keys import Keychain
from customer_card.store.sync_store import SyncStore
from sync.connector import Cancelled, CancelToken, Rejected
from sync.records import Checkpoint, RecordKind, SourceRecord
from sync.sources import keyring_secrets
from tests.sync.conftest import write_sources

# Pages of customers, the page's state after each; after ``--pages`` pages, the pid in
# ``--pause`` and a long wait (a slow API), then the rest.
PAGING_TAP = """
import argparse, json, os, time

parser = argparse.ArgumentParser()
parser.add_argument("--pages", type=int)
parser.add_argument("--pause")
parser.add_argument("--state")
args = parser.parse_args()
done = 0
if args.state:
    with open(args.state) as handle:
        done = json.load(handle)["page"]

def emit(message):
    print(json.dumps(message), flush=True)

emit({"type": "SCHEMA", "stream": "customers", "schema": {}, "key_properties": ["id"]})
for page in range(done, 4):
    if page == args.pages and args.pause:
        with open(args.pause, "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(120)
    for n in range(page * 5, page * 5 + 5):
        record = {"id": n, "email": f"c{n}@example.fr", "name": f"Client{n} PAGE"}
        emit({"type": "RECORD", "stream": "customers", "record": record})
    emit({"type": "STATE", "value": {"page": page + 1}})
"""

CUSTOMERS = 20


def tap_sources(tmp_path: Path, *flags: str) -> str:
    tap = tmp_path / "paging_tap.py"
    tap.write_text(PAGING_TAP, encoding="utf-8")
    command = json.dumps([sys.executable, str(tap), *flags])
    return f"""
[sources.pages]
type = "singer"
command = {command}

[sources.pages.streams.customers]
kind = "customer"
id = {{ column = "id", type = "str" }}
[sources.pages.streams.customers.fields]
email = "email"
full_name = {{ column = "name", split_name = "given_family" }}
"""


class PauseWatch:
    """From another thread: once the tap pauses, reads the cache through a connection of its
    own (as the window, or a second command, does) until it holds what is expected or 10 s
    have passed, then cancels the sync (the pause is over for the test)."""

    def __init__(
        self, cache_path: Path, keychain: Keychain, pause: Path, expected: tuple[int, Any]
    ) -> None:
        self.cache_path = cache_path
        self.keychain = keychain
        self.pause = pause
        self.expected = expected
        self.token = CancelToken()
        self.seen: tuple[int, Any] | None = None  # customer records, the tap's state
        self.after = 0.0  # seconds into the pause
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        deadline = time.monotonic() + 60
        while not (self.pause.exists() and self.pause.read_text()):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        paused = time.monotonic()
        other = open_cache(self.cache_path, self.keychain).database
        try:
            while self.seen != self.expected and time.monotonic() < paused + 10:
                time.sleep(0.05)
                with other.read() as session:
                    count = session.scalar(select(func.count()).select_from(m.SourceRecord))
                    state = SyncStore(session).state("pages", "tap")
                self.seen = (int(count or 0), state and state.get("singer"))
                self.after = time.monotonic() - paused
        finally:
            other.dispose()
            self.token.cancel()


def runner(database: Database, customer_batch_size: int) -> SyncRunner:
    return SyncRunner(
        database,
        IngestService(database, customer_batch_size=customer_batch_size),
        keyring_secrets(),
    )


def run_again_to_the_end(database: Database, tmp_path: Path, first: SyncSummary) -> None:
    """The next run resumes from the state committed: nothing lost, nothing twice."""
    again = runner(database, 5).run(write_sources(tmp_path, tap_sources(tmp_path)).select(None))
    assert again.ok, again.errors
    assert first.total("inserted") + again.total("inserted") == CUSTOMERS
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(m.SourceRecord)) == CUSTOMERS


@pytest.mark.skipif(not can_fork(), reason="no second process here (no fork, or one core)")
def test_what_waits_is_committed_while_the_source_pauses(
    database: Database, cache_path: Path, keychain: Keychain, tmp_path: Path
) -> None:
    """Two full batches of customers (the second process takes the second), then a page's
    state, then a pause: the second batch waited for the next one, uncommitted, and the
    state with it, for as long as the pause lasted."""
    pause = tmp_path / "tap.pid"
    sources = write_sources(
        tmp_path, tap_sources(tmp_path, "--pages", "2", "--pause", str(pause))
    ).select(None)
    watch = PauseWatch(cache_path, keychain, pause, (10, {"page": 2}))

    # On this (the main) thread: where the second process may be forked.
    summary = runner(database, 5).run(sources, cancel=watch.token)
    watch.thread.join(timeout=30)

    assert summary.cancelled
    assert watch.seen == (10, {"page": 2}), "what the cache held during the pause"
    assert watch.after < 5
    run_again_to_the_end(database, tmp_path, summary)


def test_a_batch_being_filled_is_committed_while_the_source_pauses(
    database: Database, cache_path: Path, keychain: Keychain, tmp_path: Path
) -> None:
    """As the window runs a sync (on a thread of its own, no second process): a page, far
    less than a batch, then a pause."""
    pause = tmp_path / "tap.pid"
    sources = write_sources(
        tmp_path, tap_sources(tmp_path, "--pages", "1", "--pause", str(pause))
    ).select(None)
    watch = PauseWatch(cache_path, keychain, pause, (5, {"page": 1}))
    result: list[SyncSummary] = []
    worker = threading.Thread(
        target=lambda: result.append(runner(database, 500).run(sources, cancel=watch.token))
    )
    worker.start()
    worker.join(timeout=60)
    watch.thread.join(timeout=30)

    (summary,) = result
    assert summary.cancelled
    assert watch.seen == (5, {"page": 1}), "what the cache held during the pause"
    assert watch.after < 5
    run_again_to_the_end(database, tmp_path, summary)


def test_history_read_on_a_thread_reaches_the_ingest_before_the_source_pauses() -> None:
    # An API's page of interactions, its checkpoint, then a slow fetch of the next page:
    # the page is handed on at its checkpoint, not once the reader's chunk is full.
    fetching = threading.Event()
    waited_out: list[bool] = []

    def api() -> Iterator[SourceRecord | Checkpoint]:
        for n in range(3):
            fields = {"customer_ref": "C1", "occurred_at": "2026-11-02T09:00:00+00:00"}
            yield SourceRecord("desk", f"T{n}", RecordKind.INTERACTION, fields)
        yield Checkpoint("desk", "interactions", {"page": 1})
        waited_out.append(not fetching.wait(5))  # (the page reached the ingest meanwhile)
        yield Checkpoint("desk", "interactions", {"page": 2})

    got: list[object] = []
    with _ReadAhead(api()) as feed:
        for item in feed:
            got.append(item)
            if len(got) == 4:
                break
        fetching.set()
    assert waited_out == [False]
    assert [getattr(item, "source_id", None) for item in got] == ["T0", "T1", "T2", None]
    assert isinstance(got[3], Checkpoint)


def _customer(n: int) -> SourceRecord:
    fields = {"email": f"c{n}@example.fr", "given_name": f"Client{n}", "family_name": "PAUSE"}
    return SourceRecord("pages", str(n), RecordKind.CUSTOMER, fields)


def test_a_failure_met_while_the_source_paused_stops_the_reading_at_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the watcher ran during a pause failed (here a cancel from the progress callback):
    the ingest raises it at the source's next item, and reads no further."""
    watchers: list[_Waiting] = []

    class Watched(_Waiting):
        def __enter__(self) -> _Waiting:
            watchers.append(self)
            return super().__enter__()

    monkeypatch.setattr(ingest_module, "_Waiting", Watched)
    after_failure: list[int] = []

    def slow_api() -> Iterator[SourceRecord | Checkpoint]:
        for n in range(3):
            yield _customer(n)
        yield Checkpoint("pages", "customers", {"page": 1})
        # Silent until the watcher has committed page 1 and failed after it (however long
        # that takes on a busy machine), then the next page comes.
        deadline = time.monotonic() + 60
        while not watchers[0].failed and time.monotonic() < deadline:
            time.sleep(0.02)
        for n in range(3, 30):
            after_failure.append(n)
            yield _customer(n)

    def progress(report: object) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        IngestService(database, customer_batch_size=500).ingest(slow_api(), progress)
    assert watchers[0].failed
    assert len(after_failure) <= 1, "items read after the failure"
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(m.SourceRecord)) == 3
        assert SyncStore(session).state("pages", "customers") == {"page": 1}


def test_rejected_rows_wait_their_turn_behind_a_batch_the_watcher_commits(
    cache_path: Path, keychain: Keychain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the connector rejects is kept in quarantine in the transaction of the items
    around it, never by a write of its own: while the watcher commits a long batch (longer
    than the busy timeout), the rejection that comes meanwhile waits for its turn instead of
    failing the pass with 'the cache is busy'."""
    opened = open_cache(cache_path, keychain, create=True, busy_timeout_ms=200)
    database = opened.database
    slow = threading.Event()
    original = ingest_module._Batch.run

    def run(self: Any, batch: list[Any]) -> None:
        original(self, batch)
        if threading.current_thread().name == "ingest-waiting":  # inside its transaction
            slow.set()
            time.sleep(1.0)

    monkeypatch.setattr(ingest_module._Batch, "run", run)

    def api() -> Iterator[Any]:
        for n in range(3):
            yield _customer(n)
        yield Checkpoint("pages", "customers", {"page": 1})
        assert slow.wait(10)  # the watcher is committing page 1, slowly
        yield Rejected("pages", "customers", RecordKind.CUSTOMER, "9", '{"id": 9}', "no name")
        yield Checkpoint("pages", "customers", {"page": 2})
        yield _customer(4)

    runner_ = SyncRunner(database, IngestService(database), keyring_secrets())
    tracker = _PassItems("pages", None)
    try:
        report = runner_.ingest.ingest(tracker.items(api()))
        assert report.total("quarantined") == 1
        assert report.total("inserted") == 4
        with database.read() as session:
            (row,) = session.scalars(select(m.Quarantine)).all()
            assert (row.source_id, row.reason) == ("9", "no name")
            assert SyncStore(session).state("pages", "customers") == {"page": 2}
    finally:
        database.dispose()
