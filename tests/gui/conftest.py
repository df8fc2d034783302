"""GUI fixtures: the real main window over the lead's demo cache (``demo_services``)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from customer_card.domain.model import CustomerCard
from customer_card.ui.main_window import MainWindow
from customer_card.ui.theme import load_theme

PAGE = 200


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
