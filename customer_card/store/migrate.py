"""Schema migrations, applied automatically when a cache is opened."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from customer_card.store.errors import CacheNewerError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the file's schema to ``revision`` in place; refuse a file from a newer app."""
    scripts = ScriptDirectory.from_config(_config())
    current = current_revision(engine)
    if current is not None and not _known(scripts, current):
        raise CacheNewerError(
            f"This cache was written by a newer version of Customer Card (schema {current}). "
            "Update the application to open it."
        )
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False
