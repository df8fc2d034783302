"""Shared fixtures: every test gets its own profile directory and an in-memory keychain.

Nothing here touches the real keychain, the user's data directory or the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Before anything imports Qt: no screen in tests.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_QUICK_BACKEND", "software")

import keyring
import keyring.core
import pytest

from customer_card.services.cards import CardService
from customer_card.services.demo import build_demo
from customer_card.services.search import SearchService
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.keys import KdfCost, Keychain
from tests.helpers.keyring_backends import MemoryKeyring

TEST_PASSPHRASE = "correct horse battery staple"
GUI_FIXTURES = {"qtbot", "qapp", "qtmodeltester"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a QApplication as ``gui`` (``-m "not gui"`` runs the core)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & GUI_FIXTURES or "tests/gui/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def profile(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh profile: app directories under a temp dir, passphrase env cleared."""
    home = tmp_path_factory.mktemp("profile")
    monkeypatch.setenv("CUSTOMER_CARD_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "xdg-run"))
    (home / "xdg-run").mkdir(mode=0o700)
    monkeypatch.delenv("CUSTOMER_CARD_PASSPHRASE", raising=False)
    # Subprocesses get a file-backed test keychain, never the real one.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.helpers.keyring_backends.FileKeyring")
    monkeypatch.setenv("CUSTOMER_CARD_TEST_KEYRING", str(home / "keyring.json"))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.core._keyring_backend = previous


@pytest.fixture
def keychain(memory_keyring: MemoryKeyring) -> Keychain:
    return Keychain(memory_keyring)


@pytest.fixture
def cache_path(profile: Path) -> Path:
    return profile / "data" / "cache.db"


@pytest.fixture
def database(cache_path: Path, keychain: Keychain) -> Iterator[Database]:
    """An empty, migrated cache opened through the keychain slot."""
    opened = open_cache(cache_path, keychain, create=True, kdf_cost=KdfCost.minimal())
    yield opened.database
    opened.database.dispose()


@dataclass(frozen=True)
class DemoServices:
    database: Database
    search: SearchService
    cards: CardService
    path: Path


DEMO_CUSTOMERS = 300
DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo_cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo cache built once per test session (passphrase slot: no keychain needed)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    opened = open_cache(
        path, None, Unlock(passphrase=TEST_PASSPHRASE), create=True, kdf_cost=KdfCost.minimal()
    )
    build_demo(opened.database, customers=DEMO_CUSTOMERS, seed=DEMO_SEED)
    opened.database.dispose()
    return path


@pytest.fixture
def demo_services(demo_cache_file: Path) -> Iterator[DemoServices]:
    """Services over the shared demo cache. Read-only: tests that write use ``database``."""
    opened = open_cache(demo_cache_file, None, Unlock(passphrase=TEST_PASSPHRASE))
    db = opened.database
    yield DemoServices(db, SearchService(db), CardService(db), demo_cache_file)
    db.dispose()
