"""A full disk, as SQLite itself sees one: the cache may grow by so many pages and no more.

``PRAGMA max_page_count`` is set on every cache connection opened while the limit holds, so the
statement that needs one more page fails with SQLite's own ``SQLITE_FULL`` ("database or disk
is full"), exactly as when the disk has no room left. It is a connection setting, never stored
in the file: connections opened before or after the limit are not limited, which is why the
limit drops the database's pooled connections on the way in and out. Connections of the
process's other engines (a source's own database) are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlcipher3
from sqlalchemy import event
from sqlalchemy.engine import Engine

from customer_card.store.database import Database


@contextmanager
def cache_growth_limit(pages: int, database: Database | None = None) -> Iterator[None]:
    """While inside, the cache file (every cache an engine of this process opens) may grow by
    ``pages`` pages from its size when the first connection is opened, then is full."""
    limit: list[int] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not isinstance(dbapi_connection, sqlcipher3.dbapi2.Connection):
            return
        if not limit:
            (size,) = dbapi_connection.execute("PRAGMA page_count").fetchone()
            limit.append(int(size) + pages)
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit[0]}")

    if database is not None:
        database.dispose()
    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)
        if database is not None:
            database.dispose()  # the limited connections go; new ones have room again


def without_free_pages(database: Database) -> None:
    """Rebuild the cache file tight (VACUUM): no free page left inside it that a write could
    take instead of growing the file."""
    database.dispose()
    with database.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("VACUUM")
        (free,) = driver.execute("PRAGMA freelist_count").fetchone()
    assert free == 0
    database.dispose()
