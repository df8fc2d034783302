"""What the window shows of syncs: a corner of the status bar (progress, the last result, "Sync
now"), the per-source status dialog and the quarantine dialog, each list through a Qt model."""

from __future__ import annotations

import json
from datetime import datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from customer_card.services.ingest import IngestReport
from customer_card.services.sync_runner import SyncProgress, SyncSummary
from customer_card.services.sync_status import (
    QUARANTINE_LIMIT,
    QuarantineEntry,
    SourceStatus,
    SyncOverview,
)
from customer_card.ui.formatting import format_datetime, format_integer, local
from customer_card.ui.icons import ACCENT, MUTED, icon
from customer_card.ui.sync_controller import SyncController
from customer_card.ui.widgets import muted

_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_DANGER = "#b91c1c"
_SUCCESS = "#15803d"
MAX_STATUS_CHARS = 140
MAX_ERROR_CHARS = 56  # an error in the status bar; the whole of it is in the tooltip
MAX_STATE_WIDTH = 820  # px: the status bar keeps room for messages on its left


def _tr(text: str, n: int = -1) -> str:
    return QCoreApplication.translate("SyncStatus", text, None, n)


# -- the words of the status bar -----------------------------------------------------------


def progress_text(progress: SyncProgress) -> str:
    """ "Syncing crm/customers — 12 400 records…" """
    return (
        _tr("Syncing %1/%2 — %3 records…")
        .replace("%1", progress.source)
        .replace("%2", progress.stream)
        .replace("%3", format_integer(progress.read))
    )


def changes_text(summary: SyncSummary) -> str:
    """ "12 new, 1 204 updated, 3 quarantined", or "nothing changed"."""
    parts = [
        template.replace("%1", format_integer(summary.total(outcome)))
        for outcome, template in (
            ("inserted", _tr("%1 new")),
            ("updated", _tr("%1 updated")),
            ("deleted", _tr("%1 deleted")),
            ("quarantined", _tr("%1 quarantined")),
            # Records corrected into someone else, moved off the customer they were on.
            ("moved", _tr("%1 moved to another customer")),
        )
        if summary.total(outcome)
    ]
    return ", ".join(parts) if parts else _tr("nothing changed")


def summary_text(summary: SyncSummary, records_read: int = 0) -> str:
    """One line: what the sync did, or the failing source's error (the others' result after)."""
    sources = list(dict.fromkeys([p.source for p in summary.passes] + list(summary.errors)))
    synced = [s for s in sources if s not in summary.errors]
    if summary.cancelled:
        # The counts of the pass that was stopped are not in the summary: say what was read.
        read = max(summary.total("read"), records_read)
        return _tr("Sync stopped after %1 records; the next one goes on from there").replace(
            "%1", format_integer(read)
        )
    if not summary.errors:
        return (
            _tr("Synced %n source(s): %1", len(synced)).replace("%1", changes_text(summary))
            if synced
            else _tr("No source to sync: every source is disabled")
        )
    source, error = next(iter(summary.errors.items()))
    text = _tr("%1 failed: %2").replace("%1", source).replace("%2", _clip_middle(error))
    more = len(summary.errors) - 1
    if more:
        text += " " + _tr("(and %n other source(s))", more)
    if synced:
        text += " · " + _tr("%n other source(s) synced: %1", len(synced)).replace(
            "%1", changes_text(summary)
        )
    return text


def reingest_text(report: IngestReport) -> str:
    """One line: what mapping the quarantined records again did."""
    if not report.read:
        return _tr("No record to map again: the quarantine holds none of the configured sources")
    kept = report.total("quarantined")
    taken = report.read - kept
    text = _tr("Mapped %n record(s) again: ", report.read)
    if not kept:
        return text + _tr("all of them are now in the cache")
    if not taken:
        return text + _tr("none could be used yet; the reasons below are the current ones")
    return (
        text
        + _tr("%n now in the cache, ", taken)
        + _tr("%n still kept aside (the reasons below are the current ones)", kept)
    )


def _clip(text: str, limit: int = MAX_STATUS_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _clip_middle(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """An error on one short line: its start (what failed) and its end (often the file or
    host at fault) are kept."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    head = limit * 3 // 5
    return line[:head].rstrip() + "…" + line[-(limit - head - 1) :].lstrip()


def schedule_text(seconds: int | None) -> str:
    if seconds is None:
        return _tr("on demand")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return _tr("every %1").replace("%1", f"{seconds // size} {unit}")
    return _tr("every %1").replace("%1", f"{seconds} s")


def _when(value: datetime | None, never: str) -> str:
    return format_datetime(value) if value is not None else never


# -- the status bar corner -----------------------------------------------------------------


class SyncStatusBar(QWidget):
    """Right of the status bar: the sync state (click: the status dialog) and "Sync now"."""

    def __init__(self, controller: SyncController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SyncStatusBar")
        self._controller = controller
        self._text = ""
        self._records_read = 0
        self._status_dialog: SyncStatusDialog | None = None
        self._quarantine_dialog: QuarantineDialog | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(4)

        self.state = QToolButton()
        self.state.setObjectName("SyncState")
        self.state.setAutoRaise(True)
        self.state.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.state.setIconSize(QSize(13, 13))
        self.state.setCursor(Qt.CursorShape.PointingHandCursor)
        self.state.clicked.connect(self.show_status)
        layout.addWidget(self.state)

        self.sync_action = QAction(icon("fa5s.sync-alt", ACCENT), self.tr("Sync now"), self)
        self.sync_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.sync_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.sync_action.triggered.connect(self._sync_now)
        self.stop_action = QAction(
            icon("fa5s.stop-circle", _DANGER), self.tr("Stop the sync"), self
        )
        self.stop_action.triggered.connect(controller.cancel)
        self.stop_action.setEnabled(False)
        self.status_action = QAction(self.tr("Sources and last syncs…"), self)
        self.status_action.triggered.connect(self.show_status)
        self.quarantine_action = QAction(self.tr("Quarantined records…"), self)
        self.quarantine_action.triggered.connect(self.show_quarantine)

        menu = QMenu(self)
        for action in (
            self.sync_action,
            self.stop_action,
            None,
            self.status_action,
            self.quarantine_action,
        ):
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        self.button = QToolButton()
        self.button.setObjectName("SyncButton")
        self.button.setDefaultAction(self.sync_action)
        self.button.setMenu(menu)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setIconSize(QSize(13, 13))
        self.button.setAutoRaise(True)
        layout.addWidget(self.button)

        controller.running_changed.connect(self._on_running)
        controller.started.connect(self._on_started)
        controller.progress.connect(self._on_progress)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(self._on_failed)
        controller.status_changed.connect(self._on_status)
        controller.availability_changed.connect(self._on_available)
        self._showing_result = False  # progress or a result is shown: status reads keep it
        self._on_available(controller.available)
        self._show_idle(None)

    # -- what the user can do ------------------------------------------------------------

    @property
    def text(self) -> str:
        """The whole line (the button may show it elided)."""
        return self._text

    def _sync_now(self) -> None:
        self._controller.sync_now()

    def show_status(self) -> SyncStatusDialog:
        if self._status_dialog is None:
            self._status_dialog = SyncStatusDialog(self._controller, self.window())
            self._status_dialog.quarantine_requested.connect(self.show_quarantine)
        self._status_dialog.show()
        self._status_dialog.raise_()
        self._controller.refresh_status()
        return self._status_dialog

    def show_quarantine(self) -> QuarantineDialog:
        if self._quarantine_dialog is None:
            self._quarantine_dialog = QuarantineDialog(self._controller, self.window())
        self._quarantine_dialog.show()
        self._quarantine_dialog.raise_()
        self._quarantine_dialog.reload()
        return self._quarantine_dialog

    # -- what the controller says --------------------------------------------------------

    def _set_state(self, text: str, icon_name: str, colour: str, tooltip: str = "") -> None:
        self._text = text
        metrics = self.state.fontMetrics()
        self.state.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, MAX_STATE_WIDTH))
        self.state.setIcon(icon(icon_name, colour))
        hint = self.tr("Click for the sources, their last syncs, errors and quarantine.")
        self.state.setToolTip(f"{tooltip or text}\n{hint}" if (tooltip or text) else hint)

    def _on_available(self, available: bool) -> None:
        self.sync_action.setEnabled(available and not self._controller.running)
        if available:
            self.sync_action.setToolTip(self.tr("Sync every source now (Ctrl+Shift+S)"))
        else:
            self.sync_action.setToolTip(
                self.tr(
                    "No sources file: create %1 (see “Sources” in the README) or start "
                    "Customer Card with --sources FILE."
                ).replace("%1", str(self._controller.sources_path))
            )
        self.button.setToolTip(self.sync_action.toolTip())
        if not available and not self._controller.running:
            self._showing_result = False
            self._set_state(
                self.tr("No sources configured"), "fa5s.plug", MUTED, self.sync_action.toolTip()
            )
        elif available and not self._showing_result:
            self._show_idle(self._controller.overview)

    def _on_running(self, running: bool) -> None:
        self.sync_action.setEnabled(not running and self._controller.available)
        self.stop_action.setEnabled(running and not self._controller.reingesting)
        self.button.setDefaultAction(self.stop_action if running else self.sync_action)

    def _on_started(self, _names: object) -> None:
        self._showing_result = True
        self._records_read = 0
        self._set_state(self.tr("Syncing…"), "fa5s.sync-alt", ACCENT)

    def _on_progress(self, progress: SyncProgress) -> None:
        self._records_read = progress.total_read
        self._set_state(progress_text(progress), "fa5s.sync-alt", ACCENT)

    def _on_finished(self, summary: SyncSummary) -> None:
        text = summary_text(summary, self._records_read)
        if summary.errors:
            self._set_state(text, "fa5s.exclamation-triangle", _DANGER, _tooltip(summary))
        elif summary.cancelled:
            self._set_state(text, "fa5s.pause-circle", MUTED)
        else:
            self._set_state(text, "fa5s.check-circle", _SUCCESS)

    def _on_failed(self, message: str) -> None:
        self._set_state(
            self.tr("Sync failed: %1").replace("%1", _clip(message)),
            "fa5s.exclamation-triangle",
            _DANGER,
            message,
        )

    def _on_status(self, overview: SyncOverview) -> None:
        if self._controller.running or self._showing_result:
            return  # the last result (or progress) stays until the next sync
        self._show_idle(overview)

    def _show_idle(self, overview: SyncOverview | None) -> None:
        if not self._controller.available:
            return
        if overview is None:
            self._set_state("", "fa5s.sync-alt", MUTED)
            return
        if overview.error:
            self._set_state(
                self.tr("Sources file: %1").replace("%1", _clip(overview.error)),
                "fa5s.exclamation-triangle",
                _DANGER,
                overview.error,
            )
            return
        failing = [s for s in overview.sources if s.last_error]
        last = max((s.last_success_at for s in overview.sources if s.last_success_at), default=None)
        if failing:
            self._set_state(
                self.tr("%1 failed: %2")
                .replace("%1", failing[0].name)
                .replace("%2", _clip(failing[0].last_error or "")),
                "fa5s.exclamation-triangle",
                _DANGER,
            )
        elif last is not None:
            text = self.tr("Last sync %1").replace("%1", format_datetime(last))
            if overview.quarantined:
                text += " · " + self.tr("%1 quarantined").replace(
                    "%1", format_integer(overview.quarantined)
                )
            self._set_state(text, "fa5s.check-circle", MUTED)
        else:
            self._set_state(self.tr("Never synced"), "fa5s.sync-alt", MUTED)


def _tooltip(summary: SyncSummary) -> str:
    return "\n".join(f"{source}: {error}" for source, error in summary.errors.items())


# -- per-source status ---------------------------------------------------------------------


class _TableModel(QAbstractTableModel):
    """A read-only table over ``self._rows``: one column per member of ``columns``, titled by
    ``titles()`` in the same order."""

    columns: type[IntEnum]
    _rows: list[Any]

    def titles(self) -> list[str]:
        raise NotImplementedError

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = self.titles()
        return titles[section] if 0 <= section < len(titles) else None


class SourceColumn(IntEnum):
    SOURCE = 0
    SCHEDULE = 1
    LAST_SUCCESS = 2
    NEXT_RUN = 3
    QUARANTINED = 4
    LAST_ERROR = 5


class SourceStatusModel(_TableModel):
    """One row per source: type and schedule, last success, next run, quarantine, last error."""

    STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
    columns = SourceColumn

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[SourceStatus, datetime | None]] = []

    def set_sources(
        self, sources: tuple[SourceStatus, ...], next_runs: dict[str, datetime | None]
    ) -> None:
        self.beginResetModel()
        self._rows = [(s, next_runs.get(s.name)) for s in sources]
        self.endResetModel()

    def status(self, row: int) -> SourceStatus | None:
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def titles(self) -> list[str]:
        return [
            self.tr("Source"),
            self.tr("Schedule"),
            self.tr("Last success"),
            self.tr("Next run"),
            self.tr("Quarantined"),
            self.tr("Last error"),
        ]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        status, next_run = self._rows[index.row()]
        column = SourceColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(status, next_run, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == SourceColumn.LAST_ERROR:
            return status.last_error
        if role == Qt.ItemDataRole.DecorationRole and column == SourceColumn.SOURCE:
            if status.last_error:
                return icon("fa5s.exclamation-triangle", _DANGER)
            return icon("fa5s.check-circle", _SUCCESS if status.last_success_at else MUTED)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == SourceColumn.QUARANTINED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == self.STATUS_ROLE:
            return status.name
        return None

    def _display(
        self, status: SourceStatus, next_run: datetime | None, column: SourceColumn
    ) -> str:
        if column == SourceColumn.SOURCE:
            kind = status.type or self.tr("not in the sources file")
            return f"{status.name} ({kind})"
        if column == SourceColumn.SCHEDULE:
            if not status.configured:
                return "—"
            return schedule_text(status.schedule_seconds) if status.enabled else self.tr("off")
        if column == SourceColumn.LAST_SUCCESS:
            return _when(status.last_success_at, self.tr("never"))
        if column == SourceColumn.NEXT_RUN:
            return _when(next_run, "—")
        if column == SourceColumn.QUARANTINED:
            return format_integer(status.quarantined)
        return _clip(status.last_error or "", 200)


class SyncStatusDialog(QDialog):
    """Every source with its last success, next run, quarantine and last error (non-modal)."""

    quarantine_requested = Signal()

    def __init__(self, controller: SyncController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SyncStatusDialog")
        self.setWindowTitle(self.tr("Sources"))
        self.resize(900, 320)
        self._controller = controller
        layout = QVBoxLayout(self)
        self.path_label = muted(
            self.tr("Sources file: %1").replace("%1", str(controller.sources_path)), True
        )
        layout.addWidget(self.path_label)
        self.error_label = QLabel("")
        self.error_label.setObjectName("DialogError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.model = SourceStatusModel(self)
        self.table = _table("SourceStatusTable")
        self.table.setModel(self.model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(SourceColumn.LAST_ERROR, QHeaderView.ResizeMode.Stretch)
        for column in SourceColumn:
            if column != SourceColumn.LAST_ERROR:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.detail = QLabel("")
        self.detail.setObjectName("SourceDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail)
        self._picked: str | None = None  # the source the user selected
        self._selecting = False
        self.table.selectionModel().selectionChanged.connect(self._show_detail)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.sync_button = QPushButton(icon("fa5s.sync-alt", ACCENT), self.tr("Sync now"))
        self.quarantine_button = QPushButton(self.tr("Quarantined records…"))
        buttons.addButton(self.sync_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.quarantine_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        self.sync_button.clicked.connect(lambda: controller.sync_now())
        layout.addWidget(buttons)
        self.quarantine_button.clicked.connect(self.quarantine_requested)

        controller.status_changed.connect(self._on_status)
        controller.running_changed.connect(self._update_buttons)
        controller.availability_changed.connect(self._update_buttons)
        if controller.overview is not None:
            self._on_status(controller.overview)
        self._update_buttons()

    def _update_buttons(self, *_args: object) -> None:
        self.sync_button.setEnabled(self._controller.available and not self._controller.running)

    def _on_status(self, overview: SyncOverview) -> None:
        self.model.set_sources(overview.sources, self._controller.next_runs())
        self.error_label.setText(overview.error or "")
        self.error_label.setVisible(bool(overview.error))
        self._update_buttons()
        # The source the user picked stays selected; otherwise the first failing one.
        names = [s.name for s in overview.sources]
        failing = [s.name for s in overview.sources if s.last_error]
        candidates = [self._picked] if self._picked in names else failing or names
        self._selecting = True
        if candidates and candidates[0] is not None:
            self.table.selectRow(names.index(candidates[0]))
        self._show_detail()
        self._selecting = False

    def _show_detail(self, *_args: object) -> None:
        rows = self.table.selectionModel().selectedRows()
        status = self.model.status(rows[0].row()) if rows else None
        if status is None:
            self.detail.clear()
            return
        if not self._selecting:
            self._picked = status.name
        streams = ", ".join(status.streams) or "—"
        text = self.tr("%1: streams %2.").replace("%1", status.name).replace("%2", streams)
        if status.last_error:
            text += " " + self.tr("Last error: %1").replace("%1", status.last_error)
        elif status.last_success_at is not None:
            text += " " + self.tr("No error at the last run.")
        self.detail.setText(text)


# -- quarantine ----------------------------------------------------------------------------


class QuarantineColumn(IntEnum):
    SOURCE = 0
    KIND = 1
    ID = 2
    REASON = 3
    DATE = 4


class QuarantineModel(_TableModel):
    """Quarantined records (read-only): source, kind, id there, reason, date; the raw content
    under ``RAW_ROLE``."""

    RAW_ROLE = Qt.ItemDataRole.UserRole + 1
    ID_ROLE = Qt.ItemDataRole.UserRole + 2
    columns = QuarantineColumn

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[QuarantineEntry] = []

    def set_entries(self, entries: list[QuarantineEntry]) -> None:
        self.beginResetModel()
        self._rows = list(entries)
        self.endResetModel()

    def entry(self, row: int) -> QuarantineEntry | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def titles(self) -> list[str]:
        return [
            self.tr("Source"),
            self.tr("Kind"),
            self.tr("Id there"),
            self.tr("Reason"),
            self.tr("Since"),
        ]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        entry = self._rows[index.row()]
        column = QuarantineColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if column == QuarantineColumn.SOURCE:
                return entry.source
            if column == QuarantineColumn.KIND:
                return entry.kind or "?"
            if column == QuarantineColumn.ID:
                return entry.source_id or self.tr("(no id)")
            if column == QuarantineColumn.REASON:
                return _clip(entry.reason, 200)
            return format_datetime(entry.created_at)
        if role == Qt.ItemDataRole.ToolTipRole and column == QuarantineColumn.REASON:
            return entry.reason
        if role == self.RAW_ROLE:
            return entry.raw
        if role == self.ID_ROLE:
            return entry.id
        return None


class QuarantineDialog(QDialog):
    """The records kept aside, with the reason and their raw content (non-modal); "Map again"
    maps them with the sources file as it is now, once its mapping is fixed."""

    def __init__(self, controller: SyncController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("QuarantineDialog")
        self.setWindowTitle(self.tr("Quarantined records"))
        self.resize(960, 520)
        self._controller = controller
        layout = QVBoxLayout(self)
        self.summary = muted(self.tr("Loading…"))
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.model = QuarantineModel(self)
        self.table = _table("QuarantineTable")
        self.table.setModel(self.model)
        header = self.table.horizontalHeader()
        for column in QuarantineColumn:
            mode = (
                QHeaderView.ResizeMode.Stretch
                if column == QuarantineColumn.REASON
                else QHeaderView.ResizeMode.ResizeToContents
            )
            header.setSectionResizeMode(column, mode)
        self.raw = QPlainTextEdit()
        self.raw.setObjectName("QuarantineRaw")
        self.raw.setReadOnly(True)
        self.raw.setPlaceholderText(self.tr("The record as the source sent it"))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.raw)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter, 1)
        # What the last "Map again" did (hidden until then).
        self.outcome = QLabel()
        self.outcome.setObjectName("QuarantineOutcome")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome.hide()
        layout.addWidget(self.outcome)
        hint = muted(
            self.tr(
                "Fix the mapping in the sources file, then click “Map again”: these records "
                "are mapped with the file as it is now, and those that fit go into the cache "
                "(also “customer-card sync quarantine --reingest”)."
            )
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.map_again = QPushButton(icon("fa5s.redo-alt", ACCENT), self.tr("Map again"))
        self.map_again.setObjectName("QuarantineMapAgain")
        self.map_again.setToolTip(
            self.tr("Map these records again with the sources file as it is now")
        )
        self.map_again.clicked.connect(self._map_again)
        buttons.addButton(self.map_again, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        controller.quarantine_loaded.connect(self._on_loaded)
        controller.finished.connect(self._reload_if_visible)
        controller.running_changed.connect(self._update_map_again)
        controller.reingested.connect(self._on_reingested)
        controller.reingest_failed.connect(self._on_reingest_failed)
        self._update_map_again()

    def reload(self) -> None:
        self._controller.load_quarantine()

    def _map_again(self) -> None:
        if self._controller.reingest():
            self._show_outcome(self.tr("Mapping the records again…"), MUTED)

    def _update_map_again(self, *_args: object) -> None:
        running = self._controller.running
        self.map_again.setEnabled(not running and self.model.rowCount() > 0)
        if running and not self._controller.reingesting:
            self.map_again.setToolTip(self.tr("A sync is running: map them again once it ends"))
        else:
            self.map_again.setToolTip(
                self.tr("Map these records again with the sources file as it is now")
            )

    def _on_reingested(self, report: IngestReport) -> None:
        kept = report.total("quarantined")
        self._show_outcome(reingest_text(report), _SUCCESS if not kept else None)
        self.reload()

    def _on_reingest_failed(self, message: str) -> None:
        self._show_outcome(
            self.tr("The records were not mapped again: %1").replace("%1", message), _DANGER
        )

    def _show_outcome(self, text: str, colour: str | None) -> None:
        self.outcome.setText(text)
        self.outcome.setStyleSheet(f"color: {colour};" if colour else "")
        self.outcome.show()

    def _reload_if_visible(self, *_args: object) -> None:
        if self.isVisible():
            self.reload()

    def _on_loaded(self, entries: list[QuarantineEntry]) -> None:
        self.model.set_entries(entries)
        self._update_map_again()
        # The list holds every record unless it reached its limit: only then is the status's
        # count (read at another moment, perhaps before the last sync or re-ingest) the total.
        overview = self._controller.overview
        total = len(entries)
        if overview is not None and total >= QUARANTINE_LIMIT:
            total = max(total, overview.quarantined)
        if not entries:
            self.summary.setText(self.tr("No record is in quarantine."))
        elif total > len(entries):
            self.summary.setText(
                self.tr("The %1 oldest of %2 records kept aside, with the reason.")
                .replace("%1", format_integer(len(entries)))
                .replace("%2", format_integer(total))
            )
        else:
            self.summary.setText(
                self.tr("%1 record(s) kept aside, with the reason.").replace(
                    "%1", format_integer(len(entries))
                )
            )
        if entries:
            self.table.selectRow(0)
        else:
            self.raw.clear()

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        entry = self.model.entry(indexes[0].row()) if indexes else None
        if entry is None:
            self.raw.clear()
            return
        self.raw.setPlainText(
            f"{entry.source} · {entry.kind or '?'} · {entry.source_id or '—'} · "
            f"{local(entry.created_at):%d/%m/%Y %H:%M}\n{entry.reason}\n\n{_readable(entry.raw)}"
        )


def _readable(raw: str) -> str:
    """The raw record, indented when it is JSON (as the connectors keep it)."""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False, indent=2)
    except ValueError:
        return raw


def _table(name: str) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.setShowGrid(False)
    return table
