"""A throwaway PostgreSQL server for benchmarks: Debian's binaries, on loopback, a free port.

Same approach as the sync tests' fixture, without pytest: ``with postgres(root) as server:``
creates a cluster under ``root`` (trusting loopback, no password), starts it and stops it
afterwards. As root, the server runs as the ``postgres`` system user (it refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresError(RuntimeError):
    """The server could not be set up; the message says why."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    database: str

    def url(self) -> str:
        """A SQLAlchemy URL (psycopg 3) with no password."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"

    def conninfo(self) -> str:
        """A libpq connection string for psycopg."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"


def _bin_dir() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install "
            "Debian's postgresql package (bash packaging/setup-dev.sh does)"
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres(root: Path, *, user: str = "bench", database: str = "bench") -> Iterator[Server]:
    """A server whose cluster lives in ``root`` (created; must not hold a cluster yet)."""
    bin_dir = _bin_dir()
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresError("running as root needs the postgres system user") from None
        os.chown(root, account.pw_uid, account.pw_gid)
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresError("running as root needs runuser (util-linux)")
        as_user = [runuser, "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str) -> None:
        result = subprocess.run([*as_user, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresError(f"{Path(args[0]).name} failed: {result.stderr or result.stdout}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
    # A benchmark's server: durability off, the data is generated again on the next run.
    options = (
        f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off "
        "-c synchronous_commit=off -c max_wal_size=4GB"
    )
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
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database)
        yield Server("127.0.0.1", port, user, database)
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )
