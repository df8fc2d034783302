"""The encrypted cache file: creation, keys, damage, foreign files, migrations, locking."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, select, text

from customer_card.services.ingest import IngestService
from customer_card.store import cache as cache_module
from customer_card.store import migrate
from customer_card.store import models as m
from customer_card.store.cache import MissingCacheError, Unlock, open_cache, slots_path
from customer_card.store.database import Database
from customer_card.store.errors import (
    CacheBusyError,
    CacheNewerError,
    CorruptCacheError,
    MissingKeyError,
    NotACacheError,
    WrongKeyError,
)
from customer_card.store.keys import KdfCost, Keychain, KeySlots
from sync.records import RecordKind, SourceRecord
from tests.conftest import TEST_PASSPHRASE
from tests.helpers.keyring_backends import MemoryKeyring

FAST = KdfCost.minimal()
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SECRET_NAME = "Zéphyrine Quintavalle"
SECRET_EMAIL = "zephyrine.quintavalle@example.org"
OPEN_INDEX = "ix_interaction_open"
CHANNEL_INDEX = "ix_interaction_channel"
SQLCIPHER_SALT_BYTES = 16


def sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def snapshot(*paths: Path) -> dict[Path, tuple[bytes, int]]:
    """Content and modification time of files, to prove a failed open left them alone."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def add_customer(database: Database, given: str = "Ada", family: str = "Lovelace") -> int:
    with database.write() as session:
        result = session.execute(
            insert(m.Customer)
            .values(
                public_id="C0000TEST",
                given_name=given,
                family_name=family,
                vip=False,
                lifetime_value_cents=0,
                order_count=0,
                followers=0,
                status="active",
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(m.Customer.id)
        )
        return int(result.scalar_one())


def customer_names(database: Database) -> list[tuple[str, str]]:
    with database.read() as session:
        rows = session.execute(select(m.Customer.given_name, m.Customer.family_name))
        return [(given, family) for given, family in rows]


def indexes_of(database: Database, table: str) -> set[str]:
    with database.engine.connect() as conn:
        return {row[1] for row in conn.exec_driver_sql(f"PRAGMA index_list({table})")}


def sqlite_stdlib_reads(path: Path) -> subprocess.CompletedProcess[str]:
    """Try to read ``path`` with the standard library's sqlite3, in another process."""
    code = (
        "import sqlite3, sys\n"
        "sqlite3.connect(sys.argv[1]).execute('select * from sqlite_master').fetchall()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def make_plain_sqlite(path: Path) -> None:
    code = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "conn.execute('create table customer (id integer primary key, name text)')\n"
        "conn.execute(\"insert into customer (name) values ('Ada Lovelace')\")\n"
        "conn.commit()\n"
        "conn.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)


def new_database(path: Path, keychain: Keychain | None) -> Database:
    """A cache file and its key slots made by hand, without migrating (``open_cache`` does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = KeySlots.for_cache(path, keychain, kdf_cost=FAST).create()
    return Database(path, created.data_key)


def data_key_of(path: Path, keychain: Keychain) -> bytes:
    return KeySlots.for_cache(path, keychain).unlock()


@pytest.fixture
def closed_cache(cache_path: Path, keychain: Keychain) -> Path:
    """A migrated cache with one customer, closed (no -wal or -shm left)."""
    opened = open_cache(cache_path, keychain, create=True, kdf_cost=FAST)
    add_customer(opened.database)
    opened.database.dispose()
    for sidecar in sidecars(cache_path):
        sidecar.unlink(missing_ok=True)
    return cache_path


# --- creating and re-opening --------------------------------------------------------------------


def test_create_makes_cache_and_private_key_file(cache_path: Path, keychain: Keychain) -> None:
    opened = open_cache(cache_path, keychain, create=True, kdf_cost=FAST)
    try:
        assert opened.created
        assert opened.recovery_code
        assert cache_path.is_file()
        assert slots_path(cache_path) == cache_path.with_name("cache.db.keys")
        assert slots_path(cache_path).is_file()
        if os.name == "posix":
            assert stat.S_IMODE(slots_path(cache_path).stat().st_mode) == 0o600
        assert migrate.current_revision(opened.database.engine) == migrate.head_revision()
        add_customer(opened.database)
    finally:
        opened.database.dispose()

    reopened = open_cache(cache_path, keychain)
    try:
        assert not reopened.created
        assert reopened.recovery_code is None
        assert customer_names(reopened.database) == [("Ada", "Lovelace")]
    finally:
        reopened.database.dispose()


def test_create_on_an_existing_cache_opens_it(closed_cache: Path, keychain: Keychain) -> None:
    keys_before = slots_path(closed_cache).read_bytes()

    opened = open_cache(closed_cache, keychain, create=True, kdf_cost=FAST)
    try:
        assert not opened.created
        assert opened.recovery_code is None
        assert customer_names(opened.database) == [("Ada", "Lovelace")]
    finally:
        opened.database.dispose()
    assert slots_path(closed_cache).read_bytes() == keys_before


def test_recovery_code_opens_the_cache_without_the_keychain(
    cache_path: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    opened = open_cache(cache_path, keychain, create=True, kdf_cost=FAST)
    add_customer(opened.database)
    opened.database.dispose()
    memory_keyring.secrets.clear()

    reopened = open_cache(cache_path, keychain, Unlock(recovery_code=opened.recovery_code))
    try:
        assert customer_names(reopened.database) == [("Ada", "Lovelace")]
    finally:
        reopened.database.dispose()


# --- nothing readable without the key -----------------------------------------------------------


def test_stdlib_sqlite_cannot_read_the_cache(closed_cache: Path) -> None:
    result = sqlite_stdlib_reads(closed_cache)

    assert result.returncode != 0
    assert "file is not a database" in result.stderr


def test_no_personal_data_in_clear_on_disk(cache_path: Path, keychain: Keychain) -> None:
    opened = open_cache(cache_path, keychain, create=True, kdf_cost=FAST)
    given, family = SECRET_NAME.split()
    record = SourceRecord(
        "crm",
        "Z-1",
        RecordKind.CUSTOMER,
        {
            "given_name": given,
            "family_name": family,
            "email": SECRET_EMAIL,
            "phone": "06 12 34 56 78",
            "city": "Besançon",
        },
        updated_at=NOW,
    )
    report = IngestService(opened.database).ingest([record])
    assert report.total("inserted") == 1
    wal, _ = sidecars(cache_path)
    secrets = [
        SECRET_NAME.encode(),
        SECRET_NAME.lower().encode(),
        b"zephyrine",  # the folded form the search index keeps
        b"quintavalle",
        family.encode(),
        SECRET_EMAIL.encode(),
        b"example.org",
    ]

    try:
        assert wal.is_file(), "the test needs data in the WAL"
        assert wal.stat().st_size > 0, "the test needs data in the WAL"
        for path in (cache_path, wal):
            content = path.read_bytes()
            for secret in secrets:
                assert secret not in content, f"{secret!r} in clear in {path.name}"
    finally:
        opened.database.dispose()

    files = [p for p in (cache_path, *sidecars(cache_path)) if p.exists()]
    assert cache_path in files
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret not in content, f"{secret!r} in clear in {path.name} after closing"


# --- key problems -------------------------------------------------------------------------------


def test_wrong_passphrase(cache_path: Path) -> None:
    opened = open_cache(
        cache_path, None, Unlock(passphrase=TEST_PASSPHRASE), create=True, kdf_cost=FAST
    )
    add_customer(opened.database)
    opened.database.dispose()
    before = snapshot(cache_path, slots_path(cache_path))

    with pytest.raises(WrongKeyError) as caught:
        open_cache(cache_path, None, Unlock(passphrase="incorrect horse battery staple"))

    message = str(caught.value)
    assert "passphrase" in message.lower()
    assert "\n" not in message
    assert snapshot(cache_path, slots_path(cache_path)) == before
    assert not any(p.exists() for p in sidecars(cache_path))


def test_keychain_entry_gone_and_no_passphrase(
    closed_cache: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    before = snapshot(closed_cache, slots_path(closed_cache))
    memory_keyring.secrets.clear()

    with pytest.raises(MissingKeyError) as caught:
        open_cache(closed_cache, keychain)

    message = str(caught.value)
    assert "recovery code" in message
    assert "\n" not in message
    assert snapshot(closed_cache, slots_path(closed_cache)) == before
    assert not any(p.exists() for p in sidecars(closed_cache))


# --- damaged and foreign files ------------------------------------------------------------------


def test_damaged_first_page_is_a_corrupt_cache(closed_cache: Path, keychain: Keychain) -> None:
    size = closed_cache.stat().st_size
    assert size > 4096
    with closed_cache.open("r+b") as file:
        # Page 1 holds the schema root: SQLCipher must decrypt (and authenticate) it on open.
        file.seek(SQLCIPHER_SALT_BYTES + 100)
        file.write(b"\x00" * 64)

    with pytest.raises(CorruptCacheError) as caught:
        open_cache(closed_cache, keychain)

    assert "damaged" in str(caught.value)
    assert "\n" not in str(caught.value)
    # The key itself is still right: only the file is damaged.
    KeySlots.for_cache(closed_cache, keychain).unlock()


def test_truncated_cache_is_a_corrupt_cache(closed_cache: Path, keychain: Keychain) -> None:
    # Keep the salt and a torn first page: a crash while copying the file.
    with closed_cache.open("r+b") as file:
        file.truncate(2048)

    with pytest.raises(CorruptCacheError):
        open_cache(closed_cache, keychain)


def test_plain_sqlite_file_is_not_a_cache(cache_path: Path, keychain: Keychain) -> None:
    cache_path.parent.mkdir(parents=True)
    make_plain_sqlite(cache_path)
    before = snapshot(cache_path)

    with pytest.raises(NotACacheError, match="plain"):
        open_cache(cache_path, keychain, create=True, kdf_cost=FAST)

    assert snapshot(cache_path) == before
    assert not slots_path(cache_path).exists()


def test_random_bytes_without_key_slots_are_not_a_cache(
    cache_path: Path, keychain: Keychain
) -> None:
    cache_path.parent.mkdir(parents=True)
    cache_path.write_bytes(os.urandom(8192))

    with pytest.raises(NotACacheError) as caught:
        open_cache(cache_path, keychain, create=True, kdf_cost=FAST)

    assert "cache.db.keys" in str(caught.value)
    assert not slots_path(cache_path).exists()


@pytest.mark.parametrize("create", [False, True])
def test_key_slots_without_cache_file_is_a_missing_cache(
    closed_cache: Path, keychain: Keychain, create: bool
) -> None:
    closed_cache.unlink()
    keys_before = slots_path(closed_cache).read_bytes()

    with pytest.raises(MissingCacheError, match="missing"):
        open_cache(closed_cache, keychain, create=create, kdf_cost=FAST)

    assert not closed_cache.exists()
    assert slots_path(closed_cache).read_bytes() == keys_before


def test_no_cache_and_no_create_is_a_missing_cache(cache_path: Path, keychain: Keychain) -> None:
    with pytest.raises(MissingCacheError):
        open_cache(cache_path, keychain)

    assert not cache_path.exists()
    assert not slots_path(cache_path).exists()


# --- migrations ---------------------------------------------------------------------------------


def test_old_cache_is_upgraded_in_place(cache_path: Path, keychain: Keychain) -> None:
    old = new_database(cache_path, keychain)
    migrate.upgrade(old.engine, "0001")
    assert migrate.current_revision(old.engine) == "0001"
    assert OPEN_INDEX not in indexes_of(old, "interaction")
    add_customer(old, "Grace", "Hopper")
    old.dispose()

    opened = open_cache(cache_path, keychain)
    try:
        assert not opened.created
        assert migrate.current_revision(opened.database.engine) == migrate.head_revision()
        assert OPEN_INDEX in indexes_of(opened.database, "interaction")
        assert customer_names(opened.database) == [("Grace", "Hopper")]
    finally:
        opened.database.dispose()


def test_only_an_existing_cache_being_upgraded_is_announced(
    cache_path: Path, keychain: Keychain
) -> None:
    """The CLI says it is bringing the cache up to date (a minute at a million customers)
    instead of waiting in silence; a new file or a current one says nothing."""
    said: list[str] = []

    def upgrading() -> None:
        said.append("upgrading")

    old = new_database(cache_path, keychain)
    migrate.upgrade(old.engine, "0001", upgrading=upgrading)
    old.dispose()
    assert said == [], "a new file is not an upgrade"
    open_cache(cache_path, keychain, upgrading=upgrading).database.dispose()
    assert said == ["upgrading"]
    open_cache(cache_path, keychain, upgrading=upgrading).database.dispose()
    assert said == ["upgrading"], "a current cache opens without a word"


def test_open_interactions_index_columns(database: Database) -> None:
    with database.engine.connect() as conn:
        columns = [row[2] for row in conn.exec_driver_sql(f"PRAGMA index_info({OPEN_INDEX})")]
    assert columns == ["customer_id", "status", "deleted"]


def test_migration_0002_downgrades(database: Database) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")

    assert migrate.current_revision(database.engine) == "0001"
    assert OPEN_INDEX not in indexes_of(database, "interaction")

    migrate.upgrade(database.engine)
    assert OPEN_INDEX in indexes_of(database, "interaction")


def test_cache_from_a_newer_app_is_refused(closed_cache: Path, keychain: Keychain) -> None:
    newer = Database(closed_cache, data_key_of(closed_cache, keychain))
    with newer.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    newer.dispose()

    with pytest.raises(CacheNewerError, match="newer version"):
        open_cache(closed_cache, keychain)


def test_upgrade_refuses_an_unknown_revision(closed_cache: Path, keychain: Keychain) -> None:
    newer = Database(closed_cache, data_key_of(closed_cache, keychain))
    try:
        with newer.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
        with pytest.raises(CacheNewerError):
            migrate.upgrade(newer.engine)
        assert migrate.current_revision(newer.engine) == "9999"
    finally:
        newer.dispose()


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
def test_failed_migration_closes_the_cache(
    cache_path: Path, keychain: Keychain, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    made: list[Database] = []
    disposed: list[Database] = []

    class TrackedDatabase(Database):
        def __init__(self, path: Path, data_key: bytes, **options: Any) -> None:
            super().__init__(path, data_key, **options)
            made.append(self)

        def dispose(self) -> None:
            disposed.append(self)
            super().dispose()

    def refuse(engine: Any, revision: str = "head", upgrading: Any = None) -> None:
        migrate.current_revision(engine)  # reads the file, as the real upgrade does
        raise CacheNewerError("This cache was written by a newer version of Customer Card.")

    if existing:
        open_cache(cache_path, keychain, create=True, kdf_cost=FAST).database.dispose()
    monkeypatch.setattr(cache_module, "Database", TrackedDatabase)
    monkeypatch.setattr(migrate, "upgrade", refuse)

    with pytest.raises(CacheNewerError):
        open_cache(cache_path, keychain, create=True, kdf_cost=FAST)

    assert len(made) == 1
    assert disposed == made
    assert cache_path.exists() == existing


def _schema_diff(database: Database) -> list[Any]:
    """What autogenerate would change to make the file match the models (FTS5 left out)."""

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        # The FTS5 table and its shadow tables are made by raw SQL, not described by models.
        return not (type_ == "table" and name is not None and name.startswith("customer_search"))

    with database.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": include_name, "compare_type": True}
        )
        return list(compare_metadata(context, m.Base.metadata))


def test_models_match_migrations(database: Database) -> None:
    assert _schema_diff(database) == []


def test_schema_comparison_sees_a_missing_index(cache_path: Path, keychain: Keychain) -> None:
    old = new_database(cache_path, keychain)
    try:
        migrate.upgrade(old.engine, "0001")
        diff = _schema_diff(old)
    finally:
        old.dispose()

    # Later migrations add more; what 0002 adds must be seen as missing from a 0001 file.
    missing = {(d[0], d[1].name) for d in diff if isinstance(d, tuple) and d[0] == "add_index"}
    assert {("add_index", OPEN_INDEX), ("add_index", CHANNEL_INDEX)} <= missing


# --- locking and connection settings ------------------------------------------------------------


@pytest.fixture
def second_database(database: Database, keychain: Keychain) -> Iterator[Database]:
    other = Database(database.path, data_key_of(database.path, keychain), busy_timeout_ms=200)
    yield other
    other.dispose()


def test_second_writer_gets_busy_error(database: Database, second_database: Database) -> None:
    with database.write() as session:
        session.execute(text("INSERT INTO name_token (token) VALUES ('held')"))

        with pytest.raises(CacheBusyError) as caught, second_database.write() as other:
            other.execute(text("INSERT INTO name_token (token) VALUES ('blocked')"))

    message = str(caught.value)
    assert "busy" in message
    assert "0.2 s" in message
    assert "\n" not in message
    with second_database.read() as session:
        tokens = session.execute(select(m.NameToken.token)).scalars().all()
    assert tokens == ["held"]


def test_readers_are_not_blocked_by_a_writer(database: Database, second_database: Database) -> None:
    with database.write() as session:
        session.execute(text("INSERT INTO name_token (token) VALUES ('pending')"))
        with second_database.read() as other:
            count = other.execute(select(func.count()).select_from(m.NameToken)).scalar_one()
    assert count == 0


@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),
        ("foreign_keys", 1),
        ("secure_delete", 1),
        ("synchronous", 2),  # FULL
        ("busy_timeout", 5000),
    ],
)
def test_connection_pragmas(database: Database, pragma: str, expected: object) -> None:
    with database.engine.connect() as conn:
        value = conn.exec_driver_sql(f"PRAGMA {pragma}").scalar()
    assert value == expected


def test_cipher_settings(database: Database) -> None:
    with database.engine.connect() as conn:
        version = conn.exec_driver_sql("PRAGMA cipher_version").scalar()
        page_size = conn.exec_driver_sql("PRAGMA cipher_page_size").scalar()
    assert str(version).startswith("4.")
    assert int(str(page_size)) >= 4096


def test_foreign_keys_are_enforced(database: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), database.write() as session:
        session.execute(
            insert(m.Note).values(customer_id=424242, author="test", created_at=NOW, text="x")
        )


def test_migration_files_form_one_line_named_by_revision() -> None:
    """Start-up skips Alembic when the file is at ``known_head()``: it must be the real head."""
    assert migrate.known_head() == migrate.head_revision()


def test_public_ids_are_c_and_eight_crockford_characters_drawn_evenly() -> None:
    from customer_card.store.ingest_store import new_public_id

    drawn = [new_public_id() for _ in range(3000)]
    alphabet = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")  # no I, L, O, U
    assert all(len(p) == 9 and p[0] == "C" and set(p[1:]) <= alphabet for p in drawn)
    # Every character shows up at every position (40 random bits, 5 to a character): missing
    # one by chance in 3,000 draws has a probability below 1e-30.
    for position in range(1, 9):
        assert {p[position] for p in drawn} == alphabet
    assert len(set(drawn)) == len(drawn)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        # A merge points the customers merged into its loser at the survivor.
        ("SELECT id FROM customer WHERE merged_into = 7", "ix_customer_merged_into"),
        # A changed record may leave its customer only if no merge made that customer.
        (
            "SELECT 1 FROM merge_event WHERE survivor_id = 7 AND undone_at IS NULL LIMIT 1",
            "ix_merge_event_survivor",
        ),
    ],
)
def test_merge_look_ups_go_through_an_index(database: Database, query: str, index: str) -> None:
    with database.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan


def test_migration_0015_downgrades_and_upgrades(database: Database) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0014")
    assert "ix_customer_merged_into" not in indexes_of(database, "customer")

    migrate.upgrade(database.engine)
    assert "ix_customer_merged_into" in indexes_of(database, "customer")
    assert {"ix_merge_event_survivor", "ix_merge_event_merged"} <= indexes_of(
        database, "merge_event"
    )
