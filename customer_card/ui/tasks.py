"""Run service calls off the GUI thread and deliver only the latest answer.

A ``LatestOnlyRunner`` numbers each request; when a worker finishes, its result reaches
the GUI thread through a queued signal and is dropped if a newer request was made since
(a search typed further, another customer opened). Only the GUI-thread slot touches
widgets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class _TaskSignals(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class _Task(QRunnable):
    def __init__(self, request: int, job: Callable[[], Any], signals: _TaskSignals) -> None:
        super().__init__()
        self._request = request
        self._job = job
        self._signals = signals

    def run(self) -> None:
        try:
            result = self._job()
        except Exception as error:  # reported to the GUI thread, never swallowed
            log.exception("background task failed")
            self._signals.failed.emit(self._request, str(error) or type(error).__name__)
        else:
            self._signals.done.emit(self._request, result)


class LatestOnlyRunner(QObject):
    """Submit jobs to a thread pool; emit ``finished`` only for the most recent one."""

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._latest = 0
        self._pending = False
        self._signals = _TaskSignals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        """True while the latest request has not answered yet."""
        return self._pending

    def submit(self, job: Callable[[], Any]) -> int:
        self._latest += 1
        self._pending = True
        self._pool.start(_Task(self._latest, job, self._signals))
        return self._latest

    def cancel(self) -> None:
        """Forget whatever is running: its answer will be dropped."""
        self._latest += 1
        self._pending = False

    @Slot(int, object)
    def _on_done(self, request: int, result: object) -> None:
        if request != self._latest:
            return
        self._pending = False
        self.finished.emit(result)

    @Slot(int, str)
    def _on_failed(self, request: int, message: str) -> None:
        if request != self._latest:
            return
        self._pending = False
        self.failed.emit(message)


class TaskRunner(QObject):
    """Submit jobs to a thread pool; every job reports (``finished`` or ``failed``), in the
    order they complete. For writes, where no answer may be dropped."""

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._running = 0
        self._signals = _TaskSignals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return self._running > 0

    def submit(self, job: Callable[[], Any]) -> None:
        self._running += 1
        self._pool.start(_Task(self._running, job, self._signals))

    @Slot(int, object)
    def _on_done(self, _request: int, result: object) -> None:
        self._running -= 1
        self.finished.emit(result)

    @Slot(int, str)
    def _on_failed(self, _request: int, message: str) -> None:
        self._running -= 1
        self.failed.emit(message)
