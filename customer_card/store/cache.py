"""Opening and creating a cache file: key slots, SQLCipher, migrations — and the clear errors
that go with them (wrong key, missing key, damaged file, not a cache)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from customer_card.store import migrate
from customer_card.store.database import Database, probe
from customer_card.store.errors import CacheError, NotACacheError
from customer_card.store.keys import KdfCost, Keychain, KeySlots

log = logging.getLogger(__name__)

SQLITE_PLAIN_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class Unlock:
    """What the user gave to open the cache (all optional: the keychain is tried last)."""

    passphrase: str | None = None
    recovery_code: str | None = None


@dataclass(frozen=True, slots=True)
class OpenedCache:
    database: Database
    created: bool
    recovery_code: str | None  # set only when the cache was just created: show it once


class MissingCacheError(CacheError):
    """No cache file at the given path and creation was not asked for."""


def slots_path(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".keys")


def open_cache(
    path: Path,
    keychain: Keychain | None,
    unlock: Unlock = Unlock(),
    *,
    create: bool = False,
    busy_timeout_ms: int = 5000,
    kdf_cost: KdfCost | None = None,
    upgrading: Callable[[], None] | None = None,
) -> OpenedCache:
    """Open the cache at ``path`` (creating it when ``create`` and it does not exist yet).
    ``upgrading`` is called before an existing cache's schema is brought up to date.

    Never creates a fresh cache over or beside an existing one whose key is missing: that
    would orphan the user's data.
    """
    slots = KeySlots.for_cache(path, keychain, kdf_cost=kdf_cost)
    if path.exists():
        _refuse_foreign_file(path, slots)
        data_key = slots.unlock(passphrase=unlock.passphrase, recovery_code=unlock.recovery_code)
        probe(path, data_key)
        existing = Database(path, data_key, busy_timeout_ms=busy_timeout_ms)
        try:
            migrate.upgrade(existing.engine, upgrading=upgrading)
        except BaseException:
            existing.dispose()
            raise
        return OpenedCache(existing, created=False, recovery_code=None)

    if slots.exists():
        raise MissingCacheError(
            f"The cache file {path} is missing but its key file {slots_path(path)} is there. "
            "Restore the cache file from a backup, or move the key file away to start afresh."
        )
    if not create:
        raise MissingCacheError(f"No cache at {path}. Run 'customer-card demo' or a sync first.")
    path.parent.mkdir(parents=True, exist_ok=True)
    created = slots.create(passphrase=unlock.passphrase)
    database = None
    try:
        # Private from the start: SQLite gives the -wal and -shm files the same mode.
        path.touch(mode=0o600, exist_ok=False)
        database = Database(path, created.data_key, busy_timeout_ms=busy_timeout_ms)
        migrate.upgrade(database.engine)
    except BaseException:
        if database is not None:
            database.dispose()
        # A half-made cache would look like a damaged one next time: remove what we made.
        for leftover in (path, slots_path(path), *_sidecars(path)):
            leftover.unlink(missing_ok=True)
        raise
    log.info("created cache %s with key slots %s", path, ", ".join(created.slots))
    assert database is not None
    return OpenedCache(database, created=True, recovery_code=created.recovery_code)


def _sidecars(path: Path) -> tuple[Path, ...]:
    return (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


def _refuse_foreign_file(path: Path, slots: KeySlots) -> None:
    if slots.exists():
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(16)
    except OSError as error:
        raise NotACacheError(f"Cannot read {path}: {error.strerror}.") from error
    if header == SQLITE_PLAIN_HEADER:
        raise NotACacheError(
            f"{path} is a plain (unencrypted) SQLite database, not a Customer Card cache."
        )
    raise NotACacheError(
        f"{path} is not a Customer Card cache (its key file {slots_path(path).name} is missing)."
    )
