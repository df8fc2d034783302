"""The right side of the card: what's going on, the history table and its detail pane."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from customer_card.domain.model import CustomerCard, Interaction, TimelineFilter
from customer_card.ui.formatting import format_date, format_datetime, format_money
from customer_card.ui.icons import channel_icon
from customer_card.ui.labels import channel_label, direction_label, is_open_status, kind_label
from customer_card.ui.timeline_model import TimelineColumn, TimelineModel
from customer_card.ui.widgets import Badge, clear_layout, muted, selectable, set_tone


class ActivityStrip(QFrame):
    """Open count, one toggle per channel (count + last date) and "open only".

    Checked channels form the filter; none checked means every channel.
    """

    filter_changed = Signal(object)  # TimelineFilter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ActivityStrip")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(8)
        layout = QHBoxLayout()
        layout.setSpacing(8)
        outer.addLayout(layout)
        title = QLabel(self.tr("What's going on"))
        title.setObjectName("SectionTitle")
        layout.addWidget(title)
        self.open_badge = Badge("", "neutral")
        layout.addWidget(self.open_badge)
        self.total_label = muted("")
        layout.addWidget(self.total_label)
        layout.addStretch(1)
        self.open_only = QToolButton()
        self.open_only.setObjectName("FilterChip")
        self.open_only.setText(self.tr("Open only"))
        self.open_only.setCheckable(True)
        self.open_only.toggled.connect(self._emit)
        layout.addWidget(self.open_only)
        self._channel_row = QHBoxLayout()
        self._channel_row.setSpacing(6)
        outer.addLayout(self._channel_row)
        self._buttons: dict[str, QToolButton] = {}

    def set_card(self, card: CustomerCard) -> None:
        self.open_badge.setText(self.tr("%n open", "", card.open_interactions))
        set_tone(self.open_badge, "warning" if card.open_interactions else "neutral")
        self.total_label.setText(self.tr("%n interaction(s)", "", card.interaction_count))
        clear_layout(self._channel_row)
        self._buttons = {}
        self.open_only.blockSignals(True)
        self.open_only.setChecked(False)
        self.open_only.blockSignals(False)
        for summary in sorted(card.channels, key=lambda c: -c.count):
            button = QToolButton()
            button.setObjectName("FilterChip")
            button.setCheckable(True)
            button.setIcon(channel_icon(summary.channel))
            button.setIconSize(QSize(12, 12))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setText(f"{channel_label(summary.channel)}  {summary.count}")
            button.setToolTip(
                self.tr("%1: %2 interaction(s), last on %3")
                .replace("%1", channel_label(summary.channel))
                .replace("%2", str(summary.count))
                .replace("%3", format_date(summary.last_at) or "—")
            )
            button.toggled.connect(self._emit)
            self._channel_row.addWidget(button)
            self._buttons[summary.channel] = button
        self._channel_row.addStretch(1)

    def channel_button(self, channel: str) -> QToolButton | None:
        return self._buttons.get(channel)

    def current_filter(self) -> TimelineFilter:
        channels = frozenset(ch for ch, b in self._buttons.items() if b.isChecked())
        return TimelineFilter(
            channels=channels, status="open" if self.open_only.isChecked() else None
        )

    def _emit(self) -> None:
        self.filter_changed.emit(self.current_filter())


class InteractionDetail(QFrame):
    """Everything about the selected interaction."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DetailPane")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(6)
        head = QHBoxLayout()
        self.icon_label = QLabel()
        head.addWidget(self.icon_label)
        self.title_label = selectable("", "DetailTitle")
        head.addWidget(self.title_label, 1)
        self.status_badge = Badge("", "neutral")
        head.addWidget(self.status_badge)
        layout.addLayout(head)
        self.meta = QGridLayout()
        self.meta.setHorizontalSpacing(12)
        self.meta.setVerticalSpacing(2)
        self.meta.setColumnStretch(6, 1)
        layout.addLayout(self.meta)
        self.text = QPlainTextEdit()
        self.text.setObjectName("DetailText")
        self.text.setReadOnly(True)
        self.text.setFrameShape(QFrame.Shape.NoFrame)
        layout.addWidget(self.text, 1)
        self.set_interaction(None)

    def set_interaction(self, item: Interaction | None) -> None:
        clear_layout(self.meta)
        if item is None:
            self.icon_label.clear()
            self.title_label.setText(self.tr("Select an interaction to see its details"))
            self.status_badge.hide()
            self.text.setPlainText("")
            return
        self.icon_label.setPixmap(channel_icon(item.channel).pixmap(QSize(16, 16)))
        self.title_label.setText(f"{item.summary}")
        self.status_badge.setVisible(bool(item.status))
        self.status_badge.setText((item.status or "").replace("_", " "))
        set_tone(self.status_badge, "warning" if is_open_status(item.status) else "neutral")
        facts = [
            (self.tr("When"), format_datetime(item.occurred_at)),
            (self.tr("Channel"), channel_label(item.channel)),
            (self.tr("What"), kind_label(item.kind)),
            (self.tr("Direction"), direction_label(item.direction)),
            (self.tr("Amount"), format_money(item.amount, item.currency) if item.amount else ""),
            (self.tr("Source"), f"{item.source} #{item.source_id}"),
        ]
        shown = [(k, v) for k, v in facts if v]
        for index, (key, value) in enumerate(shown):
            row, col = divmod(index, 3)
            self.meta.addWidget(muted(key), row, col * 2)
            self.meta.addWidget(selectable(value), row, col * 2 + 1)
        self.text.setPlainText(item.details or item.summary)


class TimelinePanel(QWidget):
    filter_changed = Signal(object)  # TimelineFilter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.strip = ActivityStrip()
        self.strip.filter_changed.connect(self.filter_changed)
        layout.addWidget(self.strip)

        self.table = QTableView()
        self.table.setObjectName("Timeline")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setIconSize(QSize(13, 13))
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)

        self.detail = InteractionDetail()
        self.empty_label = muted(self.tr("No interaction matches."))
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.hide()

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.empty_label)
        splitter.addWidget(top)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 170])
        layout.addWidget(splitter, 1)
        self._model: TimelineModel | None = None

    def set_model(self, model: TimelineModel) -> None:
        self._model = model
        self.table.setModel(model)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        metrics = self.table.fontMetrics()
        widths = {
            TimelineColumn.WHEN: metrics.horizontalAdvance("00/00/0000 00:00") + 22,
            TimelineColumn.CHANNEL: metrics.horizontalAdvance("Support") + 48,
            TimelineColumn.KIND: metrics.horizontalAdvance("Ticket · outbound") + 20,
            TimelineColumn.STATUS: metrics.horizontalAdvance("in progress") + 24,
            TimelineColumn.AMOUNT: metrics.horizontalAdvance("12 345,00 €") + 24,
        }
        for column, width in widths.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(TimelineColumn.SUMMARY, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        model.modelReset.connect(self._on_reset)
        model.rowsInserted.connect(self._update_empty)

    def set_card(self, card: CustomerCard) -> None:
        self.strip.set_card(card)

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        item = self._model.interaction(indexes[0].row()) if indexes and self._model else None
        self.detail.set_interaction(item)

    def _on_reset(self) -> None:
        self.detail.set_interaction(None)
        self.table.scrollToTop()
        self._update_empty()

    def _update_empty(self, *_args: object) -> None:
        empty = self._model is None or self._model.rowCount(QModelIndex()) == 0
        self.empty_label.setVisible(empty)
        if not empty and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)  # the newest interaction is usually the one asked about
