"""Filtering and paging the timeline from the real window's filter bar."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QDate, QModelIndex, Qt

from customer_card.domain.model import CustomerCard, TimelineFilter
from customer_card.ui.dialogs import NoteDialog
from customer_card.ui.formatting import format_integer
from customer_card.ui.labels import is_open_status
from customer_card.ui.main_window import MainWindow
from customer_card.ui.timeline_model import TimelineModel
from tests.gui.conftest import Writable

ROOT = QModelIndex()


def _rows(model: TimelineModel) -> list[Any]:
    while model.canFetchMore(ROOT):
        model.fetchMore(ROOT)
    return [model.interaction(r) for r in range(model.rowCount())]


def test_kind_filter(window: MainWindow, rich_card: CustomerCard) -> None:
    window.show_customer(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    assert strip.kind.count() == len(rich_card.kinds) + 1
    kind = rich_card.kinds[0]
    strip.kind.setCurrentIndex(strip.kind.findData(kind))
    model = window.timeline_model
    assert model.timeline_filter is not None
    assert model.timeline_filter.kinds == {kind}
    rows = _rows(model)
    assert rows
    assert {r.kind for r in rows} == {kind}
    strip.kind.setCurrentIndex(0)
    assert model.timeline_filter is None


def test_status_filter_open(window: MainWindow, open_card: CustomerCard) -> None:
    window.show_customer(open_card.customer.id)
    strip = window.card_view.timeline.strip
    strip.status.setCurrentIndex(strip.status.findData("open"))
    rows = _rows(window.timeline_model)
    assert len(rows) == open_card.open_interactions
    assert all(is_open_status(r.status) for r in rows)


def test_custom_date_range(window: MainWindow, rich_card: CustomerCard) -> None:
    window.show_customer(rich_card.customer.id)
    model = window.timeline_model
    everything = _rows(model)
    middle = everything[len(everything) // 2].occurred_at.astimezone().date()
    first, last = middle - timedelta(days=60), middle
    strip = window.card_view.timeline.strip
    strip.period.setCurrentIndex(strip.period.findData(-1))
    assert strip.since.isVisible()
    strip.since.setDate(QDate(first.year, first.month, first.day))
    strip.until.setDate(QDate(last.year, last.month, last.day))
    rows = _rows(model)
    expected = [i for i in everything if first <= i.occurred_at.astimezone().date() <= last]
    assert rows == expected
    assert rows


def test_last_days_period(window: MainWindow, rich_card: CustomerCard) -> None:
    window.show_customer(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    strip.period.setCurrentIndex(strip.period.findData(365))
    since = window.timeline_model.timeline_filter.since  # type: ignore[union-attr]
    assert since is not None
    assert since.date() == date.today() - timedelta(days=365)
    assert all(r.occurred_at >= since for r in _rows(window.timeline_model))


def test_free_text_search_in_the_history(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    model = window.timeline_model
    everything = _rows(model)
    word = next(w for i in everything for w in i.summary.split() if len(w) >= 6 and w.isalpha())
    strip = window.card_view.timeline.strip
    with qtbot.waitSignal(model.modelReset, timeout=3000):
        qtbot.keyClicks(strip.search, word.upper())  # debounced, case-insensitive
    rows = _rows(model)
    expected = [
        i for i in everything if word.lower() in (i.summary + " " + (i.details or "")).lower()
    ]
    assert rows == expected
    qtbot.keyClicks(strip.search, " zzqxw")
    qtbot.keyClick(strip.search, Qt.Key.Key_Return)  # Enter searches at once
    assert model.rowCount() == 0
    assert window.card_view.timeline.empty_label.isVisible()


def test_filters_combine_and_page(window: MainWindow, rich_card: CustomerCard) -> None:
    window.show_customer(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    busiest = max(rich_card.channels, key=lambda c: c.count)
    chip = strip.channel_button(busiest.channel)
    assert chip is not None
    chip.setChecked(True)
    model = window.timeline_model
    first_page = model.rowCount()
    assert first_page == min(busiest.count, model.page_size)
    rows = _rows(model)
    assert len(rows) == busiest.count
    kinds = {r.kind for r in rows}
    strip.kind.setCurrentIndex(strip.kind.findData(sorted(kinds)[0]))
    narrowed = _rows(model)
    assert narrowed
    assert {(r.channel, r.kind) for r in narrowed} == {(busiest.channel, sorted(kinds)[0])}
    keys = [(r.occurred_at, r.id) for r in narrowed]
    assert keys == sorted(keys, reverse=True), "newest first across pages"


def test_new_card_resets_the_filters(
    window: MainWindow, rich_card: CustomerCard, open_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    strip.search.setText("commande")
    strip.status.setCurrentIndex(1)
    window.show_customer(open_card.customer.id)
    assert strip.search.text() == ""
    assert strip.status.currentIndex() == 0
    assert window.timeline_model.timeline_filter is None


def test_filtered_timeline_and_recent_list_pass_modeltester(
    qtmodeltester: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    strip.kind.setCurrentIndex(1)
    strip.search.setText(rich_card.kinds[0][:3])
    strip.search.returnPressed.emit()
    qtmodeltester.check(window.timeline_model)
    window.show_recent()
    qtmodeltester.check(window.search_results_model)


def test_a_note_keeps_the_timeline_filter(
    qtbot: Any, acting_window: MainWindow, writable: Writable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card refreshes after a note (new counts, the new item) without dropping the filter
    the advisor set: channel, status, words."""
    customer_id = writable.search.search("Jocelyne Michu", limit=1)[0].customer_id
    with qtbot.waitSignals([acting_window.card_shown, acting_window.cards.related_shown]):
        acting_window.cards.open(customer_id)
    before = acting_window.card_view.card
    assert before is not None
    strip = acting_window.card_view.timeline.strip
    chip = strip.channel_button("web")
    assert chip is not None
    chip.setChecked(True)
    strip.status.setCurrentIndex(strip.status.findData("closed"))
    strip.search.setText("commande")
    strip.search.returnPressed.emit()
    model = acting_window.timeline_model
    wanted = model.timeline_filter
    assert wanted is not None
    assert wanted.channels == {"web"}
    filtered = _rows(model)
    assert filtered

    monkeypatch.setattr(NoteDialog, "ask", lambda parent, name: "Parcel left at the Lyon store")
    with qtbot.waitSignals([acting_window.action_saved, acting_window.card_shown], timeout=5000):
        acting_window.card_actions.add_note()

    after = acting_window.card_view.card
    assert after is not None
    assert after.interaction_count == before.interaction_count + 1
    assert strip.total_label.text().startswith(format_integer(after.interaction_count))
    assert model.timeline_filter == wanted
    assert strip.current_filter() == wanted
    assert strip.channel_button("web") is not None
    assert strip.channel_button("web").isChecked()  # type: ignore[union-attr]
    assert strip.search.text() == "commande"
    assert _rows(model) == filtered, "the note is not a closed web order: filtered out"
    # Kinds come back after the refresh, the kind list still there meanwhile.
    assert strip.kind.count() == len(before.kinds) + 1

    strip.search.clear()
    strip.status.setCurrentIndex(0)
    chip.setChecked(False)
    assert model.timeline_filter is None
    newest = model.interaction(0)
    assert newest is not None
    assert (newest.kind, newest.summary) == ("note", "Parcel left at the Lyon store")


def test_a_filter_changed_during_a_refresh_wins(
    qtbot: Any, acting_window: MainWindow, writable: Writable
) -> None:
    customer_id = writable.search.search("Jocelyne Michu", limit=1)[0].customer_id
    with qtbot.waitSignal(acting_window.card_shown):
        acting_window.cards.open(customer_id)
    strip = acting_window.card_view.timeline.strip
    strip.status.setCurrentIndex(strip.status.findData("open"))
    with qtbot.waitSignal(acting_window.card_shown):
        acting_window.cards.refresh(customer_id)  # loads the first page for "open"…
        strip.status.setCurrentIndex(strip.status.findData("closed"))  # …the advisor moves on
    model = acting_window.timeline_model
    assert model.timeline_filter is not None
    assert model.timeline_filter.status == "closed"
    assert strip.status.currentData() == "closed"
    rows = _rows(model)
    assert rows
    assert all(r.status == "closed" for r in rows)


def test_opening_another_card_is_not_a_refresh(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard, open_card: CustomerCard
) -> None:
    with qtbot.waitSignal(window.card_shown):
        window.cards.open(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    strip.status.setCurrentIndex(strip.status.findData("closed"))
    with qtbot.waitSignal(window.card_shown):
        window.cards.refresh(open_card.customer.id)  # not the card on screen: a plain open
    assert window.timeline_model.timeline_filter is None
    assert strip.status.currentIndex() == 0


def test_open_items_are_the_newest_open_ones(demo_services: Any) -> None:
    """The card's "Open now" list: the newest open items, as the filtered timeline has them."""
    checked = 0
    for customer_id in range(1, 300):
        card = demo_services.cards.load(customer_id)
        if card is None or not card.open_interactions:
            continue
        newest = demo_services.cards.timeline(customer_id, None, 5, TimelineFilter(status="open"))
        assert list(card.open_items) == newest
        checked += 1
    assert checked >= 5
