"""Syncs in the window: one at a time on a worker thread, on demand or on each source's schedule.

The worker calls the sync service and reports back through queued signals: progress after each
committed batch, the summary at the end, and ``customer_changed`` when the card on screen no
longer shows what the cache holds (checked after batches, at most every half second, and once
at the end). A sync stops between batches when cancelled; closing the window cancels it and
waits for the worker to stop. Mapping the quarantined records again (after a supervisor fixed a
mapping) runs on the same worker, never beside a sync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QThread, QThreadPool, QTimer, Signal, Slot

from customer_card.domain.model import CustomerCard
from customer_card.services.ingest import IngestReport
from customer_card.services.sync_runner import SyncProgress, SyncSummary
from customer_card.services.sync_status import (
    CancelToken,
    CardStamp,
    QuarantineEntry,
    SyncOverview,
    card_stamp,
    next_run_at,
)
from customer_card.ui.tasks import LatestOnlyRunner

log = logging.getLogger(__name__)

SCHEDULE_TICK_MS = 30_000  # how often schedules are looked at (and the sources file re-read)
CARD_CHECK_SECONDS = 0.5  # at most this often, the open card is compared with the cache


class SyncPort(Protocol):
    """What the window needs from ``customer_card.services.sync_status.SyncService``."""

    @property
    def configured(self) -> bool: ...

    @property
    def sources_path(self) -> Path: ...

    def run(
        self,
        names: Sequence[str] | None = None,
        *,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> SyncSummary: ...

    def overview(self) -> SyncOverview: ...

    def reingest(
        self, source: str | None = None, *, cancel: CancelToken | None = None
    ) -> IngestReport: ...

    def quarantined(self, source: str | None = None, limit: int = ...) -> list[QuarantineEntry]: ...

    def card_stamp(self, customer_id: int) -> CardStamp | None: ...


class _Watch:
    """The card on screen, shared with the worker: written on the GUI thread, read on the
    worker's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._card: tuple[int, CardStamp] | None = None

    def set(self, card: CustomerCard | None) -> None:
        watched = None if card is None else (card.customer.id, card_stamp(card))
        with self._lock:
            self._card = watched

    def get(self) -> tuple[int, CardStamp] | None:
        with self._lock:
            return self._card


class _SyncThread(QThread):
    """Runs one sync, or one re-ingest of the quarantine (``reingest``). Its signals are emitted
    on the worker thread and reach the controller queued, in order; the controller reads
    ``summary`` (``report``) or ``error`` once the thread finished."""

    progressed = Signal(object)  # SyncProgress
    customer_changed = Signal(int)

    def __init__(
        self,
        sync: SyncPort,
        names: Sequence[str] | None,
        watch: _Watch,
        parent: QObject | None = None,
        *,
        reingest: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("SyncWorker")
        self.reingest = reingest
        self.report: IngestReport | None = None
        self._sync = sync
        self.names = None if names is None else list(names)
        self._watch = watch
        self.token = CancelToken()
        self.summary: SyncSummary | None = None
        self.error: str | None = None
        self._checked_at = 0.0
        self._reported: dict[int, CardStamp | None] = {}

    def run(self) -> None:
        self._checked_at = time.monotonic()  # nothing is committed yet
        try:
            if self.reingest:
                self.report = self._sync.reingest(cancel=self.token)
            else:
                self.summary = self._sync.run(
                    self.names, progress=self._on_progress, cancel=self.token
                )
        except Exception as error:  # the sources file, a busy cache: said in the status bar
            log.warning("%s could not run: %s", "re-ingest" if self.reingest else "sync", error)
            self.error = _one_line(str(error)) or type(error).__name__
        self._check_card()

    def _on_progress(self, progress: SyncProgress) -> None:
        self.progressed.emit(progress)
        if time.monotonic() - self._checked_at >= CARD_CHECK_SECONDS:
            self._check_card()

    def _check_card(self) -> None:
        self._checked_at = time.monotonic()
        watched = self._watch.get()
        if watched is None:
            return
        customer_id, shown = watched
        try:
            now = self._sync.card_stamp(customer_id)
        except Exception:  # a failed look must not fail the sync
            log.exception("could not compare the open card with the cache")
            return
        if now != shown and (
            customer_id not in self._reported or self._reported[customer_id] != now
        ):
            self._reported[customer_id] = now
            self.customer_changed.emit(customer_id)


class SyncController(QObject):
    running_changed = Signal(bool)
    started = Signal(object)  # list of source names, or None for every enabled source
    progress = Signal(object)  # SyncProgress, after each committed batch
    finished = Signal(object)  # SyncSummary
    failed = Signal(str)  # the sync could not run at all (sources file, cache): one line
    customer_changed = Signal(int)  # the open card's customer changed in the cache
    status_changed = Signal(object)  # SyncOverview
    availability_changed = Signal(bool)  # a sources file exists
    quarantine_loaded = Signal(object)  # list[QuarantineEntry]
    quarantine_failed = Signal(str)
    reingested = Signal(object)  # IngestReport: the quarantined records were mapped again
    reingest_failed = Signal(str)  # one line

    def __init__(
        self,
        sync: SyncPort,
        pool: QThreadPool,
        parent: QObject | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_ms: int = SCHEDULE_TICK_MS,
        schedule: bool = True,
    ) -> None:
        super().__init__(parent)
        self._sync = sync
        self._clock = clock
        self._watch = _Watch()
        self._thread: _SyncThread | None = None
        self._attempts: dict[str, datetime] = {}
        self._overview: SyncOverview | None = None
        self._available = sync.configured
        self._check_after_status = False
        self._closed = False
        self._status = LatestOnlyRunner(pool, self)
        self._status.finished.connect(self._on_overview)
        self._status.failed.connect(self._on_status_failed)
        self._quarantine = LatestOnlyRunner(pool, self)
        self._quarantine.finished.connect(self.quarantine_loaded)
        self._quarantine.failed.connect(self.quarantine_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._on_tick)
        if schedule:
            self._timer.start()

    # -- state ---------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._available

    @property
    def running(self) -> bool:
        """A sync or a re-ingest is running."""
        return self._thread is not None

    @property
    def reingesting(self) -> bool:
        """What runs is a re-ingest of the quarantine (only closing the window stops it)."""
        return self._thread is not None and self._thread.reingest

    @property
    def sources_path(self) -> Path:
        return self._sync.sources_path

    @property
    def overview(self) -> SyncOverview | None:
        """The last status read (None until the first one arrives)."""
        return self._overview

    def next_runs(self) -> dict[str, datetime | None]:
        """When each source runs next on its schedule (None: on demand only)."""
        if self._overview is None:
            return {}
        now = self._clock()
        return {
            s.name: next_run_at(s, self._attempts.get(s.name), now) for s in self._overview.sources
        }

    # -- commands ------------------------------------------------------------------------

    def sync_now(self, names: Sequence[str] | None = None) -> bool:
        """Start a sync of every enabled source (or of ``names``); False when one is running,
        no sources file exists, or the window is closing."""
        if self._thread is not None or self._closed:
            return False
        if not self._sync.configured:
            self._set_available(False)
            return False
        self._set_available(True)
        thread = _SyncThread(self._sync, names, self._watch, self)
        thread.progressed.connect(self.progress)
        thread.customer_changed.connect(self.customer_changed)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        now = self._clock()
        for name in names if names is not None else self._enabled_names():
            self._attempts[name] = now
        thread.start()
        self.running_changed.emit(True)
        self.started.emit(thread.names)
        return True

    def reingest(self) -> bool:
        """Map the quarantined records again with the sources file as it is now, in the
        background; ``reingested`` (or ``reingest_failed``) follows. False when a sync runs,
        no sources file exists, or the window is closing."""
        if self._thread is not None or self._closed:
            return False
        if not self._sync.configured:
            self._set_available(False)
            return False
        thread = _SyncThread(self._sync, None, self._watch, self, reingest=True)
        thread.customer_changed.connect(self.customer_changed)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        thread.start()
        self.running_changed.emit(True)
        return True

    def check_schedule(self) -> list[str]:
        """Start the sources whose schedule is due (from the last status read); their names."""
        if self._thread is not None or self._closed or self._overview is None:
            return []
        if self._overview.error is not None:
            return []
        due = [
            name for name, at in self.next_runs().items() if at is not None and at <= self._clock()
        ]
        if due and self.sync_now(due):
            return due
        return []

    def cancel(self) -> None:
        """Stop the running sync after its current batch (what is committed stays)."""
        if self._thread is not None:
            self._thread.token.cancel()

    def shutdown(self) -> None:
        """The window closes: no new sync, cancel the running one and wait for it to stop."""
        self._closed = True
        self._timer.stop()
        thread = self._thread
        if thread is None:
            return
        thread.token.cancel()
        thread.wait()
        self._on_thread_finished()

    def refresh_status(self, then_check_schedule: bool = False) -> None:
        """Read every source's status in the background; ``status_changed`` follows."""
        if self._closed:
            return
        self._check_after_status = self._check_after_status or then_check_schedule
        self._status.submit(self._sync.overview)

    def load_quarantine(self, source: str | None = None) -> None:
        """Read the quarantine in the background; ``quarantine_loaded`` follows."""
        sync = self._sync
        self._quarantine.submit(lambda: sync.quarantined(source))

    def watch(self, card: CustomerCard | None) -> None:
        """The card now on screen (None: no card): the worker reports when it changes."""
        self._watch.set(card)

    # -- reactions -----------------------------------------------------------------------

    @Slot()
    def _on_tick(self) -> None:
        if self._thread is None:
            self.refresh_status(then_check_schedule=True)

    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return  # already handled by shutdown
        thread.wait()  # ``finished`` is sent just before the thread really ends
        self._thread = None
        thread.deleteLater()
        if thread.reingest:
            self.running_changed.emit(False)
            if thread.report is not None:
                self.reingested.emit(thread.report)
            else:
                self.reingest_failed.emit(thread.error or self.tr("the records were not mapped"))
            self.refresh_status()
            return
        if thread.summary is not None:
            now = self._clock()
            for name in {p.source for p in thread.summary.passes} | set(thread.summary.errors):
                self._attempts[name] = now
        self.running_changed.emit(False)
        if thread.summary is not None:
            self.finished.emit(thread.summary)
        else:
            self.failed.emit(thread.error or self.tr("the sync stopped"))
        self.refresh_status()

    def _on_overview(self, overview: SyncOverview) -> None:
        self._overview = overview
        self._set_available(self._sync.configured)
        self.status_changed.emit(overview)
        if self._check_after_status:
            self._check_after_status = False
            self.check_schedule()

    def _on_status_failed(self, message: str) -> None:
        self._check_after_status = False
        log.warning("could not read the sync status: %s", message)

    def _set_available(self, available: bool) -> None:
        if available != self._available:
            self._available = available
            self.availability_changed.emit(available)

    def _enabled_names(self) -> list[str]:
        if self._overview is None:
            return []
        return [s.name for s in self._overview.sources if s.configured and s.enabled]


def _one_line(text: str) -> str:
    return " ".join(text.split())
