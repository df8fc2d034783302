"""A full disk seen from the window: a sync and an advisor's note each end in one line saying
the disk is full and nothing of it was saved; once there is room, both go through."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from customer_card.store.database import Database
from customer_card.ui.dialogs import NoteDialog
from customer_card.ui.main_window import MainWindow
from tests.gui.conftest import Writable
from tests.gui.test_gui_card_actions import _open, _outbox
from tests.gui.test_gui_sync import make_window, sync_service
from tests.helpers.disk import cache_growth_limit, without_free_pages
from tests.unit.test_disk_full import FULL_MESSAGE, write_exports


def test_a_sync_from_the_window_stops_on_a_full_disk_and_says_so(
    qtbot: QtBot, database: Database, tmp_path: Path, themed: None
) -> None:
    win = make_window(qtbot, database, sync_service(database, write_exports(tmp_path), 40))
    controller = win.sync_controller
    assert controller is not None
    assert win.sync_bar is not None
    qtbot.waitUntil(lambda: controller.overview is not None)
    finished: list[object] = []
    controller.finished.connect(finished.append)

    with cache_growth_limit(0, database):
        with qtbot.waitSignal(controller.failed, timeout=60_000) as failed:
            win.sync_bar.sync_action.trigger()
        qtbot.waitUntil(lambda: not controller.running)

    message = failed.args[0]
    assert message.startswith(FULL_MESSAGE)
    assert "a sync resumes where it stopped" in message
    assert finished == [], "not reported as a finished sync with a failed source"
    assert win.sync_bar.text.startswith(f"Sync failed: {FULL_MESSAGE}")
    assert "\n" not in win.sync_bar.text

    with qtbot.waitSignal(controller.finished, timeout=60_000) as done:
        win.sync_bar.sync_action.trigger()
    assert done.args[0].ok, done.args[0].errors
    win.close()


def test_a_note_on_a_full_disk_is_not_saved_and_the_window_says_why(
    qtbot: QtBot,
    acting_window: MainWindow,
    writable: Writable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer_id = writable.search.search("Jocelyne Michu", limit=1)[0].customer_id
    before = _open(qtbot, acting_window, customer_id)
    # Longer than a page: it needs pages the cache has no room for.
    note = " ".join(f"word{n}" for n in range(600))[:3900]
    monkeypatch.setattr(NoteDialog, "ask", lambda parent, name: note)
    without_free_pages(writable.database)

    with (
        cache_growth_limit(0, writable.database),
        qtbot.waitSignal(acting_window.action_failed, timeout=5000) as failed,
    ):
        acting_window.card_actions.add_note()

    assert str(failed.args[0]).startswith(FULL_MESSAGE)
    status = acting_window.statusBar().currentMessage()
    assert status.startswith(f"Nothing saved: {FULL_MESSAGE}")
    assert "INSERT" not in status, "no SQL"
    assert "word1" not in status, "nor the note's text"
    assert _outbox(writable, customer_id) == []
    after = writable.cards.load(customer_id)
    assert after is not None
    assert after.interaction_count == before.interaction_count

    with qtbot.waitSignal(acting_window.action_saved, timeout=5000):
        acting_window.card_actions.add_note()
    assert [a for _, a, _ in _outbox(writable, customer_id)] == ["note"]
