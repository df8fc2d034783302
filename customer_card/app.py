"""Composition root: paths → key → engine → services (→ window). The only place, with the CLI,
that builds concrete objects."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from customer_card import paths
from customer_card.services.actions import ActionService
from customer_card.services.cards import CardService
from customer_card.services.demo_defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from customer_card.services.ingest import IngestReport, IngestService
from customer_card.services.search import SearchService
from customer_card.services.sync_runner import SyncRunner
from customer_card.services.sync_status import SyncService
from customer_card.store.cache import OpenedCache, Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.keys import PASSPHRASE_ENV, Keychain
from sync.sources import FILE_NAME as SOURCES_FILE_NAME
from sync.sources import keyring_secrets

log = logging.getLogger(__name__)

# The demo cache holds invented people only. Where no keychain can hold its key (a headless
# machine, a fresh VM) it is locked with this published passphrase so it opens anywhere.
DEMO_PASSPHRASE = "demo"


@dataclass(frozen=True)
class Services:
    path: Path
    database: Database
    search: SearchService
    cards: CardService
    ingest: IngestService
    actions: ActionService
    sync: SyncService
    recovery_code: str | None
    demo: bool

    def close(self) -> None:
        self.database.dispose()


def demo_marker(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".demo")


def is_demo(db_path: Path) -> bool:
    return demo_marker(db_path).exists()


def resolve_db(db: Path | None) -> Path:
    """The cache a command works on: ``--db``, else the user's cache, else the demo cache."""
    if db is not None:
        return db.expanduser()
    if paths.default_cache().exists():
        return paths.default_cache()
    return paths.demo_cache()


def resolve_sources(sources: Path | None) -> Path:
    """The sources file: ``--sources``, else ``sources.toml`` in the user's config dir."""
    return sources.expanduser() if sources is not None else paths.config_dir() / SOURCES_FILE_NAME


def instance_key(db_path: Path) -> str:
    """One running window per cache file: a stable name derived from its absolute path."""
    digest = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:16]
    return f"customer-card-{digest}"


def open_services(
    db_path: Path,
    *,
    create: bool = False,
    demo: bool = False,
    passphrase: str | None = None,
    recovery_code: str | None = None,
    sources: Path | None = None,
    upgrading: Callable[[], None] | None = None,
) -> Services:
    keychain = Keychain.from_environment()
    passphrase = passphrase or os.environ.get(PASSPHRASE_ENV) or None
    demo = demo or is_demo(db_path)
    if demo and passphrase is None:
        passphrase = DEMO_PASSPHRASE
    opened: OpenedCache = open_cache(
        db_path,
        keychain if keychain.usable else None,
        Unlock(passphrase=passphrase, recovery_code=recovery_code),
        create=create,
        upgrading=upgrading,
    )
    database = opened.database
    ingest = IngestService(database)
    return Services(
        path=db_path,
        database=database,
        search=SearchService(database),
        cards=CardService(database),
        ingest=ingest,
        actions=ActionService(database),
        sync=SyncService(
            database, SyncRunner(database, ingest, keyring_secrets()), resolve_sources(sources)
        ),
        recovery_code=opened.recovery_code,
        demo=demo,
    )


def ensure_demo(
    db_path: Path,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[IngestReport], None] | None = None,
) -> tuple[Services, IngestReport | None]:
    """Open the demo cache, building it first when it is new or its build was interrupted
    (ingest is idempotent, so an interrupted build simply resumes)."""
    marker = demo_marker(db_path)
    if db_path.exists() and not marker.exists():
        raise DemoError(f"{db_path} exists and is not a demo cache; choose another --db.")
    if not db_path.exists():
        # Marked before the file exists: a start killed while it is created (the key, the
        # schema) is a demo build to finish, not a user's cache.
        db_path.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"customers": customers, "seed": seed, "complete": False}))
    services = open_services(db_path, create=True, demo=True)
    state = _read_marker(marker)
    if state.get("complete") and state.get("customers") == customers and state.get("seed") == seed:
        return services, None
    if state.get("complete"):
        log.info("demo cache %s was built with other options; keeping it", db_path)
        return services, None
    marker.write_text(json.dumps({"customers": customers, "seed": seed, "complete": False}))
    from customer_card.services.demo import build_demo  # the generator (Faker) only to build

    truth = db_path.with_name(db_path.stem + "-truth.csv")
    try:
        report = build_demo(
            services.database, customers=customers, seed=seed, truth_path=truth, progress=progress
        )
    except BaseException:
        services.close()
        raise
    marker.write_text(json.dumps({"customers": customers, "seed": seed, "complete": True}))
    return services, report


def demo_unfinished(db_path: Path) -> bool:
    """Whether ``db_path`` is a demo cache still to build: not there yet, or a build that was
    interrupted (the window was closed during a first start)."""
    if not db_path.exists():
        return True
    return is_demo(db_path) and not _read_marker(demo_marker(db_path)).get("complete")


class DemoError(Exception):
    pass


def _read_marker(marker: Path) -> dict[str, object]:
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
