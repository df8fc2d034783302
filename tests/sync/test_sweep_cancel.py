"""Closing the window while a full extract's ids are listed again (a second whole read of the
source) stops the listing: nothing is marked deleted, and the next run reads the extract again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from customer_card.services.sync_runner import SyncProgress
from customer_card.store.database import Database
from sync.connector import CancelToken
from sync.csv_source import CsvConnector
from tests.sync.conftest import make_runner, write_sources
from tests.sync.test_csv_bad_input import GOOD, HEADER, SOURCES, records


def test_a_cancel_stops_the_listing_of_a_resumed_extract(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clients.csv").write_text(HEADER + "".join(GOOD), encoding="utf-8")
    sources = write_sources(tmp_path, SOURCES).select(None)

    # A first run stopped after its first row and its checkpoint (a batch each): the next one
    # resumes, and its sweep must list the file's ids again (its pass saw the rows after).
    first = CancelToken()
    batches: list[SyncProgress] = []

    def stop(progress: SyncProgress) -> None:
        batches.append(progress)
        if len(batches) == 2:
            first.cancel()

    assert make_runner(database, batch_size=1).run(sources, progress=stop, cancel=first).cancelled

    listed: list[str] = []
    second = CancelToken()
    ids = CsvConnector.ids

    def listing(self: CsvConnector, name: str) -> Iterator[str]:
        for sid in ids(self, name):
            listed.append(sid)
            second.cancel()  # the window closes while the ids are listed
            yield sid

    monkeypatch.setattr(CsvConnector, "ids", listing)
    stopped = make_runner(database).run(sources, cancel=second)
    assert stopped.cancelled
    assert len(listed) < 4, "the listing stopped at the cancel"
    assert not any(deleted for _, deleted in records(database).values())

    monkeypatch.undo()
    again = make_runner(database).run(sources)
    assert again.ok, again.errors
    assert sorted(records(database)) == ["1", "2", "3", "4"]
    assert not any(deleted for _, deleted in records(database).values())
