"""A source's first load files its customer records unlinked past ``first_load.DEFER_MIN`` and
links them at the end of its pass: the sync leaves the cache a sync linking each record as it
comes leaves, also when it is stopped or killed during the load and run again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from customer_card.services import first_load
from customer_card.services.demo_files import export_demo
from customer_card.services.sync_runner import SyncProgress
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.keys import KdfCost, Keychain
from sync.connector import CancelToken
from sync.sources import SourcesFile, load_sources
from tests.helpers.cache_snapshot import by_person
from tests.sync.conftest import make_runner

PASSPHRASE = "first load passphrase"


@pytest.fixture
def second(tmp_path: Path, keychain: Keychain) -> Iterator[Database]:
    opened = open_cache(tmp_path / "second.db", keychain, create=True, kdf_cost=KdfCost.minimal())
    yield opened.database
    opened.database.dispose()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("exports")
    export_demo(directory, customers=250, seed=13)
    return directory


def sources_of(exports: Path) -> SourcesFile:
    return load_sources(exports / "sources.toml")


def inline(database: Database, exports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(first_load, "DEFER_MIN", 10**9)
        summary = make_runner(database).run(sources_of(exports).select(None))
    assert summary.ok, summary.errors
    assert sum(p.linking_seconds for p in summary.passes) == 0


def pending(database: Database) -> int:
    with database.read() as session:
        query = select(func.count()).select_from(m.Customer).where(m.Customer.status == "pending")
        return int(session.scalar(query) or 0)


def test_a_first_sync_linked_at_the_end_of_each_load_is_the_one_linked_as_it_comes(
    database: Database, second: Database, exports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline(database, exports, monkeypatch)
    monkeypatch.setattr(first_load, "DEFER_MIN", 20)
    seen: list[SyncProgress] = []

    summary = make_runner(second).run(sources_of(exports).select(None), progress=seen.append)

    assert summary.ok, summary.errors
    linking = [p for p in seen if p.linking]
    assert len(linking) == 3  # each source's customers (the cache grows: later ones defer later)
    assert linking[0].read > linking[2].read > 0
    assert sum(p.linking_seconds for p in summary.passes) > 0
    assert pending(second) == 0
    assert by_person(second) == by_person(database)


def test_a_first_load_stopped_before_its_end_is_linked_by_the_next_run(
    database: Database, second: Database, exports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline(database, exports, monkeypatch)
    monkeypatch.setattr(first_load, "DEFER_MIN", 20)
    token = CancelToken()

    def stop_in_the_second_load(p: SyncProgress) -> None:
        if p.stream == "customers" and p.source == "eshop" and p.read >= 60 and not p.linking:
            token.cancel()

    runner = make_runner(second, batch_size=30)
    stopped = runner.run(
        sources_of(exports).select(None), progress=stop_in_the_second_load, cancel=token
    )
    assert stopped.cancelled
    assert pending(second) > 0  # filed, not linked: out of search until then

    summary = runner.run(sources_of(exports).select(None))

    assert summary.ok, summary.errors
    assert pending(second) == 0
    assert by_person(second) == by_person(database)


@pytest.mark.slow
def test_a_first_load_killed_before_its_end_is_linked_by_the_next_run(
    tmp_path: Path, exports: Path
) -> None:
    # In a process of its own, killed (SIGKILL) while it files records unlinked.
    sources = exports / "sources.toml"
    env = {**os.environ, "CUSTOMER_CARD_PASSPHRASE": PASSPHRASE}

    def command(db: Path) -> list[str]:
        script = (
            "import sys; from customer_card.services import first_load; "
            "first_load.DEFER_MIN = 20; from customer_card import cli; "
            "sys.exit(cli.main(sys.argv[1:]))"
        )
        args = ["--db", str(db), "--sources", str(sources), "sync", "run"]
        return [sys.executable, "-c", script, *args]

    killed = tmp_path / "killed.db"
    process = subprocess.Popen(
        command(killed), env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert process.stderr is not None
    for line in process.stderr:
        found = re.match(r"progress crm/customers: ([\d,]+) records", line)
        if found and int(found[1].replace(",", "")) >= 100:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=120)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    def database(path: Path) -> Database:
        return open_cache(path, None, Unlock(passphrase=PASSPHRASE)).database

    partial = database(killed)
    try:
        assert pending(partial) > 0
    finally:
        partial.dispose()
    for path in (killed, tmp_path / "clean.db"):
        done = subprocess.run(
            command(path), env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, done.stderr
    resumed, clean = database(killed), database(tmp_path / "clean.db")
    try:
        assert pending(resumed) == 0
        assert by_person(resumed) == by_person(clean)
    finally:
        resumed.dispose()
        clean.dispose()
