"""The type-ahead results: one row per SearchHit, best first."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from customer_card.domain.model import SearchHit
from customer_card.ui.formatting import format_date

_Index = QModelIndex | QPersistentModelIndex


class SearchRole(IntEnum):
    HIT = Qt.ItemDataRole.UserRole + 1
    CUSTOMER_ID = Qt.ItemDataRole.UserRole + 2
    PUBLIC_ID = Qt.ItemDataRole.UserRole + 3
    CITY = Qt.ItemDataRole.UserRole + 4
    BIRTH_YEAR = Qt.ItemDataRole.UserRole + 5
    TIER = Qt.ItemDataRole.UserRole + 6
    VIP = Qt.ItemDataRole.UserRole + 7
    LAST_CONTACT = Qt.ItemDataRole.UserRole + 8
    SOURCES = Qt.ItemDataRole.UserRole + 9
    MATCHED = Qt.ItemDataRole.UserRole + 10


class SearchResultsModel(QAbstractListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._hits: list[SearchHit] = []
        self._query = ""

    @property
    def query(self) -> str:
        """The text these results answer."""
        return self._query

    def set_results(self, query: str, hits: list[SearchHit]) -> None:
        self.beginResetModel()
        self._query = query
        self._hits = list(hits)
        self.endResetModel()

    def clear(self) -> None:
        self.set_results("", [])

    def hit(self, row: int) -> SearchHit | None:
        return self._hits[row] if 0 <= row < len(self._hits) else None

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self._hits):
            return None
        hit = self._hits[index.row()]
        match role:
            case Qt.ItemDataRole.DisplayRole:
                return hit.name
            case Qt.ItemDataRole.ToolTipRole:
                return self._tooltip(hit)
            case SearchRole.HIT:
                return hit
            case SearchRole.CUSTOMER_ID:
                return hit.customer_id
            case SearchRole.PUBLIC_ID:
                return hit.public_id
            case SearchRole.CITY:
                return hit.city
            case SearchRole.BIRTH_YEAR:
                return hit.birth_year
            case SearchRole.TIER:
                return hit.loyalty_tier
            case SearchRole.VIP:
                return hit.vip
            case SearchRole.LAST_CONTACT:
                return hit.last_contact_at
            case SearchRole.SOURCES:
                return list(hit.sources)
            case SearchRole.MATCHED:
                return hit.matched
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        for role in SearchRole:
            names[int(role)] = QByteArray(role.name.lower().encode())
        return names

    def _tooltip(self, hit: SearchHit) -> str:
        parts = [hit.name, hit.public_id]
        if hit.city:
            parts.append(hit.city)
        if hit.birth_year:
            parts.append(self.tr("born %1").replace("%1", str(hit.birth_year)))
        if hit.last_contact_at:
            parts.append(self.tr("last contact %1").replace("%1", format_date(hit.last_contact_at)))
        parts.append(self.tr("matched on: %1").replace("%1", hit.matched))
        return "\n".join(parts)
