"""Filtering and paging the timeline from the real window's filter bar."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QDate, QModelIndex, Qt

from customer_card.domain.model import CustomerCard
from customer_card.ui.labels import is_open_status
from customer_card.ui.main_window import MainWindow
from customer_card.ui.timeline_model import TimelineModel

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
