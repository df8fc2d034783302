"""The products a customer bought on the card, an order's lines in the detail pane, and the
theme switch of the View menu (applied live, remembered in the profile's settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_card.domain.model import Interaction
from customer_card.store import models as m
from customer_card.ui.card_controller import PRODUCTS_SHOWN
from customer_card.ui.main_window import MainWindow
from customer_card.ui.theme import THEME_ENV, load_theme, saved_theme, theme_name, theme_path
from customer_card.ui.timeline_model import TimelineModel


def _best_buyer(demo_services: Any) -> int:
    """The demo customer with the most distinct products (more than the card lists)."""
    ol, i = m.OrderLine, m.Interaction
    with demo_services.database.read() as session:
        customer_id, products = session.execute(
            select(i.customer_id, func.count(func.distinct(ol.sku)))
            .join(ol, ol.interaction_id == i.id)
            .group_by(i.customer_id)
            .order_by(func.count(func.distinct(ol.sku)).desc())
            .limit(1)
        ).one()
    assert products > PRODUCTS_SHOWN
    return int(customer_id)


def _row(model: TimelineModel, row: int) -> Interaction:
    item = model.interaction(row)
    assert item is not None
    return item


def _open(qtbot: Any, window: MainWindow, customer_id: int) -> None:
    with qtbot.waitSignals([window.card_shown, window.cards.related_shown], timeout=5000):
        window.cards.open(customer_id)


def test_products_block_lists_what_the_customer_bought(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    customer_id = _best_buyer(demo_services)
    expected = demo_services.cards.products(customer_id, PRODUCTS_SHOWN)

    _open(qtbot, window, customer_id)

    section = window.card_view.products
    assert section.isVisible()
    rows = section.rows
    assert [r.name.full_text() for r in rows] == [p.name for p in expected.products]
    first, newest = rows[0], expected.products[0]
    assert newest.last_source_id in first.toolTip()  # where it comes from, on hover
    assert newest.category is not None
    assert newest.category in first.toolTip()
    assert f"×{newest.quantity}" in first.facts.text()
    for row, product in zip(rows, expected.products, strict=True):
        assert row.returned.isVisibleTo(section) == (product.returned > 0)
    assert section.more.isVisibleTo(section)
    assert str(expected.total - PRODUCTS_SHOWN) in section.more.text()

    # "n more": the history shows the orders only.
    model = window.timeline_model
    with qtbot.waitSignal(model.modelReset, timeout=5000):
        section.more.linkActivated.emit("orders")
    assert model.timeline_filter is not None
    assert model.timeline_filter.kinds == frozenset({"order"})
    assert model.rowCount() > 0
    assert {_row(model, r).kind for r in range(model.rowCount())} == {"order"}


def test_products_of_the_previous_customer_never_show(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    _open(qtbot, window, _best_buyer(demo_services))
    assert window.card_view.products.isVisible()
    influencer = next(
        cid
        for cid in range(1, 60)
        if (c := demo_services.cards.load(cid)) is not None
        and c.customer.id == cid
        and demo_services.cards.products(cid).total == 0
    )
    with qtbot.waitSignal(window.card_shown, timeout=5000):
        window.cards.open(influencer)
    assert not window.card_view.products.isVisible()  # hidden at once, not after the read
    with qtbot.waitSignal(window.cards.related_shown, timeout=5000):
        pass
    assert not window.card_view.products.isVisible()


def test_an_orders_lines_show_in_the_detail_pane(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    customer_id = _best_buyer(demo_services)
    _open(qtbot, window, customer_id)
    model = window.timeline_model
    row = next(r for r in range(model.rowCount()) if _row(model, r).kind == "order")
    order = _row(model, row)
    table = window.card_view.timeline.table
    detail = window.card_view.timeline.detail

    with qtbot.waitSignal(window.cards.lines_shown, timeout=5000) as shown:
        table.selectRow(row)

    assert shown.args == [order.id]
    lines = demo_services.cards.order_lines(order.id)
    assert lines
    assert detail.order_lines() == lines
    assert detail.lines.isVisibleTo(detail)
    for line in lines:
        assert line.name.replace("'", "&#x27;") in detail.lines.text() or line.name in (
            detail.lines.text()
        )
    # Something else selected: no lines left from the order.
    other = next(r for r in range(model.rowCount()) if _row(model, r).kind != "order")
    table.selectRow(other)
    assert detail.order_lines() == ()
    assert not detail.lines.isVisibleTo(detail)


@pytest.fixture
def restore_theme(qapp: Any) -> Any:
    yield
    load_theme(qapp, "light")


def test_theme_switch_applies_live_and_is_remembered(
    qtbot: Any,
    qapp: Any,
    window: MainWindow,
    demo_services: Any,
    profile: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_theme: None,
) -> None:
    monkeypatch.delenv(THEME_ENV, raising=False)
    assert window.theme_actions["light"].isChecked()
    background = window.palette().color(window.backgroundRole()).name()

    window.theme_actions["dark"].trigger()

    assert qapp.property("theme") == "dark"
    assert qapp.styleSheet() == theme_path("dark").read_text(encoding="utf-8")
    assert window.palette().color(window.backgroundRole()).name() != background
    assert window.theme_actions["dark"].isChecked()
    # Remembered in the test profile's settings, never the real user's.
    settings_file = profile / "config" / "settings.ini"
    assert settings_file.is_file()
    assert "dark" in settings_file.read_text(encoding="utf-8")
    assert saved_theme() == "dark"
    assert theme_name() == "dark"  # what the next launch loads

    # The next window starts with the remembered choice ticked; the environment still wins.
    second = MainWindow(demo_services.search, demo_services.cards)
    qtbot.addWidget(second)
    assert second.theme_actions["dark"].isChecked()
    monkeypatch.setenv(THEME_ENV, "light")
    assert theme_name() == "light"

    window.theme_actions["light"].trigger()
    assert qapp.property("theme") == "light"
    monkeypatch.delenv(THEME_ENV)
    assert theme_name() == "light"
