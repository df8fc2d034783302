"""The top bar's search field and the results drop-down shown under it.

Pure views: they report what the user does (typed, moved, accepted, escaped, clicked)
and the search controller decides what happens.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QObject, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QVBoxLayout,
    QWidget,
)

from customer_card.ui.icons import ACCENT, icon
from customer_card.ui.search_delegate import ROW_HEIGHT, SearchHitDelegate
from customer_card.ui.widgets import muted

MAX_VISIBLE_ROWS = 8


class SearchBar(QFrame):
    text_changed = Signal(str)
    move_requested = Signal(int)  # +1 down, -1 up, ±page
    accept_requested = Signal()
    escape_requested = Signal()
    focus_lost = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TopBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.setSpacing(12)

        brand = QLabel()
        brand.setPixmap(icon("fa5s.id-card", ACCENT).pixmap(QSize(20, 20)))
        layout.addWidget(brand)
        title = QLabel(self.tr("Customer Card"))
        title.setObjectName("AppTitle")
        layout.addWidget(title)
        layout.addSpacing(12)

        self.field = QLineEdit()
        self.field.setObjectName("SearchField")
        self.field.setPlaceholderText(
            self.tr("Search a customer: name, phone, e-mail, card number, @handle, id, city")
        )
        self.field.addAction(icon("fa5s.search"), QLineEdit.ActionPosition.LeadingPosition)
        self.field.setClearButtonEnabled(True)
        self.field.setMinimumWidth(380)
        self.field.setMaximumWidth(760)
        self.field.textEdited.connect(self.text_changed)
        self.field.installEventFilter(self)
        layout.addWidget(self.field, 1)

        hint = muted(self.tr("Ctrl+K"))
        hint.setObjectName("ShortcutHint")
        layout.addWidget(hint)
        self.status = muted("")
        self.status.setObjectName("SearchStatus")
        layout.addWidget(self.status)
        layout.addStretch(0)

    def text(self) -> str:
        return self.field.text()

    def set_text(self, text: str) -> None:
        self.field.setText(text)

    def focus_field(self) -> None:
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.field and event.type() == QEvent.Type.FocusOut:
            self.focus_lost.emit()
        if watched is self.field and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            moves = {
                Qt.Key.Key_Down: 1,
                Qt.Key.Key_Up: -1,
                Qt.Key.Key_PageDown: MAX_VISIBLE_ROWS,
                Qt.Key.Key_PageUp: -MAX_VISIBLE_ROWS,
            }
            if key in moves:
                self.move_requested.emit(moves[Qt.Key(key)])
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept_requested.emit()
                return True
            if key == Qt.Key.Key_Escape:
                self.escape_requested.emit()
                return True
        return super().eventFilter(watched, event)


class ResultsPopup(QFrame):
    """A floating list under the search field, drawn over the card (a child, not a window)."""

    activated = Signal(int)  # row

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("ResultsPopup")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(0)
        self.list = QListView()
        self.list.setObjectName("Results")
        self.list.setItemDelegate(SearchHitDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setMouseTracking(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.clicked.connect(lambda index: self.activated.emit(index.row()))
        layout.addWidget(self.list)
        self.message = muted("")
        self.message.setObjectName("PopupMessage")
        self.message.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.message)
        self.hide()

    def current_row(self) -> int:
        index = self.list.currentIndex()
        return index.row() if index.isValid() else -1

    def set_current_row(self, row: int) -> None:
        model = self.list.model()
        if model is None or model.rowCount() == 0:
            return
        row = max(0, min(row, model.rowCount() - 1))
        index = model.index(row, 0, QModelIndex())
        self.list.setCurrentIndex(index)
        self.list.scrollTo(index)

    def show_rows(self, rows: int, message: str = "") -> None:
        self.list.setVisible(rows > 0)
        self.message.setVisible(bool(message))
        self.message.setText(message)
        list_height = min(rows, MAX_VISIBLE_ROWS) * ROW_HEIGHT + 2 if rows else 0
        self.list.setFixedHeight(list_height)
        message_height = self.message.sizeHint().height() if message else 0
        self.setFixedHeight(list_height + message_height + 8)
        self.show()
        self.raise_()

    def place_under(self, anchor: QWidget) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        bottom_left = anchor.mapTo(parent, anchor.rect().bottomLeft())
        width = max(anchor.width(), 620)
        width = min(width, parent.width() - bottom_left.x() - 8)
        self.move(bottom_left.x(), bottom_left.y() + 4)
        self.setFixedWidth(width)
