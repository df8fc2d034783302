"""Cancelling a sync from the window while its Singer tap sends nothing: the tap is ended at
once, not waited for (a silent tap held the worker, and a closing window, for as long as it
stayed silent)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from customer_card.services.sync_runner import SyncProgress
from customer_card.store.database import Database
from sync.sources import store_secret
from tests.gui.test_gui_sync import make_window, sync_service
from tests.sync.conftest import write_sources
from tests.sync.test_singer_source import tap_sources


def test_closing_the_window_ends_a_silent_tap_at_once(
    qtbot: QtBot, database: Database, tmp_path: Path, themed: None
) -> None:
    store_secret("eshop-tap", json.dumps({"api_key": "tap-key"}))
    pid_file = tmp_path / "tap.pid"  # written once the tap has sent its customers and waits
    path = write_sources(tmp_path, tap_sources(0, "--hang", str(pid_file))).path
    win = make_window(qtbot, database, sync_service(database, path, batch_size=5))
    controller = win.sync_controller
    assert controller is not None
    assert win.sync_bar is not None
    read: list[int] = []

    def on_progress(progress: SyncProgress) -> None:
        read.append(progress.read)

    controller.progress.connect(on_progress)

    win.sync_bar.sync_action.trigger()
    # Batches of 5 items (a customer, a state, …): 10 customers committed, 2 wait for more.
    qtbot.waitUntil(lambda: bool(read) and read[-1] >= 10 and pid_file.exists(), timeout=30_000)
    qtbot.waitUntil(lambda: pid_file.read_text() != "", timeout=5_000)

    started = time.monotonic()
    win.close()  # cancels the sync, then waits for the worker to stop

    assert time.monotonic() - started < 10, "the window waited for the silent tap"
    assert not controller.running
    assert win.sync_bar.text.startswith("Sync stopped after ")
