"""The sql connector given bad input: one line naming what is wrong and where, nothing created
behind the user's back, nothing half-ingested, and the other sources still synced."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
import sqlalchemy as sa
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked
from sqlalchemy import select

from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.sync_store import SyncStore
from tests.helpers.keyring_backends import MemoryKeyring
from tests.sync.conftest import Postgres, make_runner, write_sources

CONTACTS = [(1, "Ana", "Leroy"), (2, "Léo", "Petit"), (3, "Max", "Roux")]


def crm_file(path: Path) -> Path:
    """A SQLite database of three contacts, as a small CRM keeps them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE contacts (id integer PRIMARY KEY, prenom text, nom text)"
        )
        conn.execute(sa.text("INSERT INTO contacts VALUES (:i, :p, :n)"), [
            {"i": i, "p": p, "n": n} for i, p, n in CONTACTS
        ])  # fmt: skip
    engine.dispose()
    return path


def sql_source(name: str, url: str, read: str, *, family: str = "nom", extra: str = "") -> str:
    """``family``: the column of the family name, or a rule (a TOML table)."""
    rule = family if family.startswith("{") else f'"{family}"'
    return f"""
[sources.{name}]
type = "sql"
url = "{url}"
{extra}
[sources.{name}.streams.customers]
kind = "customer"
{read}
id = "id"
[sources.{name}.streams.customers.fields]
given_name = "prenom"
family_name = {rule}
"""


def records(database: Database) -> dict[str, dict[str, dict[str, object]]]:
    """The cache's customer records: source → id → fields."""
    out: dict[str, dict[str, dict[str, object]]] = {}
    with database.read() as session:
        for source, source_id, fields in session.execute(
            select(m.SourceRecord.source, m.SourceRecord.source_id, m.SourceRecord.fields)
        ):
            out.setdefault(source, {})[source_id] = fields
    return out


def last_errors(database: Database) -> dict[tuple[str, str], str | None]:
    with database.read() as session:
        return {(s.source, s.stream): s.last_error for s in SyncStore(session).status()}


def test_a_sqlite_url_to_a_missing_file_fails_and_creates_no_file(
    database: Database, tmp_path: Path
) -> None:
    # Before: SQLite created an empty nope.db and the stream failed on "no such table".
    missing = tmp_path / "nope.db"
    crm = crm_file(tmp_path / "crm.db")
    text = sql_source("db", f"sqlite:///{missing}", 'table = "contacts"') + sql_source(
        "ok", f"sqlite:///{crm}", 'table = "contacts"'
    )
    sources = write_sources(tmp_path, text)

    summary = make_runner(database).run(sources.select(None))

    assert summary.errors == {"db": f"db/customers: no database file {missing}"}
    assert not missing.exists()
    assert sorted(records(database)["ok"]) == ["1", "2", "3"]  # the other source is synced
    assert last_errors(database)[("db", "customers")] == summary.errors["db"]


def test_a_relative_sqlite_path_starts_at_the_sources_file_directory(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the path started at the current directory, where an empty crm.db was created.
    config = tmp_path / "config"
    crm_file(config / "crm.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    sources = write_sources(config, sql_source("db", "sqlite:///crm.db", 'table = "contacts"'))

    summary = make_runner(database).run(sources.select(None))

    assert summary.ok, summary.errors
    assert records(database)["db"]["2"] == {"given_name": "Léo", "family_name": "Petit"}
    assert list(elsewhere.iterdir()) == []


@pytest.fixture
def pg_contacts(postgres: Postgres) -> Iterator[str]:
    """A fresh schema holding the same contacts on the PostgreSQL server; its name."""
    name = "t" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(postgres.url())
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        conn.exec_driver_sql(
            f"CREATE TABLE {name}.contacts (id integer PRIMARY KEY, prenom text, nom text)"
        )
        conn.execute(sa.text(f"INSERT INTO {name}.contacts VALUES (:i, :p, :n)"), [
            {"i": i, "p": p, "n": n} for i, p, n in CONTACTS
        ])  # fmt: skip
    yield name
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
    engine.dispose()


def test_a_mapped_column_the_result_lacks_fails_the_stream_before_any_row(
    database: Database, tmp_path: Path, postgres: Postgres, pg_contacts: str
) -> None:
    # Before: every customer was stored without a family name, and the sync said all was well.
    crm = crm_file(tmp_path / "crm.db")
    text = sql_source(
        "lite", f"sqlite:///{crm}", 'query = "SELECT id, prenom FROM contacts"'
    ) + sql_source(
        # PostgreSQL folds unquoted names to lower case: the table's column is "nom".
        "pg",
        postgres.url(),
        f'schema = "{pg_contacts}"\ntable = "contacts"',
        family="Nom",
    )
    sources = write_sources(tmp_path, text)

    summary = make_runner(database).run(sources.select(None))

    assert summary.errors == {
        "lite": "lite/customers: the query returns no column 'nom' (mapped to family_name; "
        "did you mean 'prenom'?). Its columns: 'id', 'prenom'",
        "pg": f"pg/customers: table {pg_contacts}.contacts has no column 'Nom' (mapped to "
        "family_name; did you mean 'nom'?). Its columns: 'id', 'prenom', 'nom'",
    }
    assert records(database) == {}
    assert summary.total("read") == 0


def test_a_mapped_column_the_query_returns_twice_fails_the_stream(
    database: Database, tmp_path: Path, postgres: Postgres, pg_contacts: str
) -> None:
    # ``SELECT a.*, b.*``: each row kept the last ``prenom`` (the manager's), without a word.
    crm = crm_file(tmp_path / "crm.db")
    twice = "SELECT c.id, c.prenom, c.nom, m.prenom FROM contacts c JOIN contacts m ON m.id = 1"
    extra = (
        "SELECT c.id, c.prenom, c.nom, c.nom AS label, m.nom AS label "
        "FROM contacts c JOIN contacts m ON m.id = 1"
    )
    text = (
        sql_source("lite", f"sqlite:///{crm}", f'query = "{twice}"')
        + sql_source(
            "pg",
            postgres.url(),
            f'query = "{twice.replace("contacts", f"{pg_contacts}.contacts")}"',
        )
        # Read by a rule with a default, or one of the columns a rule joins: read all the same.
        + sql_source(
            "joined",
            postgres.url(),
            f'query = "{twice.replace("contacts", f"{pg_contacts}.contacts")}"',
            family='{ columns = ["nom", "prenom"] }',
        )
        + sql_source(
            "defaulted",
            postgres.url(),
            f'query = "{twice.replace("contacts", f"{pg_contacts}.contacts")}"',
            family='{ column = "prenom", default = "X" }',
        )
        # A column named twice that nothing reads is no matter.
        + sql_source(
            "unread",
            postgres.url(),
            f'query = "{extra.replace("contacts", f"{pg_contacts}.contacts")}"',
        )
    )
    sources = write_sources(tmp_path, text)

    summary = make_runner(database).run(sources.select(None))

    # PostgreSQL names both columns ``prenom``; SQLite renames the second (``prenom:1``) in
    # the subquery the stream reads through, so the mapping reads the first, the right one.
    twice_said = "the query returns 'prenom' more than once; give each a name of its own (AS)"
    assert summary.errors == {
        name: f"{name}/customers: {twice_said}" for name in ("pg", "joined", "defaulted")
    }
    assert sorted(records(database)) == ["lite", "unread"]
    assert records(database)["lite"]["2"]["given_name"] == "Léo"


class LockedKeyring(KeyringBackend):
    """A keychain the user did not unlock."""

    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


@pytest.mark.parametrize(
    ("backend", "problem", "remedy"),
    [
        (
            fail.Keyring,
            "no keychain is available on this machine",
            "store the secret with `customer-card sources set-secret nope-not-set`",
        ),
        (
            LockedKeyring,
            "the keychain is locked (Failed to unlock the collection!)",
            "unlock it and sync again",
        ),
    ],
    ids=["no-keychain", "locked"],
)
def test_a_secret_the_keychain_cannot_give_is_named_with_what_to_do(
    database: Database,
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    backend: type[KeyringBackend],
    problem: str,
    remedy: str,
) -> None:
    # Before: "unexpected NoKeyringError: No recommended backend was available. Install …",
    # which named neither the secret nor what to do.
    crm = crm_file(tmp_path / "crm.db")
    # No server is reached: the secret is looked up first.
    needs_secret = sql_source(
        "db",
        "postgresql+psycopg://crm@db.example.invalid/crm",
        'table = "contacts"',
        extra='password_secret = "nope-not-set"',
    )
    sources = write_sources(
        tmp_path, needs_secret + sql_source("ok", f"sqlite:///{crm}", 'table = "contacts"')
    )
    keyring.set_keyring(backend())
    try:
        summary = make_runner(database).run(sources.select(None))
    finally:
        keyring.set_keyring(memory_keyring)

    error = summary.errors["db"]
    assert error.startswith(f"secret 'nope-not-set' cannot be read: {problem}")
    assert error.endswith(remedy)
    assert "\n" not in error
    assert sorted(summary.errors) == ["db"]
    assert sorted(records(database)["ok"]) == ["1", "2", "3"]
    assert last_errors(database)[("db", "customers")] == error
