"""Small building blocks shared by the card: badges, avatar, section frames, copy buttons.

Colours come from the theme (.qss) through dynamic properties (``tone``), so a badge is
only ``Badge(text, tone="gold")`` here and its look lives in resources/themes/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from customer_card.ui.icons import icon

_AVATAR_COLOURS = ("#2563eb", "#0891b2", "#059669", "#7c3aed", "#db2777", "#ea580c", "#4f46e5")


def set_themed(widget: QWidget, name: str, value: object) -> None:
    """Change a property the style sheet selects on, and re-polish the widget only when the
    value really changed: polishing under an application style sheet is the costly part of
    showing a card, and most rows keep their look from one customer to the next."""
    if widget.property(name) == value:
        return
    widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


def set_tone(widget: QWidget, tone: str) -> None:
    """Change a badge's (or banner's) colour, as named in the theme."""
    set_themed(widget, "tone", tone)


def _show(widget: QWidget, visible: bool) -> None:
    """``setVisible`` only on a change: most rows keep their state from one card to the
    next, and each call crosses into Qt (a hundred rows per card)."""
    if widget.isHidden() == visible:
        widget.setVisible(visible)


RowT = TypeVar("RowT", bound=QWidget)
ItemT = TypeVar("ItemT")


class RowPool(Generic[RowT]):
    """The rows of one list on the card, kept from one customer to the next.

    ``fill(items, fill_row)`` updates the first rows in place, creating only the missing ones
    (filled before they are first shown, so each is polished and laid out once), and hides
    the others: deleting and re-creating widgets, with their style-sheet polish and first
    layout, costs far more than setting their texts.
    """

    def __init__(self, layout: QBoxLayout, factory: Callable[[], RowT], first: int = 0) -> None:
        self._layout = layout
        self._factory = factory
        self._first = first  # where the rows start in the layout
        self._rows: list[RowT] = []
        self._shown = 0

    def fill(self, items: Sequence[ItemT], fill_row: Callable[[RowT, ItemT], object]) -> None:
        while len(self._rows) < len(items):
            row = self._factory()
            row.hide()  # shown below, once filled
            self._layout.insertWidget(self._first + len(self._rows), row)
            self._rows.append(row)
        for row, item in zip(self._rows, items, strict=False):
            fill_row(row, item)
        for index, row in enumerate(self._rows):
            _show(row, index < len(items))
        self._shown = len(items)

    @property
    def shown(self) -> list[RowT]:
        return self._rows[: self._shown]


class GridRows(Generic[RowT]):
    """Like ``RowPool`` for a grid, whose columns line up across rows: each row is a tuple of
    cells made once; rows past the items have their cells hidden (an empty grid row takes no
    room)."""

    def __init__(
        self,
        grid: QGridLayout,
        factory: Callable[[], Sequence[RowT]],
        alignments: Sequence[Qt.AlignmentFlag] = (),
    ) -> None:
        self._grid = grid
        self._factory = factory
        self._alignments = alignments
        self._rows: list[Sequence[RowT]] = []

    def fill(
        self, items: Sequence[ItemT], fill_row: Callable[[Sequence[RowT], ItemT], object]
    ) -> None:
        while len(self._rows) < len(items):
            cells = self._factory()
            row = len(self._rows)
            for column, cell in enumerate(cells):
                cell.hide()
                align = self._alignments[column] if column < len(self._alignments) else None
                if align is None:
                    self._grid.addWidget(cell, row, column)
                else:
                    self._grid.addWidget(cell, row, column, align)
            self._rows.append(cells)
        for cells, item in zip(self._rows, items, strict=False):
            fill_row(cells, item)
        for index, cells in enumerate(self._rows):
            for cell in cells:
                _show(cell, index < len(items))


class Badge(QLabel):
    """A small rounded label; its colours come from ``QLabel[badge="true"][tone=...]``."""

    def __init__(self, text: str = "", tone: str = "neutral", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setProperty("badge", True)
        self.setProperty("tone", tone)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)


class BadgeRow(QWidget):
    """Small badges in a line, left-aligned (sources of a value, of a customer)."""

    def __init__(self, small: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._small = small
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3 if small else 4)
        layout.addStretch(1)
        self._badges = RowPool(layout, self._badge)

    def _badge(self) -> Badge:
        badge = Badge()
        badge.setProperty("small", self._small)
        return badge

    def set_badges(self, badges: Sequence[tuple[str, str, str]]) -> None:
        """(text, tone, tooltip) per badge."""
        self._badges.fill(badges, _fill_badge)

    def texts(self) -> list[str]:
        return [badge.text() for badge in self._badges.shown]


def _fill_badge(badge: Badge, spec: tuple[str, str, str]) -> None:
    text, tone, tooltip = spec
    badge.setText(text)
    set_tone(badge, tone)
    badge.setToolTip(tooltip)


class Avatar(QWidget):
    """A coloured circle with the customer's initials; the colour is stable per customer."""

    def __init__(self, diameter: int = 56, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._diameter = diameter
        self._initials = ""
        self._colour = QColor(_AVATAR_COLOURS[0])
        self.setFixedSize(diameter, diameter)

    def set_person(self, initials: str, seed: str) -> None:
        self._initials = initials[:2]
        digest = hashlib.sha1(seed.encode()).digest()[0]
        self._colour = QColor(_AVATAR_COLOURS[digest % len(_AVATAR_COLOURS)])
        self.setAccessibleName(initials)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(self._diameter, self._diameter)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._colour)
        painter.drawEllipse(self.rect().adjusted(1, 1, -1, -1))
        font = QFont(self.font())
        font.setPixelSize(int(self._diameter * 0.38))
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._initials)
        painter.end()


class Section(QFrame):
    """A white card with a title; rows go in ``body`` (made once, updated per customer)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Section")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 10, 14, 12)
        outer.setSpacing(6)
        header = QHBoxLayout()
        self.title_label = QLabel(title)
        self.title_label.setObjectName("SectionTitle")
        header.addWidget(self.title_label)
        header.addStretch(1)
        self.header_extra = header
        outer.addLayout(header)
        content = QWidget()
        content.setObjectName("SectionBody")
        self.body = QVBoxLayout(content)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(4)
        outer.addWidget(content)
        self.empty_label = muted("")
        self.empty_label.hide()
        self.body.addWidget(self.empty_label)

    def set_empty(self, text: str | None) -> None:
        """Say there is nothing to show (``None``: there is)."""
        if text:
            self.empty_label.setText(text)
        self.empty_label.setVisible(bool(text))


class CopyButton(QToolButton):
    """Copies one value to the clipboard and says so briefly in its tooltip."""

    copied = Signal(str)

    def __init__(self, value: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = value
        self.setObjectName("CopyButton")
        self.setIcon(icon("fa5s.copy"))
        self.setIconSize(QSize(12, 12))
        self.setAutoRaise(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(self.tr("Copy"))
        self.setAccessibleName(self.tr("Copy %1").replace("%1", value))
        self.clicked.connect(self._copy)

    @property
    def value(self) -> str:
        return self._value

    def set_value(self, value: str) -> None:
        self._value = value
        self.setAccessibleName(self.tr("Copy %1").replace("%1", value))

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self._value)
        self.setIcon(icon("fa5s.check", "#059669"))
        self.copied.emit(self._value)
        QTimer.singleShot(1200, self, self._restore)

    def _restore(self) -> None:
        self.setIcon(icon("fa5s.copy"))


class ElidedLabel(QLabel):
    """One line of text that shrinks with "…" instead of pushing its neighbours out of view;
    the whole text stays selectable through copy buttons and shown in the tooltip."""

    def __init__(
        self,
        text: str = "",
        object_name: str = "",
        parent: QWidget | None = None,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
    ):
        super().__init__(parent)
        if object_name:
            self.setObjectName(object_name)
        self._mode = mode
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        margins = self.contentsMargins()
        return QSize(
            metrics.horizontalAdvance(self._full) + margins.left() + margins.right() + 2,
            super().sizeHint().height(),
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 10)
        shown = self.fontMetrics().elidedText(self._full, self._mode, width)
        if shown != self.text():
            super().setText(shown)


class ActionButton(QToolButton):
    """A small flat icon button (edit, open…) with an accessible name."""

    def __init__(self, icon_name: str, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CopyButton")
        self.setIcon(icon(icon_name))
        self.setIconSize(QSize(12, 12))
        self.setAutoRaise(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(tooltip)
        self.setAccessibleName(tooltip)


def muted(text: str, selectable: bool = False) -> QLabel:
    label = QLabel(text)
    label.setProperty("muted", True)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def selectable(text: str, object_name: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if object_name:
        label.setObjectName(object_name)
    return label


def clear_layout(layout: QLayout) -> None:
    """Remove and delete every item of a layout, nested layouts included."""
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        widget = item.widget()
        nested = item.layout()
        if widget is not None:
            widget.hide()
            widget.deleteLater()
        elif nested is not None:
            clear_layout(nested)
            nested.deleteLater()
