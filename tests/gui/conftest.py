"""GUI fixtures: the real main window over the lead's demo cache (``demo_services``)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from customer_card.domain.model import CustomerCard
from customer_card.services.actions import ActionService
from customer_card.services.cards import CardService
from customer_card.services.search import SearchService
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.ui.main_window import MainWindow
from customer_card.ui.theme import load_theme
from tests.conftest import TEST_PASSPHRASE

PAGE = 200


@pytest.fixture(autouse=True)
def collect_on_gui_thread() -> None:
    """Collect the previous test's garbage here, on the GUI thread: a cycle holding a widget
    must never be collected by a worker thread that happens to allocate."""
    gc.collect()


@pytest.fixture
def themed(qapp: Any) -> Iterator[None]:
    """The light theme, as users see it; the app is left unstyled afterwards."""
    load_theme(qapp, "light")
    yield
    qapp.setStyleSheet("")


@pytest.fixture
def window(qtbot: QtBot, demo_services: Any, themed: None) -> MainWindow:
    win = MainWindow(demo_services.search, demo_services.cards)
    qtbot.addWidget(win)  # closed at teardown; closeEvent waits for background work
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    return win


def _scan(demo_services: Any, wanted: Any, limit: int = 400) -> CustomerCard:
    for customer_id in range(1, limit):
        card = demo_services.cards.load(customer_id)
        if card is not None and card.customer.id == customer_id and wanted(card):
            return card
    pytest.fail("the demo cache has no customer of the kind this test needs")


@pytest.fixture
def rich_card(demo_services: Any) -> CustomerCard:
    """A customer whose history spans more than two pages and at least two channels."""
    return _scan(demo_services, lambda c: c.interaction_count > 2 * PAGE and len(c.channels) >= 2)


@pytest.fixture
def dnc_card(demo_services: Any) -> CustomerCard:
    return _scan(demo_services, lambda c: c.do_not_contact)


@pytest.fixture
def open_card(demo_services: Any) -> CustomerCard:
    return _scan(demo_services, lambda c: c.open_interactions > 0)


@dataclass(frozen=True)
class Writable:
    """A private copy of the demo cache, with the action service: for tests that record."""

    path: Path
    database: Database
    search: SearchService
    cards: CardService
    actions: ActionService


@pytest.fixture
def writable(demo_cache_file: Path, tmp_path: Path) -> Iterator[Writable]:
    for file in demo_cache_file.parent.glob(demo_cache_file.name + "*"):
        shutil.copy2(file, tmp_path / file.name)
    path = tmp_path / demo_cache_file.name
    opened = open_cache(path, None, Unlock(passphrase=TEST_PASSPHRASE))
    db = opened.database
    yield Writable(path, db, SearchService(db), CardService(db), ActionService(db))
    db.dispose()


ADVISOR = "advisor.test"


@pytest.fixture
def acting_window(qtbot: QtBot, writable: Writable, themed: None) -> MainWindow:
    """The real window over a private cache copy, able to record notes, calls, corrections."""
    win = MainWindow(writable.search, writable.cards, writable.actions, user=ADVISOR)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    return win
