"""The right side of the card: what's going on, the history table and its detail pane."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from html import escape

from PySide6.QtCore import QDate, QItemSelection, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from customer_card.domain.model import ChannelSummary, CustomerCard, Interaction, TimelineFilter
from customer_card.services.cards import OrderLine
from customer_card.ui.formatting import format_date, format_datetime, format_integer, format_money
from customer_card.ui.icons import channel_icon, icon
from customer_card.ui.labels import (
    channel_label,
    direction_label,
    is_open_status,
    kind_label,
    source_label,
)
from customer_card.ui.timeline_model import TimelineColumn, TimelineModel
from customer_card.ui.widgets import Badge, RowPool, muted, selectable, set_tone


class ActivityStrip(QFrame):
    """What's going on (open count, actions), one toggle per channel, then the other filters:
    kind, status, period and words to find in the history.

    Checked channels form the channel filter; none checked means every channel.
    """

    filter_changed = Signal(object)  # TimelineFilter
    note_requested = Signal()
    call_requested = Signal()

    PERIODS = (("any", 0), ("7d", 7), ("30d", 30), ("12m", 365), ("custom", -1))

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
        self.note_button = self._action_button(
            "fa5s.sticky-note", self.tr("Note"), self.tr("Add a note (Ctrl+N)")
        )
        self.note_button.clicked.connect(self.note_requested)
        layout.addWidget(self.note_button)
        self.call_button = self._action_button(
            "fa5s.phone", self.tr("Log call"), self.tr("Log the outcome of the call (Ctrl+L)")
        )
        self.call_button.clicked.connect(self.call_requested)
        layout.addWidget(self.call_button)

        self._channel_row = QHBoxLayout()
        self._channel_row.setSpacing(6)
        self._channel_row.addStretch(1)
        outer.addLayout(self._channel_row)
        self._chips = RowPool(self._channel_row, self._new_chip)
        self._buttons: dict[str, QToolButton] = {}
        self._checked: set[str] = set()  # channels to keep checked while refilling the chips

        filters = QHBoxLayout()
        filters.setSpacing(6)
        outer.addLayout(filters)
        self.search = QLineEdit()
        self.search.setObjectName("HistorySearch")
        self.search.setPlaceholderText(self.tr("Find in the history…"))
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icon("fa5s.search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(120)
        filters.addWidget(self.search, 2)
        self.kind = QComboBox()
        self.kind.setObjectName("KindFilter")
        self.kind.setToolTip(self.tr("Kind of interaction"))
        filters.addWidget(self.kind, 1)
        self.status = QComboBox()
        self.status.setObjectName("StatusFilter")
        for text, value in (
            (self.tr("Any status"), None),
            (self.tr("Open"), "open"),
            (self.tr("Closed"), "closed"),
        ):
            self.status.addItem(text, value)
        filters.addWidget(self.status, 1)
        self.period = QComboBox()
        self.period.setObjectName("PeriodFilter")
        labels = {
            "any": self.tr("Any time"),
            "7d": self.tr("Last 7 days"),
            "30d": self.tr("Last 30 days"),
            "12m": self.tr("Last 12 months"),
            "custom": self.tr("Between…"),
        }
        for code, days in self.PERIODS:
            self.period.addItem(labels[code], days)
        filters.addWidget(self.period, 1)
        self.since = _date_edit()
        self.until = _date_edit()
        filters.addWidget(self.since)
        filters.addWidget(self.until)
        self.since.hide()
        self.until.hide()

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self._emit)
        self.search.textEdited.connect(lambda _text: self._debounce.start())
        self.search.returnPressed.connect(self._emit_now)
        self.kind.currentIndexChanged.connect(self._emit)
        self.status.currentIndexChanged.connect(self._emit)
        self.period.currentIndexChanged.connect(self._on_period)
        self.since.dateChanged.connect(self._emit)
        self.until.dateChanged.connect(self._emit)
        self._today = date.today()

    def _action_button(self, icon_name: str, text: str, tooltip: str) -> QToolButton:
        button = QToolButton()
        button.setObjectName("CardAction")
        button.setIcon(icon(icon_name, "#2563eb"))
        button.setIconSize(QSize(12, 12))
        button.setText(text)
        button.setToolTip(tooltip)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        return button

    def _new_chip(self) -> QToolButton:
        button = QToolButton()
        button.setObjectName("FilterChip")
        button.setCheckable(True)
        button.setIconSize(QSize(12, 12))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.toggled.connect(self._emit)
        return button

    def set_card(
        self, card: CustomerCard, today: date | None = None, keep_filters: bool = False
    ) -> None:
        """A new card starts unfiltered; the same card refreshed (``keep_filters``) keeps what
        the advisor chose: channels, kind, status, period and words."""
        self.open_badge.setText(self.tr("%n open", "", card.open_interactions))
        set_tone(self.open_badge, "warning" if card.open_interactions else "neutral")
        self.total_label.setText(
            self.tr("%n interaction(s)", "", card.interaction_count).replace(
                str(card.interaction_count), format_integer(card.interaction_count), 1
            )
        )
        if keep_filters:
            self._checked = {ch for ch, b in self._buttons.items() if b.isChecked()}
            self.set_kinds(card.kinds)
        else:
            self._today = today or date.today()
            self._clear_filters(card)
            self._checked = set()
        self._buttons = {}
        self._chips.fill(sorted(card.channels, key=lambda c: -c.count), self._fill_chip)

    def _clear_filters(self, card: CustomerCard) -> None:
        widgets = (self.search, self.kind, self.status, self.period, self.since, self.until)
        for widget in widgets:
            widget.blockSignals(True)
        self._debounce.stop()
        self.search.clear()
        self._fill_kinds(card.kinds)
        self.status.setCurrentIndex(0)
        self.period.setCurrentIndex(0)
        self.since.setDate(_qdate(self._today - timedelta(days=30)))
        self.until.setDate(_qdate(self._today))
        self.since.hide()
        self.until.hide()
        for widget in widgets:
            widget.blockSignals(False)

    def _fill_chip(self, button: QToolButton, summary: ChannelSummary) -> None:
        button.blockSignals(True)  # filling is not choosing: no filter_changed
        button.setChecked(summary.channel in self._checked)
        button.blockSignals(False)
        button.setIcon(channel_icon(summary.channel))
        button.setText(f"{channel_label(summary.channel)}  {format_integer(summary.count)}")
        button.setToolTip(
            self.tr("%1: %2 interaction(s), last on %3")
            .replace("%1", channel_label(summary.channel))
            .replace("%2", format_integer(summary.count))
            .replace("%3", format_date(summary.last_at) or "—")
        )
        self._buttons[summary.channel] = button

    def _fill_kinds(self, kinds: tuple[str, ...]) -> None:
        self.kind.clear()
        self.kind.addItem(self.tr("Every kind"), None)
        for kind in kinds:
            self.kind.addItem(kind_label(kind), kind)

    def set_kinds(self, kinds: tuple[str, ...]) -> None:
        """The kinds present in the history, known after the card: keep the kind chosen, if
        any (an unknown one stays as the filter until changed)."""
        chosen = self.kind.currentData()
        self.kind.blockSignals(True)
        self._fill_kinds(kinds)
        if isinstance(chosen, str):
            index = self.kind.findData(chosen)
            if index < 0:
                self.kind.addItem(kind_label(chosen), chosen)
                index = self.kind.count() - 1
            self.kind.setCurrentIndex(index)
        self.kind.blockSignals(False)

    def show_kind(self, kind: str) -> None:
        """Filter the history to one kind (e.g. the orders, from the products bought)."""
        index = self.kind.findData(kind)
        if index < 0:
            self.kind.addItem(kind_label(kind), kind)
            index = self.kind.count() - 1
        if index == self.kind.currentIndex():
            self._emit()
        else:
            self.kind.setCurrentIndex(index)  # emits the filter

    def channel_button(self, channel: str) -> QToolButton | None:
        return self._buttons.get(channel)

    def current_filter(self) -> TimelineFilter:
        channels = frozenset(ch for ch, b in self._buttons.items() if b.isChecked())
        kind = self.kind.currentData()
        status = self.status.currentData()
        since = until = None
        days = self.period.currentData()
        if isinstance(days, int) and days > 0:
            since = _start_of(self._today - timedelta(days=days))
        elif days == -1:
            first, last = self.since.date().toPython(), self.until.date().toPython()
            assert isinstance(first, date)
            assert isinstance(last, date)
            first, last = min(first, last), max(first, last)
            since, until = _start_of(first), _start_of(last + timedelta(days=1))
        return TimelineFilter(
            channels=channels,
            status=status if isinstance(status, str) else None,
            kinds=frozenset({kind}) if isinstance(kind, str) else frozenset(),
            since=since,
            until=until,
            text=self.search.text().strip(),
        )

    def _on_period(self) -> None:
        custom = self.period.currentData() == -1
        self.since.setVisible(custom)
        self.until.setVisible(custom)
        self._emit()

    def _emit_now(self) -> None:
        self._debounce.stop()
        self._emit()

    def _emit(self) -> None:
        self._debounce.stop()
        self.filter_changed.emit(self.current_filter())


def _date_edit() -> QDateEdit:
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("dd/MM/yyyy")
    return edit


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _start_of(day: date) -> datetime:
    """Local midnight of ``day`` as an aware datetime (the cache compares in UTC)."""
    return datetime(day.year, day.month, day.day).astimezone()


_MAX_FACTS = 7


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
        # Up to seven facts, three per line: (caption, value) pairs made once.
        self._facts: list[tuple[QLabel, QLabel]] = []
        for index in range(_MAX_FACTS):
            row, col = divmod(index, 3)
            pair = (muted(""), selectable(""))
            self.meta.addWidget(pair[0], row, col * 2)
            self.meta.addWidget(pair[1], row, col * 2 + 1)
            self._facts.append(pair)
        # An order's lines, read in the background once the order is selected.
        self.lines = QLabel()
        self.lines.setObjectName("DetailLines")
        self.lines.setTextFormat(Qt.TextFormat.RichText)
        self.lines.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Not wrapped, its width not asked for: a wrapped label's minimum height (laid out at
        # its narrowest) would push the history table out of the splitter.
        self.lines.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.lines.hide()
        layout.addWidget(self.lines)
        self._item: Interaction | None = None
        self._lines: tuple[OrderLine, ...] = ()
        self.text = QPlainTextEdit()
        self.text.setObjectName("DetailText")
        self.text.setReadOnly(True)
        self.text.setFrameShape(QFrame.Shape.NoFrame)
        self.text.setMinimumHeight(40)  # scrolls: the history table keeps the room
        layout.addWidget(self.text, 1)
        self.set_interaction(None)

    def set_interaction(self, item: Interaction | None) -> None:
        self._item = item
        self._lines = ()
        self.lines.hide()
        if item is None:
            self._show_facts([])
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
            (self.tr("Source"), _source_text(item)),
            (self.tr("By"), item.author or ""),
        ]
        self._show_facts([(k, v) for k, v in facts if v])
        self.text.setPlainText(item.details or item.summary)

    def set_lines(self, interaction_id: int, lines: tuple[OrderLine, ...]) -> bool:
        """Show an order's lines; ignored if another interaction is selected since."""
        if self._item is None or self._item.id != interaction_id:
            return False
        self._lines = lines
        self.lines.setVisible(bool(lines))
        if lines:
            self.lines.setText(_lines_html(lines, self._item.currency))
        return True

    def order_lines(self) -> tuple[OrderLine, ...]:
        """The lines on show (empty when the selection has none)."""
        return self._lines

    def _show_facts(self, facts: list[tuple[str, str]]) -> None:
        for index, (caption, value) in enumerate(self._facts):
            shown = index < len(facts)
            if shown:
                caption.setText(facts[index][0])
                value.setText(facts[index][1])
            caption.setVisible(shown)
            value.setVisible(shown)

    def facts(self) -> list[tuple[str, str]]:
        """The (caption, value) pairs on show, in reading order."""
        return [(c.text(), v.text()) for c, v in self._facts if not c.isHidden()]


def _lines_html(lines: tuple[OrderLine, ...], currency: str | None) -> str:
    """An order's lines as a small table: quantity, product (category), unit price, total."""
    rows = []
    for line in lines:
        price = line.unit_price
        total = None if price is None else price * line.quantity
        what = escape(line.name)
        if line.category:
            what += f" <small>· {escape(line.category)}</small>"
        money = line.currency or currency
        rows.append(
            "<tr>"
            f'<td align="right" width="6%">{line.quantity}&nbsp;×</td>'
            f'<td width="64%">{what}</td>'
            f'<td align="right" width="15%">{escape(format_money(price, money))}</td>'
            f'<td align="right" width="15%"><b>{escape(format_money(total, money))}</b></td>'
            "</tr>"
        )
    return '<table cellspacing="0" cellpadding="2" width="100%">' + "".join(rows) + "</table>"


class TimelinePanel(QWidget):
    filter_changed = Signal(object)  # TimelineFilter
    lines_wanted = Signal(int)  # interaction id: an order was selected, its lines are wanted

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

    def set_card(self, card: CustomerCard, keep_filters: bool = False) -> None:
        self.strip.set_card(card, keep_filters=keep_filters)

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        item = self._model.interaction(indexes[0].row()) if indexes and self._model else None
        self.detail.set_interaction(item)
        if item is not None and (item.kind == "order" or item.amount is not None):
            self.lines_wanted.emit(item.id)

    def _on_reset(self) -> None:
        self.detail.set_interaction(None)
        self.table.scrollToTop()
        self._update_empty()

    def _update_empty(self, *_args: object) -> None:
        empty = self._model is None or self._model.rowCount(QModelIndex()) == 0
        self.empty_label.setVisible(empty)
        if not empty and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)  # the newest interaction is usually the one asked about


def _source_text(item: Interaction) -> str:
    if item.source == "local":
        return source_label(item.source)
    return f"{source_label(item.source)} #{item.source_id}"
