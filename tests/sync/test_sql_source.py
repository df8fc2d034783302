"""The sql connector against a real PostgreSQL server, and a SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from customer_card.services.ingest import HistoryRecord
from customer_card.services.sync_runner import _ReadAheadProcess
from customer_card.store.database import Database
from customer_card.store.sync_store import SyncStore
from sync.records import SourceRecord
from sync.sources import keyring_secrets, store_secret
from sync.sql_source import SqlConnector
from tests.sync.conftest import Postgres, make_runner, write_sources

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def schema(postgres: Postgres) -> Iterator[tuple[sa.Engine, str]]:
    """A fresh schema per test with a CRM's customers and calls."""
    name = "t" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(postgres.url())
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        conn.exec_driver_sql(
            f"CREATE TABLE {name}.customers (id integer PRIMARY KEY, first_name text, "
            "last_name text, email text, born text, updated_at timestamptz NOT NULL)"
        )
        conn.exec_driver_sql(
            f"CREATE TABLE {name}.calls (call_id bigint PRIMARY KEY, customer_id integer, "
            "at timestamptz, summary text, amount numeric(10, 2))"
        )
        conn.execute(
            sa.text(f"INSERT INTO {name}.customers VALUES (:id, :f, :l, :e, :b, :u)"),
            [
                {
                    "id": i,
                    "f": f"Prénom{i}",
                    "l": f"Nom{i}",
                    "e": f"p{i}@example.fr",
                    "b": "17/04/1961" if i != 3 else "hier",
                    "u": T0,
                }
                for i in range(1, 41)
            ],
        )
        conn.execute(
            sa.text(f"INSERT INTO {name}.calls VALUES (:c, :cid, :at, :s, :a)"),
            [
                {"c": 1000 + i, "cid": 1 + i % 40, "at": T0, "s": f"Appel {i}", "a": "12.50"}
                for i in range(120)
            ],
        )
    yield engine, name
    with engine.begin() as conn:
        # A connection a failed test left open must not block the clean-up.
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
    engine.dispose()


def sources_text(postgres: Postgres, schema: str, *, secret: bool = True) -> str:
    password = 'password_secret = "crm-db"\n' if secret else ""
    return f"""
[sources.crm]
type = "sql"
url = "{postgres.url()}"
{password}fetch_size = 7
checkpoint_every = 9

[sources.crm.streams.customers]
kind = "customer"
schema = "{schema}"
table = "customers"
cursor = "updated_at"
id = "id"
updated_at = "updated_at"
[sources.crm.streams.customers.fields]
given_name = "first_name"
family_name = "last_name"
email = "email"
birth_date = {{ column = "born", date = "%d/%m/%Y" }}

[sources.crm.streams.calls]
kind = "interaction"
query = "SELECT call_id, customer_id, at, summary, amount FROM {schema}.calls"
cursor = "call_id"
id = "call_id"
[sources.crm.streams.calls.fields]
customer_ref = {{ column = "customer_id", type = "str" }}
occurred_at = "at"
summary = "summary"
amount = "amount"
channel = {{ value = "phone" }}
"""


def test_initial_then_incremental_with_equal_cursor_values(
    postgres: Postgres, schema: tuple[sa.Engine, str], database: Database, tmp_path: Path
) -> None:
    engine, name = schema
    store_secret("crm-db", "not-needed-by-trust-auth")
    sources = write_sources(tmp_path, sources_text(postgres, name))
    runner = make_runner(database, batch_size=25)

    first = runner.run(sources.select(None))
    assert first.ok, first.errors
    by_stream = {p.stream: p for p in first.passes}
    assert by_stream["customers"].inserted == 39
    assert by_stream["customers"].quarantined == 1  # "hier" is not a date
    # The calls of the customer kept aside wait in quarantine for their customer.
    assert by_stream["calls"].inserted == 117
    assert by_stream["calls"].quarantined == 3

    # Second run: only the rows at the last cursor value come back, unchanged.
    second = runner.run(sources.select(None))
    assert second.ok
    assert second.total("inserted") == second.total("updated") == 0
    assert second.total("read") == second.total("unchanged") + second.total("quarantined")
    assert second.total("read") < first.total("read")

    # A row written later with the same cursor value as the last one read is not missed;
    # a changed row is updated.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {name}.customers VALUES (41, 'Tardif', 'Même', 'late@x.fr', "
                "'01/01/1990', :u)"
            ),
            {"u": T0},
        )
        conn.execute(
            sa.text(
                f"UPDATE {name}.customers SET email = 'new@x.fr', updated_at = :u WHERE id = 5"
            ),
            {"u": T1},
        )
    third = runner.run(sources.select(None))
    customers = next(p for p in third.passes if p.stream == "customers")
    assert customers.inserted == 1
    assert customers.updated == 1
    with database.read() as session:
        states = {s.stream: s for s in SyncStore(session).status()}
    assert states["customers"].last_success_at is not None
    assert states["customers"].last_error is None


def test_a_stopped_run_resumes_after_the_last_committed_row(
    postgres: Postgres, schema: tuple[sa.Engine, str], database: Database, tmp_path: Path
) -> None:
    _, name = schema
    store_secret("crm-db", "x")
    sources = write_sources(tmp_path, sources_text(postgres, name))
    connector = sources.sources["crm"].connector(lambda n: "x")
    try:
        items = list(connector.read("calls", None))
        checkpoints = [i for i in items if type(i).__name__ == "Checkpoint"]
        middle = checkpoints[len(checkpoints) // 2]
        resumed = list(connector.read("calls", middle.state))
    finally:
        connector.close()  # type: ignore[attr-defined]
    ids = [i.source_id for i in resumed if type(i).__name__ == "SourceRecord"]
    done = [i.source_id for i in items if type(i).__name__ == "SourceRecord"]
    # Exactly the rows after the checkpoint: no loss, no repeat.
    position = done.index(ids[0])
    assert done[position:] == ids
    assert position == 9 * (len(checkpoints) // 2 + 1)


def test_missing_secret_and_unreachable_server_fail_alone(
    postgres: Postgres, schema: tuple[sa.Engine, str], database: Database, tmp_path: Path
) -> None:
    _, name = schema
    text = (
        sources_text(postgres, name)
        + """
[sources.down]
type = "sql"
url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
[sources.down.streams.customers]
kind = "customer"
table = "customers"
id = "id"
fields = { given_name = "first_name" }
"""
    )
    sources = write_sources(tmp_path, text)
    summary = make_runner(database).run(sources.select(None))
    assert "crm-db" in summary.errors["crm"]  # the secret is not in the keychain yet
    assert "set-secret crm-db" in summary.errors["crm"]
    assert "down" in summary.errors
    store_secret("crm-db", "x")
    summary = make_runner(database).run(sources.select("crm"))
    assert summary.ok
    assert summary.total("inserted") == 156
    with database.read() as session:
        errors = {(s.source, s.stream): s.last_error for s in SyncStore(session).status()}
    assert errors[("down", "customers")]
    assert errors[("crm", "customers")] is None


def test_a_sqlite_file_source_reads_its_history_ahead(database: Database, tmp_path: Path) -> None:
    # Each pass reads in the runner's reader (a second process on Linux, a thread elsewhere)
    # through the connector's pooled SQLite connection (the live-pool case is the PostgreSQL
    # test below).
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE clients (id integer PRIMARY KEY, nom text)")
        conn.exec_driver_sql(
            "CREATE TABLE visites (id integer PRIMARY KEY, client integer, quand text, "
            "montant real)"
        )
        conn.exec_driver_sql("INSERT INTO clients VALUES (1, 'Michu'), (2, 'Dupont')")
        conn.execute(
            sa.text("INSERT INTO visites VALUES (:id, :c, '2026-01-02T10:00:00+00:00', 2.5)"),
            [{"id": n, "c": 1 + n % 2} for n in range(1, 1201)],
        )
    engine.dispose()
    sources = write_sources(
        tmp_path,
        f"""
[sources.crm]
type = "sql"
url = "sqlite:///{tmp_path / "crm.db"}"
[sources.crm.streams.customers]
kind = "customer"
table = "clients"
id = "id"
[sources.crm.streams.customers.fields]
family_name = "nom"
[sources.crm.streams.visits]
kind = "interaction"
table = "visites"
id = "id"
[sources.crm.streams.visits.fields]
customer_ref = "client"
occurred_at = "quand"
amount = "montant"
""",
    )

    summary = make_runner(database, batch_size=500).run(sources.select(None))

    assert summary.ok, summary.errors
    assert [(p.stream, p.inserted) for p in summary.passes] == [("customers", 2), ("visits", 1200)]


def test_a_postgres_source_read_in_a_second_process_leaves_the_parents_connection_working(
    postgres: Postgres, schema: tuple[sa.Engine, str], tmp_path: Path
) -> None:
    # The connector's pool holds a live connection when the reader forks: the child opens its
    # own; the parent's one still works afterwards (the next pass, a full extract's ids).
    _, name = schema
    store_secret("crm-db", "not-needed-by-trust-auth")
    (config,) = write_sources(tmp_path, sources_text(postgres, name)).select("crm")
    connector = SqlConnector(config, keyring_secrets())
    with connector.engine().connect() as conn:
        parent_pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()

    with _ReadAheadProcess("crm", connector.after_fork, connector.read("calls", None)) as items:
        read = [i.source_id for i in items if isinstance(i, HistoryRecord)]

    assert len(read) == 120
    with connector.engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == parent_pid
    again = [i.source_id for i in connector.read("calls", None) if isinstance(i, SourceRecord)]
    assert again == read
    connector.close()
