"""Start the window: one instance per cache, unlock, theme, and hand-offs from later launches."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QCoreApplication, QEventLoop, QLocale, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QWidget,
)

from customer_card.services.actions import ActionService
from customer_card.services.cards import CardService
from customer_card.services.search import SearchService
from customer_card.services.sync_status import SyncService
from customer_card.store.database import Database
from customer_card.store.errors import CacheError, MissingKeyError, WrongKeyError
from customer_card.ui.instance import SingleInstance, current_user
from customer_card.ui.main_window import MainWindow
from customer_card.ui.theme import load_theme, theme_name

log = logging.getLogger(__name__)
MAX_PASSPHRASE_TRIES = 3
# An open that takes longer than this (a cache brought up to date after an update: about 45 s
# at a million customers) shows that it is working.
BUSY_NOTICE_MS = 600


class OpenedServices(Protocol):
    """What the composition root hands the window (``customer_card.app.Services``)."""

    @property
    def search(self) -> SearchService: ...
    @property
    def cards(self) -> CardService: ...
    @property
    def actions(self) -> ActionService: ...
    @property
    def sync(self) -> SyncService: ...
    @property
    def database(self) -> Database: ...
    @property
    def demo(self) -> bool: ...
    def close(self) -> None: ...


OpenServices = Callable[[Path, str | None], OpenedServices]
# Work done before the cache opens (building the demo cache on a first start); it is handed a
# function to call with the number of records done so far.
Prepare = Callable[[Callable[[int], None]], None]
T = TypeVar("T")


def _tr(text: str) -> str:
    return QCoreApplication.translate("startup", text)


def ask_passphrase(message: str) -> str | None:
    """Modal prompt; tests replace this function."""
    text, ok = QInputDialog.getText(
        None, _tr("Unlock the customer cache"), message, QLineEdit.EchoMode.Password
    )
    return text if ok and text else None


def resolve_request(services: OpenedServices, request: dict[str, Any]) -> dict[str, Any]:
    """Turn a screen-pop request (phone, e-mail, card, id) into what the window shows: one
    customer when exactly one matches, otherwise the search with the value prefilled."""
    for key in ("phone", "email", "card"):
        value = request.get(key)
        if isinstance(value, str) and value.strip():
            hits = services.search.search(value, limit=5)
            # Pop a card only on an exact identifier match: a lone fuzzy hit on a fragment (a
            # truncated caller id, an extension) would show a stranger's card to the advisor.
            exact = [h for h in hits if h.matched == "exact"]
            if len(exact) == 1:
                return {"customer_id": exact[0].customer_id}
            if not hits:
                return {"unknown": value.strip(), "key": key}
            return {"search": value}
    ident = request.get("id")
    if isinstance(ident, str) and ident.strip():
        ident = ident.strip()
        if ident.isdigit():
            return {"customer_id": int(ident)}
        return {"public_id": ident}
    return request


def _open(open_services: OpenServices, db_path: Path) -> OpenedServices | None:
    try:
        return _in_background(partial(open_services, db_path, None))
    except (MissingKeyError, WrongKeyError) as error:
        message = str(error)
    for _ in range(MAX_PASSPHRASE_TRIES):
        passphrase = ask_passphrase(message)
        if passphrase is None:
            return None
        try:
            return _in_background(partial(open_services, db_path, passphrase))
        except WrongKeyError as error:
            message = str(error)
    return None


class _Progress:
    """How far the background work is (records), written by its thread and read by the GUI
    thread's poll: a single int assignment, nothing of Qt touched from the worker."""

    def __init__(self) -> None:
        self.records = 0

    def __call__(self, records: int) -> None:
        self.records = records


def _in_background(
    work: Callable[[], T], text: str | None = None, progress: _Progress | None = None
) -> T:
    """Run ``work`` (opening the cache) on a thread of its own while the event loop runs, so
    that an open that takes long — deriving the key, bringing the cache's schema up to date —
    shows a busy notice instead of nothing at all; its result or its error comes back here.
    ``progress``, when given, is shown under ``text`` as the records done so far."""
    outcome: list[T] = []
    failure: list[BaseException] = []
    loop = QEventLoop()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # raised again on the GUI thread, below
            failure.append(error)

    label = text or _tr("Opening the customer cache…")
    notice = QProgressDialog(label, "", 0, 0)
    notice.setWindowTitle(_tr("Customer Card"))
    notice.setMinimumWidth(380)
    notice.setCancelButton(None)  # no button: an open cannot be stopped half-way
    notice.setWindowModality(Qt.WindowModality.ApplicationModal)
    notice.setMinimumDuration(BUSY_NOTICE_MS)
    notice.setAutoClose(False)
    notice.setValue(0)  # starts the notice's timer: shown only if the open outlasts it
    worker = threading.Thread(target=run, name="open-cache", daemon=True)
    # (Polled from the GUI thread: nothing of Qt is touched from the worker.)
    done = QTimer()
    done.setInterval(20)

    shown = [0]

    def check() -> None:
        if not worker.is_alive():
            loop.quit()
        elif progress is not None and progress.records != shown[0]:
            shown[0] = progress.records
            so_far = _tr("%1 records so far").replace("%1", QLocale().toString(shown[0]))
            notice.setLabelText(f"{label}\n{so_far}")

    done.timeout.connect(check)
    worker.start()
    done.start()
    loop.exec()
    done.stop()
    worker.join()
    notice.close()
    notice.deleteLater()
    if failure:
        raise failure[0]
    return outcome[0]


# Up to this size a screen is a kiosk or laptop one: the window takes all of it.
SMALL_SCREEN = (1440, 900)


def fitted_size(available_width: int, available_height: int) -> tuple[int, int] | None:
    """The window's first size on a screen with this much room: None to maximise (small
    screens), else most of a large screen, never below the kiosk size it is designed for."""
    if available_width <= SMALL_SCREEN[0] or available_height <= SMALL_SCREEN[1]:
        return None
    return max(1366, available_width * 4 // 5), max(768, available_height * 17 // 20)


def _show_fitted(window: QWidget) -> None:
    screen = window.screen() or QGuiApplication.primaryScreen()
    area = screen.availableGeometry()
    size = fitted_size(area.width(), area.height())
    if size is None:
        # The whole screen also without a window manager to maximise it (a bare kiosk session).
        window.setGeometry(area)
        window.showMaximized()
        return
    window.resize(*size)
    frame = window.frameGeometry()
    frame.moveCenter(area.center())
    window.move(frame.topLeft())
    window.show()


def run_gui(
    db_path: Path,
    request: dict[str, Any] | None,
    *,
    open_services: OpenServices,
    instance_key: str,
    runtime_dir: Path,
    prepare: Prepare | None = None,
) -> int:
    """Run the window on ``db_path`` or hand ``request`` to the window already running on it.
    ``prepare`` (the demo cache's build on a first start) runs first, behind a busy notice."""
    qt_app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(qt_app, QApplication)
    qt_app.setApplicationName("Customer Card")
    qt_app.setOrganizationName("customer-card")
    instance = SingleInstance(instance_key, runtime_dir)
    if not instance.acquire():
        if instance.send(request or {"action": "raise"}):
            return 0
        QMessageBox.critical(
            None,
            _tr("Customer Card"),
            _tr("Customer Card is already running on this cache but does not answer."),
        )
        return 1
    started = start_window(db_path, request, open_services, instance, prepare)
    if started is None:
        return 1
    window, services = started
    try:
        return qt_app.exec()
    finally:
        if window.sync_controller is not None:
            window.sync_controller.shutdown()  # no sync may outlive the cache it writes to
        services.close()


def start_window(
    db_path: Path,
    request: dict[str, Any] | None,
    open_services: OpenServices,
    instance: SingleInstance,
    prepare: Prepare | None = None,
) -> tuple[MainWindow, OpenedServices] | None:
    """What ``run_gui`` does before the event loop: prepare (the demo), open the cache, show
    the window, handle the first request. None when it cannot (the user was told why)."""
    qt_app = QApplication.instance()
    assert isinstance(qt_app, QApplication)
    load_theme(qt_app, theme_name())  # before any notice, so that it looks like the window
    if prepare is not None:
        progress = _Progress()
        try:
            _in_background(
                partial(prepare, progress),
                _tr("Preparing demo customers to look around (nothing is configured yet)…"),
                progress,
            )
        except Exception as error:  # a full disk, a file in the way: said, not a silent exit
            log.exception("preparing the demo customers failed")
            message = str(error) or type(error).__name__
            if isinstance(error, OSError) and error.strerror:  # not "[Errno 28] No space…"
                where = f" ({error.filename})" if error.filename else ""
                message = _tr(
                    "The demo customers could not be written: %1. The next start tries again."
                )
                message = message.replace("%1", f"{error.strerror}{where}")
            QMessageBox.critical(None, _tr("Cannot prepare the demo customers"), message)
            return None
    try:
        services = _open(open_services, db_path)
    except CacheError as error:
        QMessageBox.critical(None, _tr("Cannot open the customer cache"), str(error))
        return None
    if services is None:
        return None
    window = MainWindow(
        services.search, services.cards, services.actions, user=current_user(), sync=services.sync
    )
    title = _tr("Customer Card")
    window.set_app_title(_tr("%1 — demo data").replace("%1", title) if services.demo else title)

    def on_request(message: dict[str, Any]) -> None:
        window.handle_request(resolve_request(services, message))

    instance.message_received.connect(on_request)
    _show_fitted(window)
    if request:
        on_request(request)
    return window, services
