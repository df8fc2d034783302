"""The interaction history of one customer, newest first, fetched page by page.

The model keeps the rows already fetched and asks the card service for the next page
(keyset: the last row's ``occurred_at`` and ``id``) only when the view scrolls near the
end, like Qt's "Fetch More" example. A filter (channel, kind, status, period, words) resets it.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont

from customer_card.domain.model import Interaction, TimelineCursor, TimelineFilter
from customer_card.ui.formatting import format_datetime, format_money
from customer_card.ui.icons import channel_icon
from customer_card.ui.labels import channel_label, direction_label, is_open_status, kind_label
from customer_card.ui.ports import CardPort

_Index = QModelIndex | QPersistentModelIndex

DEFAULT_PAGE_SIZE = 200
_OPEN_BACKGROUND = QColor(245, 158, 11, 38)  # translucent amber: readable on light and dark
_OPEN_FOREGROUND = QColor("#b45309")


class TimelineColumn(IntEnum):
    WHEN = 0
    CHANNEL = 1
    KIND = 2
    SUMMARY = 3
    STATUS = 4
    AMOUNT = 5


class TimelineRole(IntEnum):
    INTERACTION = Qt.ItemDataRole.UserRole + 1
    INTERACTION_ID = Qt.ItemDataRole.UserRole + 2
    CHANNEL = Qt.ItemDataRole.UserRole + 3
    OCCURRED_AT = Qt.ItemDataRole.UserRole + 4
    IS_OPEN = Qt.ItemDataRole.UserRole + 5


class TimelineModel(QAbstractTableModel):
    page_fetched = Signal(int)  # number of rows the last page added

    def __init__(
        self, cards: CardPort, page_size: int = DEFAULT_PAGE_SIZE, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._cards = cards
        self._page_size = page_size
        self._customer_id: int | None = None
        self._filter: TimelineFilter | None = None
        self._rows: list[Interaction] = []
        self._exhausted = True
        self._fetching = False
        self._bold = QFont()
        self._bold.setBold(True)

    # -- state -------------------------------------------------------------------------

    @property
    def customer_id(self) -> int | None:
        return self._customer_id

    @property
    def timeline_filter(self) -> TimelineFilter | None:
        return self._filter

    @property
    def page_size(self) -> int:
        return self._page_size

    def interaction(self, row: int) -> Interaction | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def set_customer(
        self,
        customer_id: int | None,
        first_page: list[Interaction] | None = None,
        timeline_filter: TimelineFilter | None = None,
    ) -> None:
        """Show another customer's history; ``first_page`` may come from a background load."""
        self.beginResetModel()
        self._customer_id = customer_id
        self._filter = _normalised(timeline_filter)
        self._rows = list(first_page or [])
        self._exhausted = customer_id is None or (
            first_page is not None and len(first_page) < self._page_size
        )
        self.endResetModel()
        if customer_id is not None and first_page is None:
            self.fetchMore(QModelIndex())

    def set_filter(self, timeline_filter: TimelineFilter | None) -> None:
        """Restart from the newest interaction matching the filter."""
        self.set_customer(self._customer_id, None, timeline_filter)

    def clear(self) -> None:
        self.set_customer(None)

    # -- paging ------------------------------------------------------------------------

    def canFetchMore(self, parent: _Index) -> bool:
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: _Index) -> None:
        if not self.canFetchMore(parent) or self._customer_id is None:
            return
        last = self._rows[-1] if self._rows else None
        cursor = TimelineCursor(last.occurred_at, last.id) if last else None
        self._fetching = True
        try:
            page = self._cards.timeline(
                self._customer_id, after=cursor, limit=self._page_size, filter=self._filter
            )
        finally:
            self._fetching = False
        self._exhausted = len(page) < self._page_size
        if page:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()
        self.page_fetched.emit(len(page))

    # -- table -------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(TimelineColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = {
            TimelineColumn.WHEN: self.tr("When"),
            TimelineColumn.CHANNEL: self.tr("Channel"),
            TimelineColumn.KIND: self.tr("What"),
            TimelineColumn.SUMMARY: self.tr("Summary"),
            TimelineColumn.STATUS: self.tr("Status"),
            TimelineColumn.AMOUNT: self.tr("Amount"),
        }
        return titles.get(TimelineColumn(section)) if 0 <= section < len(TimelineColumn) else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        item = self._rows[index.row()]
        column = TimelineColumn(index.column())
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return self._display(item, column)
            case Qt.ItemDataRole.DecorationRole if column == TimelineColumn.CHANNEL:
                return channel_icon(item.channel)
            case Qt.ItemDataRole.ToolTipRole:
                return self._tooltip(item, column)
            case Qt.ItemDataRole.TextAlignmentRole if column == TimelineColumn.AMOUNT:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            case Qt.ItemDataRole.BackgroundRole if is_open_status(item.status):
                return _OPEN_BACKGROUND
            case Qt.ItemDataRole.ForegroundRole if column == TimelineColumn.STATUS:
                return _OPEN_FOREGROUND if is_open_status(item.status) else None
            case Qt.ItemDataRole.FontRole if column == TimelineColumn.STATUS:
                return self._bold if is_open_status(item.status) else None
            case TimelineRole.INTERACTION:
                return item
            case TimelineRole.INTERACTION_ID:
                return item.id
            case TimelineRole.CHANNEL:
                return item.channel
            case TimelineRole.OCCURRED_AT:
                return item.occurred_at
            case TimelineRole.IS_OPEN:
                return is_open_status(item.status)
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        for role in TimelineRole:
            names[int(role)] = QByteArray(role.name.lower().encode())
        return names

    def _display(self, item: Interaction, column: TimelineColumn) -> str:
        match column:
            case TimelineColumn.WHEN:
                return format_datetime(item.occurred_at)
            case TimelineColumn.CHANNEL:
                return channel_label(item.channel)
            case TimelineColumn.KIND:
                direction = direction_label(item.direction)
                kind = kind_label(item.kind)
                return f"{kind} · {direction}" if direction else kind
            case TimelineColumn.SUMMARY:
                return item.summary
            case TimelineColumn.STATUS:
                return (item.status or "").replace("_", " ")
            case TimelineColumn.AMOUNT:
                return format_money(item.amount, item.currency) if item.amount is not None else ""

    def _tooltip(self, item: Interaction, column: TimelineColumn) -> str | None:
        if column == TimelineColumn.SUMMARY:
            return item.details or item.summary
        if item.author:
            return self.tr("Recorded in Customer Card by %1").replace("%1", item.author)
        return self.tr("Source: %1 #%2").replace("%1", item.source).replace("%2", item.source_id)


def _normalised(timeline_filter: TimelineFilter | None) -> TimelineFilter | None:
    """An empty filter is no filter: the service gets ``None``."""
    if timeline_filter is None or timeline_filter.empty:
        return None
    return timeline_filter
