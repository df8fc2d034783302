"""The two Qt models over the real demo cache: qtmodeltester, paging and filtering."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from customer_card.domain.model import CustomerCard, TimelineFilter
from customer_card.ui.labels import is_open_status
from customer_card.ui.search_model import SearchResultsModel, SearchRole
from customer_card.ui.timeline_model import TimelineColumn, TimelineModel, TimelineRole

ROOT = QModelIndex()


def _fetch_all(model: TimelineModel) -> None:
    while model.canFetchMore(ROOT):
        model.fetchMore(ROOT)


def test_search_model_passes_modeltester(qtmodeltester: Any, demo_services: Any) -> None:
    hits = demo_services.search.search("martin")
    assert hits
    model = SearchResultsModel()
    model.set_results("martin", hits)
    qtmodeltester.check(model)
    assert model.rowCount() == len(hits)
    first = model.index(0, 0)
    assert first.data(Qt.ItemDataRole.DisplayRole) == hits[0].name
    assert first.data(SearchRole.CUSTOMER_ID) == hits[0].customer_id
    assert first.data(SearchRole.SOURCES) == list(hits[0].sources)
    assert model.query == "martin"
    model.clear()
    assert model.rowCount() == 0
    qtmodeltester.check(model)


def test_timeline_model_passes_modeltester(
    qtmodeltester: Any, demo_services: Any, rich_card: CustomerCard
) -> None:
    model = TimelineModel(demo_services.cards, page_size=50)
    model.set_customer(rich_card.customer.id)
    qtmodeltester.check(model)
    model.clear()
    qtmodeltester.check(model)


def test_timeline_pages_newest_first_until_exhausted(
    qtbot: Any, demo_services: Any, rich_card: CustomerCard
) -> None:
    model = TimelineModel(demo_services.cards, page_size=200)
    model.set_customer(rich_card.customer.id)
    assert model.rowCount() == 200
    assert model.canFetchMore(ROOT)
    with qtbot.waitSignal(model.page_fetched) as fetched:
        model.fetchMore(ROOT)
    assert fetched.args == [200]
    assert model.rowCount() == 400
    _fetch_all(model)
    assert model.rowCount() == rich_card.interaction_count
    assert not model.canFetchMore(ROOT)
    rows = [model.interaction(r) for r in range(model.rowCount())]
    keys = [(r.occurred_at, r.id) for r in rows if r is not None]
    assert keys == sorted(keys, reverse=True)
    assert len({r.id for r in rows if r is not None}) == len(rows)


def test_timeline_channel_filter_narrows(demo_services: Any, rich_card: CustomerCard) -> None:
    summary = min(rich_card.channels, key=lambda c: c.count)
    model = TimelineModel(demo_services.cards)
    model.set_customer(rich_card.customer.id)
    model.set_filter(TimelineFilter(channels=frozenset({summary.channel})))
    _fetch_all(model)
    assert model.rowCount() == summary.count
    channels = {model.index(r, 0).data(TimelineRole.CHANNEL) for r in range(model.rowCount())}
    assert channels == {summary.channel}
    model.set_filter(TimelineFilter())
    assert model.timeline_filter is None  # an empty filter is no filter


def test_timeline_open_filter_and_highlight(demo_services: Any, open_card: CustomerCard) -> None:
    model = TimelineModel(demo_services.cards)
    model.set_customer(open_card.customer.id, timeline_filter=TimelineFilter(status="open"))
    _fetch_all(model)
    assert model.rowCount() == open_card.open_interactions
    for row in range(model.rowCount()):
        assert model.index(row, 0).data(TimelineRole.IS_OPEN)
        status = model.index(row, TimelineColumn.STATUS)
        assert is_open_status(status.data())
        assert status.data(Qt.ItemDataRole.BackgroundRole) is not None


def test_timeline_columns_show_money_and_channel(
    demo_services: Any, rich_card: CustomerCard
) -> None:
    model = TimelineModel(demo_services.cards)
    model.set_customer(rich_card.customer.id)
    _fetch_all(model)
    paid = next(
        r
        for r in range(model.rowCount())
        if model.interaction(r).amount  # type: ignore[union-attr]
    )
    amount = model.index(paid, TimelineColumn.AMOUNT).data()
    assert amount.endswith("€")
    assert "," in amount
    assert model.index(paid, TimelineColumn.CHANNEL).data(Qt.ItemDataRole.DecorationRole)
    assert model.headerData(0, Qt.Orientation.Horizontal) == "When"
