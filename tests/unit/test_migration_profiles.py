"""Profiles an earlier version stored (its reading of a record's fields) are read again when
the cache is opened (migration 0012): the match index then holds what this version reads, and
inline matching meets the record through its new keys."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from customer_card.matching.blocking import block_keys
from customer_card.matching.profile import Profile
from customer_card.services.ingest import IngestService
from customer_card.services.matching import MatchService
from customer_card.store import migrate
from customer_card.store.cache import open_cache
from customer_card.store.database import Database
from customer_card.store.keys import Keychain
from sync.records import RecordKind, SourceRecord
from tests.helpers.match_index import inline_candidates
from tests.unit.merge_people import Clock, customer

# How revision 0011's normalisation read 'Xavier Le Roux': the particle with the given name.
OLD_READING = Profile(
    "xavier le", "roux", (), ("xavier24@free.fr",), (), (), (), "75011", "paris", "", ("xavier",)
)


def _index(database: Database) -> dict[int, tuple[str, set[str]]]:
    with database.engine.connect() as conn:
        profiles = dict(conn.execute(text("SELECT seq, profile FROM match_record")).all())
        keys = conn.execute(text("SELECT seq, key FROM match_key")).all()
    held: dict[int, set[str]] = defaultdict(set)
    for seq, key in keys:
        held[int(seq)].add(str(key))
    return {int(seq): (str(p), held[int(seq)]) for seq, p in profiles.items()}


def _as_filed_by_0011(database: Database, seq: int) -> None:
    with database.engine.begin() as conn:
        conn.execute(
            text("UPDATE match_record SET profile = :p WHERE seq = :s"),
            {"p": OLD_READING.to_json(), "s": seq},
        )
        conn.execute(text("DELETE FROM match_key WHERE seq = :s"), {"s": seq})
        for key in block_keys(OLD_READING):
            conn.execute(
                text("INSERT INTO match_key (key, seq) VALUES (:k, :s)"), {"k": key, "s": seq}
            )
        conn.execute(text("UPDATE alembic_version SET version_num = '0011'"))


def test_an_old_reading_of_a_records_fields_is_replaced_when_the_cache_is_opened(
    cache_path: Path, keychain: Keychain, database: Database, clock: Clock
) -> None:
    IngestService(database, clock=clock).ingest(
        [
            customer(
                "crm", "A", full_name="Xavier Le Roux", email="xavier24@free.fr", postcode="75011"
            ),
            customer("crm", "B", given_name="Paul", family_name="Martin", birth_date="1970-01-01"),
        ]
    )
    current = _index(database)
    (seq,) = [s for s, (p, _) in current.items() if "xavier" in p]
    assert Profile.from_json(current[seq][0]).family == "le roux"
    _as_filed_by_0011(database, seq)
    # Filed the old way, the record is out of reach of a later 'X. Le Roux' at its postcode.
    later = {"full_name": "X. LE ROUX", "email": "x.leroux@orange.fr", "postcode": "75011"}
    assert inline_candidates(database, later) == set()
    database.dispose()

    opened = open_cache(cache_path, keychain)
    upgraded = opened.database
    try:
        assert migrate.current_revision(upgraded.engine) == migrate.head_revision()
        assert _index(upgraded) == current  # the other record untouched, this one read anew
        assert inline_candidates(upgraded, later) == {("crm", "A")}
        report = MatchService(upgraded, clock=clock).run()
        assert (report.merges, report.would_split) == (0, 0)
    finally:
        upgraded.dispose()


def test_the_profiles_migration_leaves_a_current_index_as_it_is(
    database: Database, clock: Clock
) -> None:
    IngestService(database, clock=clock).ingest(
        [
            customer("crm", "A", full_name="Anne-Marie Maillard", birth_date="12/03/1961"),
            customer("shop", "B", full_name="A-M Maillard", phone="06 12 34 56 78"),
            customer("social", "C", full_name="jocelyne_michu", twitter="@jmichu"),
            customer("crm", "D", full_name="Paul Martin", phone="01 42 00 00 00"),
        ]
    )
    # A tombstone (a sweep's, without fields) keeps what its record was indexed with.
    tombstone = SourceRecord("crm", "D", RecordKind.CUSTOMER, {}, deleted=True)
    IngestService(database, clock=clock).ingest([tombstone])
    before = _index(database)
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    migrate.upgrade(database.engine)
    assert _index(database) == before


def test_customers_whose_records_were_all_deleted_are_marked_when_the_cache_is_opened(
    cache_path: Path, keychain: Keychain, database: Database, clock: Clock
) -> None:
    # (Migration 0013: ingest marks them since; a cache from before held them 'active'.)
    ingest = IngestService(database, clock=clock)
    ingest.ingest(
        [
            customer("crm", "A", given_name="Paul", family_name="Martin", birth_date="1970-01-01"),
            customer("crm", "B", given_name="Lise", family_name="Morel", birth_date="1981-02-03"),
        ]
    )
    ingest.ingest([SourceRecord("crm", "A", RecordKind.CUSTOMER, {}, deleted=True)])
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE customer SET status = 'active'"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0012'"))
    database.dispose()

    upgraded = open_cache(cache_path, keychain).database
    try:
        with upgraded.engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT family_name, status FROM customer")).all())
        assert statuses == {"Martin": "deleted", "Morel": "active"}
    finally:
        upgraded.dispose()


@pytest.mark.parametrize(
    ("status", "before"),
    [
        ("cancelled", "0013"),
        # (Migration 0016: 0014 read statuses with SQLite's lower(), which leaves the É.)
        ("ANNULÉE", "0013"),
        ("ANNULÉE", "0015"),  # a cache 0014 re-totalled already, counting it
    ],
)
def test_value_figures_leave_out_cancelled_orders_when_the_cache_is_opened(
    cache_path: Path, keychain: Keychain, database: Database, clock: Clock, status: str, before: str
) -> None:
    # (Migration 0014: a cache from before counted them in the value, order count and last
    # purchase; its figures are re-totalled as ingest counts them now.)
    def order(source_id: str, day: int, amount: str, status: str) -> SourceRecord:
        fields = {
            "customer_ref": "A",
            "channel": "web",
            "kind": "order",
            "occurred_at": f"2026-02-0{day}T10:00:00+00:00",
            "amount": amount,
            "status": status,
        }
        return SourceRecord("crm", source_id, RecordKind.INTERACTION, fields)

    ingest = IngestService(database, clock=clock)
    ingest.ingest(
        [
            customer("crm", "A", given_name="Paul", family_name="Martin", birth_date="1970-01-01"),
            customer("crm", "B", given_name="Lise", family_name="Morel", birth_date="1981-02-03"),
            order("O1", 1, "40", "closed"),
            order("O2", 2, "25", status),
        ]
    )
    with database.engine.begin() as conn:  # the figures as the old count left them
        conn.execute(
            text(
                "UPDATE customer SET lifetime_value_cents = 6500, order_count = 2, "
                "last_purchase_at = '2026-02-02 10:00:00' WHERE family_name = 'Martin'"
            )
        )
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": before})
    database.dispose()

    upgraded = open_cache(cache_path, keychain).database
    try:
        with upgraded.engine.connect() as conn:
            figures = conn.execute(
                text(
                    "SELECT family_name, lifetime_value_cents, order_count, last_purchase_at "
                    "FROM customer ORDER BY family_name"
                )
            ).all()
        assert [tuple(f) for f in figures] == [
            ("Martin", 4000, 1, "2026-02-01 10:00:00.000000"),
            ("Morel", 0, 0, None),
        ]
    finally:
        upgraded.dispose()
