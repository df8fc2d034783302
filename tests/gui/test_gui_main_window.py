"""The real main window over the demo cache: search, keyboard, card, timeline, filter."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication

from customer_card.domain.model import CustomerCard
from customer_card.ui.main_window import MainWindow


def _search(qtbot: Any, window: MainWindow, text: str) -> None:
    with qtbot.waitSignal(window.search_results_shown, timeout=5000):
        qtbot.keyClicks(window.search_bar.field, text)


def test_search_field_focused_on_start(qtbot: Any, window: MainWindow) -> None:
    qtbot.waitUntil(window.search_bar.field.hasFocus)


def test_type_then_enter_opens_best_hit(qtbot: Any, window: MainWindow) -> None:
    _search(qtbot, window, "martin")
    model = window.search_results_model
    assert model.rowCount() > 1
    assert window.results_popup.isVisible()
    best = model.hit(0)
    assert best is not None
    with qtbot.waitSignal(window.card_shown, timeout=5000) as shown:
        qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Return)
    assert shown.args == [best.customer_id]
    card = window.card_view.card
    assert card is not None
    assert card.customer.id == best.customer_id
    assert window.card_view.header.name_label.text() == card.customer.display_name
    assert not window.results_popup.isVisible()
    assert window.pages.currentWidget() is window.card_view


def test_down_arrow_then_enter_opens_second_hit(qtbot: Any, window: MainWindow) -> None:
    _search(qtbot, window, "martin")
    second = window.search_results_model.hit(1)
    assert second is not None
    qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Down)
    qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Down)
    qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Up)
    assert window.results_popup.current_row() == 1
    with qtbot.waitSignal(window.card_shown, timeout=5000) as shown:
        qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Enter)
    assert shown.args == [second.customer_id]


def test_enter_before_results_opens_best_hit_when_they_arrive(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    expected = demo_services.search.search("martin")[0].customer_id
    with qtbot.waitSignal(window.card_shown, timeout=5000) as shown:
        qtbot.keyClicks(window.search_bar.field, "martin")
        qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Return)  # within the debounce
    assert shown.args == [expected]


class _GatedSearch:
    """The real search, held back until the test opens the gate."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def search(self, text: str, limit: int = 30) -> Any:
        self.gate.wait(10)
        return self.inner.search(text, limit)


def test_a_screen_pop_wins_over_a_search_still_running(
    qtbot: Any, demo_services: Any, themed: None
) -> None:
    """Enter pressed on a search, then a call pops another card: the late search answer
    must not replace the caller's card."""
    searched = demo_services.search.search("martin")[0].customer_id
    caller = demo_services.search.search("Jocelyne Michu")[0].customer_id
    assert caller != searched
    gated = _GatedSearch(demo_services.search)
    window = MainWindow(gated, demo_services.cards)
    qtbot.addWidget(window)
    window.show()
    qtbot.keyClicks(window.search_bar.field, "martin")
    qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Return)
    assert window.show_customer(caller)
    gated.gate.set()
    for _ in range(3):  # the answer, then the card load it would start, then its display
        assert window.thread_pool.waitForDone(10_000)
        QCoreApplication.processEvents()
    assert window.cards.card is not None
    assert window.cards.card.customer.id == caller
    window.close()


def test_escape_clears_search(qtbot: Any, window: MainWindow) -> None:
    _search(qtbot, window, "paris")
    qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Escape)
    assert window.search_bar.text() == ""
    assert window.search_results_model.rowCount() == 0
    assert not window.results_popup.isVisible()


def test_no_match_says_so(qtbot: Any, window: MainWindow) -> None:
    _search(qtbot, window, "zzqxwv")
    assert window.search_results_model.rowCount() == 0
    assert window.results_popup.message.isVisible()


def test_ctrl_k_and_ctrl_f_focus_search(qtbot: Any, window: MainWindow, rich_card: Any) -> None:
    assert window.show_customer(rich_card.customer.id)
    table = window.card_view.timeline.table
    for key in (Qt.Key.Key_K, Qt.Key.Key_F):
        table.setFocus()
        qtbot.waitUntil(table.hasFocus)
        qtbot.keyClick(table, key, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(window.search_bar.field.hasFocus)


def test_show_search_prefills_and_lists(qtbot: Any, window: MainWindow) -> None:
    with qtbot.waitSignal(window.search_results_shown, timeout=5000) as shown:
        window.show_search("paris")
    assert window.search_bar.text() == "paris"
    assert shown.args[0] == "paris"
    assert window.search_results_model.rowCount() == shown.args[1] > 0


def test_show_customer_and_unknown_customer(window: MainWindow, rich_card: CustomerCard) -> None:
    assert window.show_customer(rich_card.customer.id)
    assert window.card_view.card == rich_card
    assert rich_card.customer.display_name in window.windowTitle()
    assert not window.show_customer(10_000_000)
    assert window.pages.currentWidget() is window.message


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen QPA only
def test_handle_request_from_second_launch(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    window.handle_request({"public_id": rich_card.customer.public_id})
    assert window.card_view.card is not None
    assert window.card_view.card.customer.id == rich_card.customer.id
    with qtbot.waitSignal(window.search_results_shown, timeout=5000):
        window.handle_request({"search": "martin"})


def test_timeline_fetches_more_when_scrolled(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    with qtbot.waitSignal(window.card_shown, timeout=5000):
        window.cards.open(rich_card.customer.id)  # the background path: first page comes along
    model = window.timeline_model
    assert model.rowCount() == model.page_size
    window.card_view.timeline.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() > model.page_size)


def test_channel_chip_filters_the_timeline(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    summary = min(rich_card.channels, key=lambda c: c.count)
    chip = window.card_view.timeline.strip.channel_button(summary.channel)
    assert chip is not None
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    model = window.timeline_model
    assert model.timeline_filter is not None
    assert model.timeline_filter.channels == {summary.channel}
    assert model.rowCount() == min(summary.count, model.page_size)
    assert {model.interaction(r).channel for r in range(model.rowCount())} == {summary.channel}  # type: ignore[union-attr]
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    assert model.timeline_filter is None


def test_selecting_an_interaction_shows_its_details(
    window: MainWindow, rich_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    panel = window.card_view.timeline
    panel.table.selectRow(0)
    item = window.timeline_model.interaction(0)
    assert item is not None
    assert panel.detail.title_label.text() == item.summary
    assert panel.detail.text.toPlainText() == (item.details or item.summary)


def test_do_not_contact_banner(window: MainWindow, dnc_card: CustomerCard) -> None:
    window.show_customer(dnc_card.customer.id)
    header = window.card_view.header
    titles = [
        banner.findChild(type(header.name_label), "BannerTitle").text()
        for banner in header.visible_banners()
    ]
    assert "DO NOT CONTACT" in titles


def test_copy_button_puts_value_on_clipboard(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    from customer_card.ui.widgets import CopyButton

    window.show_customer(rich_card.customer.id)
    button = window.card_view.contacts.findChildren(CopyButton)[0]
    with qtbot.waitSignal(window.card_view.copied):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == button.value


def test_a_customer_deleted_at_its_sources_says_so(
    window: MainWindow, rich_card: CustomerCard
) -> None:
    from dataclasses import replace

    from customer_card.domain.model import CustomerStatus

    header = window.card_view.header

    def titles() -> list[str]:
        return [
            banner.findChild(type(header.name_label), "BannerTitle").text()
            for banner in header.visible_banners()
        ]

    gone = replace(rich_card, customer=replace(rich_card.customer, status=CustomerStatus.DELETED))
    header.set_card(gone)
    assert titles()[0] == "Deleted at its sources"

    header.set_card(rich_card)
    assert "Deleted at its sources" not in titles()
