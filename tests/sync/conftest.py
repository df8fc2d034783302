"""Real counterparts for the connector tests: a throwaway PostgreSQL cluster (Debian's binaries,
on loopback, a free port) and helpers shared by the sync tests."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from customer_card.services.ingest import IngestService
from customer_card.services.sync_runner import SyncRunner
from customer_card.store.database import Database
from sync.sources import SourcesFile, keyring_secrets, load_sources

PG_USER = "cardtest"


def _pg_bin() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install "
            "Debian's postgresql package (bash packaging/setup-dev.sh does)",
            pytrace=False,
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    database: str

    def url(self, database: str | None = None) -> str:
        """A SQLAlchemy URL (psycopg 3) with no password (the test cluster trusts loopback)."""
        return (
            f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database or self.database}"
        )


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server started for the test session and stopped after it."""
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the postgres system user.
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs the postgres system user", pytrace=False)
        os.chown(root, account.pw_uid, account.pw_gid)
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.fail("running as root needs runuser (util-linux)", pytrace=False)
        as_user = [runuser, "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str) -> None:
        result = subprocess.run([*as_user, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.fail(f"{args[0]} failed: {result.stderr or result.stdout}", pytrace=False)

    run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        PG_USER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "crm")
        yield Postgres("127.0.0.1", port, PG_USER, "crm")
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def write_sources(directory: Path, text: str) -> SourcesFile:
    path = directory / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return load_sources(path)


def make_runner(database: Database, batch_size: int = 500) -> SyncRunner:
    return SyncRunner(database, IngestService(database, batch_size=batch_size), keyring_secrets())


# Runs a tap the way a wrapper script does (a virtualenv's, a container's): as a child it waits
# for, not in its own place (``exec``), so ending the wrapper alone leaves the tap running.
WRAPPER = ["sh", "-c", '"$@"; exit $?', "tap-wrapper"]
