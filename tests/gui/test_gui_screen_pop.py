"""Screen pop and navigation: a second launch into the running window, the unknown caller,
a short list when several customers share a number, recently viewed customers, the title."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from customer_card import app, paths
from customer_card.domain.model import ContactKind, CustomerCard
from customer_card.services.ingest import IngestService
from customer_card.ui import startup
from customer_card.ui.instance import SingleInstance
from customer_card.ui.main_window import MainWindow
from sync.records import RecordKind, SourceRecord

RAISE = "This plugin does not support raise"  # offscreen QPA only


def _primary_for(window: MainWindow, services: Any, db_path: Path) -> SingleInstance:
    """What run_gui does for the first window on a cache."""
    instance = SingleInstance(app.instance_key(db_path), paths.runtime_dir())
    assert instance.acquire()
    instance.message_received.connect(
        lambda message: window.handle_request(startup.resolve_request(services, message))
    )
    return instance


@pytest.mark.qt_log_ignore(RAISE)
def test_open_phone_from_a_second_process_pops_the_card(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    hit = demo_services.search.search("Jocelyne Michu", limit=1)[0]
    card = demo_services.cards.load(hit.customer_id)
    mobile = next(p for p in card.contact_points if p.kind == ContactKind.PHONE and p.valid)
    instance = _primary_for(window, demo_services, demo_services.path)
    try:
        command = [sys.executable, "-m", "customer_card", "--db", str(demo_services.path)]
        command += ["open", "--phone", mobile.normalised]
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        with qtbot.waitSignal(window.card_shown, timeout=20000) as shown:
            second = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
            qtbot.waitUntil(lambda: second.poll() is not None, timeout=20000)
        _, errors = second.communicate()
        assert second.returncode == 0, errors
        assert shown.args == [hit.customer_id]
    finally:
        instance.release()


@pytest.mark.qt_log_ignore(RAISE)
def test_unknown_caller_says_so_with_the_number_ready(
    qtbot: Any, window: MainWindow, demo_services: Any, rich_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    instance = _primary_for(window, demo_services, demo_services.path)
    try:
        sender = SingleInstance(app.instance_key(demo_services.path), paths.runtime_dir())
        with qtbot.waitSignal(instance.message_received, timeout=3000):
            assert sender.send({"action": "open", "phone": "+33 1 99 00 00 00"})
    finally:
        instance.release()
    assert window.pages.currentWidget() is window.message
    assert window.message.title.text() == "Unknown caller"
    assert "+33 1 99 00 00 00" in window.message.text.text()
    assert window.search_bar.text() == "+33 1 99 00 00 00"
    assert window.search_bar.field.selectedText() == "+33 1 99 00 00 00"
    assert window.windowTitle().startswith("Unknown caller")
    assert window.card_actions.enabled is False or window._card_on_screen() is None


@pytest.mark.qt_log_ignore(RAISE)
def test_shared_number_gives_a_short_list(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    from tests.gui.test_gui_startup import _shared_phone

    shared = _shared_phone(demo_services)
    with qtbot.waitSignal(window.search_results_shown, timeout=5000) as shown:
        window.handle_request(startup.resolve_request(demo_services, {"phone": shared}))
    assert 2 <= shown.args[1] <= 5
    assert window.results_popup.isVisible()


def test_recently_viewed_one_keystroke_away(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    first, second = (demo_services.cards.load(i) for i in (1, 2))
    window.show_customer(first.customer.id)
    window.show_customer(second.customer.id)
    assert [h.customer_id for h in window.recent_customers()] == [2, 1]
    table = window.card_view.timeline.table
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.results_popup.isVisible()
    assert window.search_results_model.rowCount() == 2
    assert window.results_popup.current_row() == 1, "the previous customer is preselected"
    with qtbot.waitSignal(window.card_shown, timeout=5000) as shown:
        qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Return)
    assert shown.args == [1]
    assert [h.customer_id for h in window.recent_customers()] == [1, 2]


def test_down_arrow_in_the_empty_field_lists_recent(
    qtbot: Any, window: MainWindow, demo_services: Any
) -> None:
    window.show_customer(3)
    window.focus_search()
    qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Down)
    assert window.results_popup.isVisible()
    assert window.search_results_model.hit(0).customer_id == 3  # type: ignore[union-attr]


def test_window_title_keeps_the_demo_suffix(window: MainWindow, rich_card: CustomerCard) -> None:
    window.set_app_title("Customer Card — demo data")
    assert window.windowTitle() == "Customer Card — demo data"
    window.show_customer(rich_card.customer.id)
    name = rich_card.customer.display_name
    assert window.windowTitle() == f"{name} — Customer Card — demo data"
    window.show_customer(10_000_000)
    assert window.windowTitle() == "Customer Card — demo data"


def test_related_customer_link_opens_it(qtbot: Any, window: MainWindow, demo_services: Any) -> None:
    customer_id, others = next(
        (i, r) for i in range(1, 300) if (r := demo_services.cards.related(i))
    )
    with qtbot.waitSignal(window.cards.related_shown, timeout=5000):
        window.show_customer(customer_id)
    related = window.card_view.related
    assert related.isVisible()
    with qtbot.waitSignal(window.card_shown, timeout=5000) as shown:
        related.open_requested.emit(others[0].customer_id)
    assert shown.args == [others[0].customer_id]


def test_influencer_not_linked_yet_is_pointed_at(
    qtbot: Any, acting_window: MainWindow, writable: Any
) -> None:
    """A social account known only by a name (no shared identifier) is not linked: the card
    points at it beside the value and in Related customers (as a merge suggestion or, without
    one, a namesake), without adding its followers to this customer's."""
    ines = writable.search.search("Inès Kaddour", limit=1)[0]
    city = writable.cards.load(ines.customer_id).customer.city
    social = SourceRecord(
        source="social",
        source_id="SOC-TEST-1",
        kind=RecordKind.CUSTOMER,
        fields={"full_name": "KADDOUR Ines", "instagram": "ines.kdr", "followers": 250_000,
                "city": city},
        updated_at=datetime(2026, 10, 1, tzinfo=UTC),
    )  # fmt: skip
    IngestService(writable.database).ingest([social])
    namesakes = [
        r
        for r in writable.cards.related(ines.customer_id)
        if r.relation in ("same_name", "possible_duplicate")
    ]
    assert [r.followers for r in namesakes] == [250_000]
    with qtbot.waitSignal(acting_window.cards.related_shown, timeout=5000):
        acting_window.show_customer(ines.customer_id)
    hint = acting_window.card_view.header.findChild(QLabel, "UnlinkedReach")
    assert hint is not None
    assert namesakes[0].public_id in hint.text()
    assert acting_window.card_view.card.customer.followers == 0  # type: ignore[union-attr]
    assert acting_window.card_view.related.isVisible()
