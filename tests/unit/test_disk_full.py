"""A cache that cannot grow (a full disk): one clear error, the transaction rolled back whole,
the sync stopped (not only its source), and a run after space is freed ending exactly where a
run that never ran out of room does. The full disk is SQLite's own: see ``tests.helpers.disk``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from customer_card import cli
from customer_card.services.ingest import IngestService
from customer_card.services.sync_runner import SyncRunner
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.errors import CacheFullError
from customer_card.store.ingest_store import IngestStore
from customer_card.store.keys import KdfCost
from customer_card.store.sync_store import SyncStore
from sync.sources import load_sources
from tests.helpers.disk import cache_growth_limit, without_free_pages

PASSPHRASE = "disk full passphrase"
SOURCES = """
[sources.shop]
type = "csv"
checkpoint_every = 7

[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
email = "email"
birth_date = { column = "naissance", date = "%d/%m/%Y" }

[sources.shop.streams.visits]
kind = "interaction"
file = "visits.csv"
id = "id"
[sources.shop.streams.visits.fields]
customer_ref = "client"
occurred_at = { column = "date", datetime = "iso" }
amount = { column = "montant", decimal = "," }

[sources.crm]
type = "csv"
checkpoint_every = 5

[sources.crm.streams.contacts]
kind = "customer"
file = "contacts.csv"
id = "ref"
[sources.crm.streams.contacts.fields]
given_name = "first"
family_name = "last"
email = "mail"
"""

FULL_MESSAGE = "The disk is full: nothing of the change in progress was saved."


def write_exports(directory: Path, clients: int = 300, visits: int = 1500) -> Path:
    rows = ["id;prenom;nom;email;naissance"]
    rows += [
        f"{n};Prénom{n};Nom{n};p{n}@mail.fr;{'31/02/1980' if n % 97 == 5 else '01/02/1990'}"
        for n in range(clients)
    ]
    (directory / "clients.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    rows = ["id;client;date;montant"]
    rows += [
        f"V{n};{n % clients};2026-01-{1 + n % 28:02d}T10:00:00+01:00;{n % 50},50"
        for n in range(visits)
    ]
    (directory / "visits.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    rows = ["ref;first;last;mail"]
    # A third of the shop's customers, and as many more of the CRM's own.
    rows += [f"K{n};Prénom{n};Nom{n};p{n}@mail.fr" for n in range(0, clients * 2, 3)]
    (directory / "contacts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    path = directory / "sources.toml"
    path.write_text(SOURCES, encoding="utf-8")
    return path


def snapshot(database: Database) -> dict[str, Any]:
    """What the cache holds, without its row ids (which differ between two histories)."""
    with database.read() as session:
        records = session.execute(
            select(
                m.SourceRecord.customer_id,
                m.SourceRecord.source,
                m.SourceRecord.source_id,
                m.SourceRecord.content_hash,
                m.SourceRecord.deleted,
            )
        ).all()
        people: dict[int, set[tuple[str, str]]] = {}
        for customer_id, source, source_id, *_ in records:
            people.setdefault(customer_id, set()).add((source, source_id))
        person = {cid: tuple(sorted(keys)) for cid, keys in people.items()}
        customers = session.execute(
            select(m.Customer.id, m.Customer.lifetime_value_cents).where(
                m.Customer.id.in_(list(person))
            )
        ).all()
        interactions = session.execute(
            select(
                m.Interaction.customer_id,
                m.Interaction.source,
                m.Interaction.source_id,
                m.Interaction.content_hash,
                m.Interaction.deleted,
            )
        ).all()
        quarantine = session.execute(
            select(m.Quarantine.source, m.Quarantine.source_id, m.Quarantine.reason).where(
                m.Quarantine.resolved_at.is_(None)
            )
        ).all()
        states = session.execute(
            select(m.SyncState.source, m.SyncState.stream, m.SyncState.state)
        ).all()
        customer_rows = int(session.scalar(select(func.count()).select_from(m.Customer)) or 0)
    return {
        "records": sorted((person[c], s, i, h, d) for c, s, i, h, d in records),
        "customers": sorted((person[c], value) for c, value in customers),
        "customer_rows": customer_rows,
        "interactions": sorted((person[c], s, i, h, d) for c, s, i, h, d in interactions),
        "quarantine": sorted(tuple(q) for q in quarantine),
        # (When a pass started is not what it read.)
        "states": sorted(
            (s, n, repr(sorted((k, v) for k, v in state.items() if k != "started_at")))
            for s, n, state in states
        ),
    }


def new_cache(path: Path) -> Database:
    return open_cache(
        path, None, Unlock(passphrase=PASSPHRASE), create=True, kdf_cost=KdfCost.minimal()
    ).database


def runner(database: Database) -> SyncRunner:
    return SyncRunner(database, IngestService(database, batch_size=40), lambda name: "")


@pytest.fixture
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a sync of the exports gives when the disk never fills."""
    directory = tmp_path_factory.mktemp("clean")
    database = new_cache(directory / "cache.db")
    try:
        summary = runner(database).run(load_sources(write_exports(directory)).select(None))
        assert summary.ok, summary.errors
        return snapshot(database)
    finally:
        database.dispose()


def test_a_write_that_needs_room_fails_whole_and_the_cache_is_as_before(
    database: Database,
) -> None:
    with database.write() as session:
        IngestStore(session).quarantine([_quarantined(0)])
    with (
        cache_growth_limit(0, database),
        pytest.raises(CacheFullError) as raised,
        database.write() as session,
    ):
        IngestStore(session).quarantine([_quarantined(n) for n in range(1, 2000)])

    assert str(raised.value).startswith(FULL_MESSAGE)
    assert "Free some space and try again" in str(raised.value)
    assert str(database.path) in str(raised.value)
    assert "INSERT" not in str(raised.value), "no SQL (nor the values it carried) is shown"
    with database.read() as session:
        kept = SyncStore(session).quarantined(None, limit=5000)
    assert [q.source_id for q in kept] == ["R0"], "nothing of the failed transaction is kept"
    # Room again: the same connections write.
    with database.write() as session:
        IngestStore(session).quarantine([_quarantined(n) for n in range(1, 2000)])
    with database.read() as session:
        assert len(SyncStore(session).quarantined(None, limit=5000)) == 2000


def _quarantined(n: int) -> dict[str, Any]:
    return {
        "source": "shop",
        "source_id": f"R{n}",
        "kind": "customer",
        "raw": f"row {n} " + "x" * 400,
        "reason": "test",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


# Room for: nothing at all, part of the first source's customers, part of its visits (the
# history loaded without its indexes, rebuilt at the end), part of the second source.
@pytest.mark.parametrize("pages", [0, 12, 120, 240])
def test_a_full_disk_stops_the_sync_and_a_later_run_ends_as_a_clean_one(
    tmp_path: Path, clean: dict[str, Any], pages: int
) -> None:
    sources = load_sources(write_exports(tmp_path)).select(None)
    database = new_cache(tmp_path / "cache.db")
    try:
        before = snapshot(database)
        with cache_growth_limit(pages, database), pytest.raises(CacheFullError) as raised:
            runner(database).run(sources)
        assert str(raised.value).startswith(FULL_MESSAGE)

        stopped = snapshot(database)
        with database.read() as session:
            status = {(s.source, s.stream): s.last_error for s in SyncStore(session).status()}
        # The pass the sync stopped in says why (its previous run is not shown as the last).
        failed = {key: error for key, error in status.items() if error is not None}
        assert list(failed.values()) == [str(raised.value)]
        assert stopped["records"] != clean["records"], "the disk filled before the end"
        if pages == 0:  # (a rejected row may still fit in a page's free room)
            # No position saved: only the status of the pass that stopped.
            states = [s for s in stopped["states"] if s[2] != "[]"]
            assert (stopped["records"], states) == (before["records"], before["states"])

        summary = runner(database).run(sources)  # space freed

        assert summary.ok, summary.errors
        assert snapshot(database) == clean
        with database.read() as session:
            assert IngestStore(session).missing_history_indexes() == []
    finally:
        database.dispose()


def test_the_sync_command_says_the_disk_is_full_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    base = ["--db", str(tmp_path / "cache.db"), "--sources", str(write_exports(tmp_path))]
    new_cache(tmp_path / "cache.db").dispose()

    with cache_growth_limit(30):
        code = cli.main([*base, "sync", "run"])

    out, err = capsys.readouterr()
    assert code == cli.EXIT_ERROR
    lines = [line for line in err.splitlines() if not line.startswith("progress ")]
    assert lines == [lines[0]]
    assert lines[0].startswith(f"customer-card: {FULL_MESSAGE}")
    assert "a sync resumes where it stopped" in lines[0]
    assert "Traceback" not in out + err

    assert cli.main([*base, "sync", "run", "--json"]) == 0
    capsys.readouterr()


def test_match_run_says_the_disk_is_full_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    database = new_cache(tmp_path / "cache.db")
    runner(database).run(load_sources(write_exports(tmp_path)).select(None))
    # A cache from before the match index: the run profiles every record again (writes).
    with database.write() as session:
        session.execute(delete(m.MatchKey))
        session.execute(delete(m.MatchRecord))
    without_free_pages(database)
    database.dispose()
    base = ["--db", str(tmp_path / "cache.db")]

    with cache_growth_limit(0):
        code = cli.main([*base, "match", "run"])

    out, err = capsys.readouterr()
    assert code == cli.EXIT_ERROR
    assert err.splitlines() == [err.splitlines()[0]]
    assert err.startswith(f"customer-card: {FULL_MESSAGE}")
    assert "Traceback" not in out + err
    assert cli.main([*base, "match", "run"]) == 0
    assert "496 newly indexed" in capsys.readouterr().out


def test_a_cache_that_cannot_be_created_for_lack_of_room_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    cache = tmp_path / "new" / "cache.db"
    base = ["--db", str(cache), "--sources", str(write_exports(tmp_path))]

    with cache_growth_limit(20):  # less than the schema needs
        code = cli.main([*base, "sync", "run"])

    out, err = capsys.readouterr()
    assert code == cli.EXIT_ERROR
    assert err.startswith(f"customer-card: {FULL_MESSAGE}")
    assert err.count("\n") == 1
    assert "Traceback" not in out + err
    assert list(cache.parent.iterdir()) == [], "no half-made cache left"
    assert cli.main([*base, "sync", "run"]) == 0


class _ProbeRollbackError(Exception):
    """Rolls a trial write back."""


def _status_row_fits(database: Database) -> bool:
    """Whether, with no room to grow, the status row a failure of shop/customers writes still
    fits in the room the cache has (a shorter message than the sync's: if it does not fit,
    that one does not either)."""
    try:
        with cache_growth_limit(0, database), database.write() as session:
            SyncStore(session).record_outcome(
                "shop", "customers", datetime(2026, 1, 1, tzinfo=UTC), "x" * 100
            )
            raise _ProbeRollbackError
    except _ProbeRollbackError:
        return True
    except CacheFullError:
        return False


def test_when_the_status_cannot_be_saved_either_the_message_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    sources = write_exports(tmp_path)
    database = new_cache(tmp_path / "cache.db")
    # Other sources' status rows until the one the failure writes needs a page of its own.
    without_free_pages(database)
    for n in range(500):
        if not _status_row_fits(database):
            break
        with database.write() as session:
            SyncStore(session).record_outcome(
                "other", f"s{n:03d}", datetime(2026, 1, 1, tzinfo=UTC), None
            )
    assert not _status_row_fits(database)
    database.dispose()
    base = ["--db", str(tmp_path / "cache.db"), "--sources", str(sources)]

    with cache_growth_limit(0):
        code = cli.main([*base, "sync", "run"])

    out, err = capsys.readouterr()
    assert code == cli.EXIT_ERROR
    lines = [line for line in err.splitlines() if not line.startswith("progress ")]
    assert lines == [lines[0]], "one message"
    assert lines[0].startswith(f"customer-card: {FULL_MESSAGE}")
    assert lines[0].endswith(
        "The sync status could not be saved either: it still shows the previous run."
    )
    assert "Traceback" not in out + err
    database = open_cache(tmp_path / "cache.db", None, Unlock(passphrase=PASSPHRASE)).database
    try:
        with database.read() as session:
            assert [s.source for s in SyncStore(session).status()] == ["other"] * n
    finally:
        database.dispose()

    assert cli.main([*base, "sync", "run"]) == 0  # space freed: the cache was left sound
    capsys.readouterr()
