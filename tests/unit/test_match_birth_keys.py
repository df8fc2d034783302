"""The birth date block keys (``dp:`` with the postcode, ``dg:`` with the given name's sound):
which records get them, placeholder dates that get none, and a cache filed with the older
blocking that gets them when it is opened (migration 0011), so that inline matching meets its
records through them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from customer_card.matching.blocking import block_keys, placeholder_birth
from customer_card.matching.profile import Profile, profile_of
from customer_card.services.ingest import IngestService
from customer_card.services.matching import MatchService
from customer_card.store import migrate
from customer_card.store.cache import open_cache
from customer_card.store.database import Database
from customer_card.store.keys import Keychain
from customer_card.store.match_store import MatchStore
from tests.helpers.match_index import inline_candidates
from tests.unit.merge_people import Clock, customer


def profile(**fields: str) -> Profile:
    return profile_of(fields, "FR")


def birth_keys(p: Profile) -> list[str]:
    return sorted(k for k in block_keys(p) if k.startswith(("dp:", "dg:")))


JOCELYNE: dict[str, Any] = {
    "given_name": "Jocelyne",
    "family_name": "Michu",
    "birth_date": "1961-04-03",
    "postcode": "75011",
    "street": "12 rue Oberkampf",
    "city": "Paris",
}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ["dg:1961-04-03:JSLN", "dp:1961-04-03:75011"]),
        # A record with a given name only: no name-based key at all, these two remain.
        ({"family_name": ""}, ["dg:1961-04-03:JSLN", "dp:1961-04-03:75011"]),
        ({"postcode": ""}, ["dg:1961-04-03:JSLN"]),
        ({"given_name": ""}, ["dp:1961-04-03:75011"]),
        ({"given_name": "J."}, ["dp:1961-04-03:75011"]),  # an initial says too little
        ({"given_name": "", "postcode": ""}, []),
        ({"birth_date": ""}, []),
        ({"birth_date": "not a date"}, []),
        # Two readings (3 April or 4 March): the first only.
        ({"birth_date": "03/04/1961"}, ["dg:1961-04-03:JSLN", "dp:1961-04-03:75011"]),
    ],
)
def test_birth_keys_of_a_record(fields: dict[str, str], expected: list[str]) -> None:
    assert birth_keys(profile(**{**JOCELYNE, **fields})) == expected


@pytest.mark.parametrize(
    ("day", "placeholder"),
    [
        (date(1900, 1, 1), True),  # the commonest stand-ins
        (date(1970, 1, 1), True),
        (date(2000, 1, 1), True),
        (date(1961, 1, 1), True),  # a year known alone
        (date(1899, 12, 31), True),  # spreadsheet epochs
        (date(1899, 12, 30), True),
        (date(1753, 6, 15), True),  # older than any living customer
        (date(9999, 12, 31), True),
        (date(1961, 4, 3), False),
        (date(1900, 1, 2), False),
        (date(1961, 12, 31), False),
        (date(2024, 2, 29), False),
    ],
)
def test_placeholder_birth_dates(day: date, placeholder: bool) -> None:
    assert placeholder_birth(day) is placeholder


@pytest.mark.parametrize(
    "birth", ["1900-01-01", "01/01/1970", "19000101", "1899-12-31", "9999-12-31"]
)
def test_placeholder_dates_make_no_birth_key(birth: str) -> None:
    p = profile(**{**JOCELYNE, "birth_date": birth})
    assert birth_keys(p) == []
    # The keys that carry the names as well still hold the date.
    assert any(k.startswith("d:") for k in block_keys(p)) == bool(p.births)


# --- a cache filed with the older blocking ------------------------------------------------------


MARRIED: dict[str, Any] = {
    **JOCELYNE,
    "family_name": "Dupont",
}  # her new family name: no name key in common


def _keys(database: Database) -> dict[int, set[str]]:
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, key FROM match_key")).all()
    out: dict[int, set[str]] = defaultdict(set)
    for seq, key in rows:
        out[int(seq)].add(str(key))
    return out


def _computed(database: Database) -> dict[int, set[str]]:
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, profile FROM match_record")).all()
    return {int(seq): set(block_keys(Profile.from_json(p))) for seq, p in rows}


def _as_before_0011(database: Database) -> None:
    """What a cache written by the previous version holds: no birth date keys, revision 0010."""
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM match_key WHERE key LIKE 'dp:%' OR key LIKE 'dg:%'"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0010'"))


def test_an_old_cache_gets_the_birth_keys_when_opened(
    cache_path: Path, keychain: Keychain, database: Database, clock: Clock
) -> None:
    IngestService(database, clock=clock).ingest(
        [
            customer("crm", "A", **JOCELYNE),
            customer("crm", "B", given_name="Paul", family_name="Martin", birth_date="1970-01-01"),
            customer("shop", "C", given_name="Luc", postcode="69003", birth_date="1988-07-14"),
        ]
    )
    assert _keys(database) == _computed(database)
    _as_before_0011(database)
    assert not any(k.startswith(("dp:", "dg:")) for ks in _keys(database).values() for k in ks)
    # Filed before the upgrade, the record is out of reach of the new one's keys.
    assert inline_candidates(database, MARRIED) == set()
    database.dispose()

    opened = open_cache(cache_path, keychain)
    upgraded = opened.database
    try:
        assert migrate.current_revision(upgraded.engine) == migrate.head_revision()
        assert _keys(upgraded) == _computed(upgraded)
        assert inline_candidates(upgraded, MARRIED) == {("crm", "A")}

        # Inline matching of the new record meets the old one, and ``match run`` agrees.
        IngestService(upgraded, clock=clock).ingest([customer("shop", "D", **MARRIED)])
        with upgraded.read() as session:
            store = MatchStore(session)
            customers = store.record_customers()
            pending = {(s.customer_a, s.customer_b) for s in store.suggestions("pending")}
        jocelyne = {customers[("crm", "A")], customers[("shop", "D")]}
        assert len(jocelyne) == 1 or (min(jocelyne), max(jocelyne)) in pending
        report = MatchService(upgraded, clock=clock).run()
        assert (report.merges, report.suggestions, report.would_split) == (0, 0, 0)
    finally:
        upgraded.dispose()


def test_the_birth_keys_migration_runs_again_harmlessly_and_downgrades(
    database: Database, clock: Clock
) -> None:
    IngestService(database, clock=clock).ingest(
        [customer("crm", "A", **JOCELYNE), customer("crm", "B", **MARRIED)]
    )
    before = _keys(database)
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
    assert _keys(database) == {
        seq: {k for k in keys if not k.startswith(("dp:", "dg:"))} for seq, keys in before.items()
    }
    migrate.upgrade(database.engine)
    assert _keys(database) == before
