"""The SQLCipher engine and transactions.

Connections are made by our own creator so that the raw key is the first statement on every
connection (``PRAGMA key = "x'…'"``, built only from ``bytes.hex()``): the ``sqlite+pysqlcipher``
dialect would send an empty key with a creator and otherwise wants the key in the URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from customer_card.store.errors import (
    CacheBusyError,
    CacheDiskError,
    CacheError,
    CacheFullError,
    CorruptCacheError,
)

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_MS = 5000
KEY_BYTES = 32
# SQLite's primary result codes for a disk that failed (extended codes keep them in the low byte).
SQLITE_IOERR = 10
SQLITE_FULL = 13
# Page cache per connection, in KiB (SQLite's default is 2 MiB). Ingest and inline matching
# touch customers all over the file (a sync in time order, not person order): every page read
# again is decrypted again, so a larger cache saves real work. Pages are only held once used.
# In WAL mode a connection's cache is dropped whenever another connection has written, so
# writes go through one connection of their own (which keeps its cache from one batch to the
# next) with the larger cache, and reads reuse the most recently used connection.
CACHE_KIB = 64 * 1024
WRITE_CACHE_KIB = 256 * 1024


def _key_pragma(data_key: bytes) -> str:
    if len(data_key) != KEY_BYTES:
        raise ValueError("the cache key must be 32 bytes")
    return f"PRAGMA key = \"x'{data_key.hex()}'\""


def connect_raw(
    path: Path, data_key: bytes, busy_timeout_ms: int, cache_kib: int = CACHE_KIB
) -> Any:
    """Open one SQLCipher connection, keyed and configured; sqlcipher3 errors propagate."""
    conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(_key_pragma(data_key))
        # Reading the schema is what actually tries the key.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    except BaseException:
        conn.close()
        raise
    return conn


def disk_error(path: Path, error: BaseException) -> CacheError | None:
    """The store's error for a driver error that says the disk failed (full, or I/O), else
    None. Either way SQLite ends or rolls back the transaction: nothing of it is in the file."""
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    if code & 0xFF == SQLITE_FULL:
        return CacheFullError(
            "The disk is full: nothing of the change in progress was saved. Free some space "
            f"and try again; a sync resumes where it stopped. (Cache: {path})"
        )
    if code & 0xFF == SQLITE_IOERR:
        return CacheDiskError(
            "The disk failed to read or write the cache: nothing of the change in progress was "
            "saved. Check the disk (or the network share) and try again; a sync resumes where "
            f"it stopped. (Cache: {path})"
        )
    return None


def probe(path: Path, data_key: bytes) -> None:
    """Open the file once with a key already known to be right; a failure means a damaged file
    (or a failing disk)."""
    try:
        connect_raw(path, data_key, DEFAULT_BUSY_TIMEOUT_MS).close()
    except sqlcipher3.DatabaseError as error:
        failed = disk_error(path, error)
        if failed is not None:
            raise failed from error
        if "locked" in str(error) or "busy" in str(error):
            raise CacheBusyError(
                f"The cache {path} is busy (another program holds it). Try again in a moment."
            ) from error
        raise CorruptCacheError(
            f"The cache {path} is damaged: the key is right but the file cannot be read "
            f"({error}). Restore it from a backup or rebuild it with a sync."
        ) from error


class Database:
    """One encrypted cache file: its engine and the transactions services run in."""

    def __init__(
        self, path: Path, data_key: bytes, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.engine: Engine = _engine(
            path, lambda: connect_raw(path, data_key, busy_timeout_ms), pool_size=4, max_overflow=4
        )
        # One writer at a time anyway (BEGIN IMMEDIATE): a second one in this process waits
        # on the busy timeout through an overflow connection, as it would from another process.
        self.write_engine: Engine = _engine(
            path,
            lambda: connect_raw(path, data_key, busy_timeout_ms, WRITE_CACHE_KIB),
            pool_size=1,
            max_overflow=3,
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self.write_engine.execution_options(immediate=True), expire_on_commit=False
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction: one consistent snapshot (WAL readers never block the writer).
        A disk that fails (a sort spilled to a full disk) is a :class:`CacheError`."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except (OperationalError, sqlcipher3.OperationalError) as error:
            failed = disk_error(self.path, _driver_error(error))
            if failed is not None:
                raise failed from error
            raise

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, taken at once (BEGIN IMMEDIATE) so two writers queue on the
        busy timeout instead of failing half-way; committed on success, rolled back on error.

        A full or failing disk is a :class:`CacheFullError` or :class:`CacheDiskError`, raised
        from the statement that needed the space or from the commit, the driver's own cursors
        (bulk inserts) included: the transaction is then rolled back whole."""
        try:
            with self._write_sessions() as session, session.begin():
                yield session
        except (OperationalError, sqlcipher3.OperationalError) as error:
            orig = _driver_error(error)
            failed = disk_error(self.path, orig)
            if failed is not None:
                raise failed from error
            if "locked" in str(orig) or "busy" in str(orig):
                raise CacheBusyError(
                    f"The cache is busy: another program (probably the open Customer Card "
                    f"window) kept it locked for more than {self.busy_timeout_ms / 1000:g} s. "
                    "Try again when it is idle."
                ) from error
            raise

    def dispose(self, *, close: bool = True) -> None:
        """Drop the pooled connections (``close=False`` in a forked child: they are the
        parent's, the child opens its own)."""
        self.engine.dispose(close=close)
        self.write_engine.dispose(close=close)


def _driver_error(error: BaseException) -> BaseException:
    """The driver's error under SQLAlchemy's wrapper (the error itself when not wrapped)."""
    orig = getattr(error, "orig", None)
    return orig if isinstance(orig, BaseException) else error


def _engine(path: Path, creator: Callable[[], Any], *, pool_size: int, max_overflow: int) -> Engine:
    engine = create_engine(
        "sqlite://",
        creator=creator,
        module=sqlcipher3.dbapi2,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_use_lifo=True,  # the warmest connection first
    )
    event.listen(engine, "begin", _begin)

    # Whatever runs the statement (a service's transaction, a migration on open): a full or
    # failing disk is the store's one clear error, not the driver's with the SQL and its values.
    def on_error(context: ExceptionContext) -> None:
        failed = disk_error(path, context.original_exception)
        if failed is not None:
            raise failed from context.original_exception

    event.listen(engine, "handle_error", on_error)
    return engine


def _begin(conn: Connection) -> None:
    # The driver runs in autocommit mode (isolation_level=None); we issue BEGIN ourselves, which
    # is SQLAlchemy's documented recipe for pysqlite and lets writers take the lock up front.
    immediate = conn.get_execution_options().get("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
