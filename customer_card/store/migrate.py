"""Schema migrations, applied automatically when a cache is opened.

Alembic is imported only when a file actually needs upgrading: on a current cache, start-up
only reads its version (importing Alembic costs a noticeable part of a cold start).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from customer_card.store.errors import CacheNewerError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Revisions are named by their number ("0003_match_index.py" holds revision "0003") and form
# one line; a test checks this against Alembic's own view of the head.
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def known_head() -> str:
    """The newest revision this version of the app ships, read from the file names."""
    numbers = [
        match.group(1)
        for path in (MIGRATIONS / "versions").iterdir()
        if (match := _REVISION_FILE.match(path.name))
    ]
    return max(numbers)


def head_revision() -> str:
    """The head according to Alembic (slow: parses every migration)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except OperationalError:  # no such table: a brand-new file
            return None
    return None if row is None else str(row[0])


def upgrade(
    engine: Engine, revision: str = "head", upgrading: Callable[[], None] | None = None
) -> None:
    """Bring the file's schema to ``revision`` in place; refuse a file from a newer app.
    ``upgrading`` is called first when an existing cache is about to change (after an update
    that can take a minute on a big cache), not for a new file."""
    current = current_revision(engine)
    if revision == "head" and current == known_head():
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_config())
    if current is not None and not _known(scripts, current):
        raise CacheNewerError(
            f"This cache was written by a newer version of Customer Card (schema {current}). "
            "Update the application to open it."
        )
    if current is not None and upgrading is not None:
        upgrading()
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False
