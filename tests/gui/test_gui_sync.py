"""Syncs from the window: real CSV sources synced on a worker thread, the status bar, the open
card refreshed, a failing source, cancel on close, schedules, the status and quarantine views."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QThreadPool
from pytestqt.qtbot import QtBot

from customer_card.services.cards import CardService
from customer_card.services.info import cache_info
from customer_card.services.ingest import IngestService
from customer_card.services.search import SearchService
from customer_card.services.sync_runner import PassSummary, SyncProgress, SyncRunner, SyncSummary
from customer_card.services.sync_status import CancelToken, SyncService
from customer_card.store.database import Database
from customer_card.ui.main_window import MainWindow
from customer_card.ui.sync_controller import SyncController
from customer_card.ui.sync_views import QuarantineModel, SourceStatusModel, summary_text
from sync.sources import keyring_secrets

CRM_HEADER = "id,first,last,email,born\n"
CRM_ROWS = [
    "C1,Jocelyne,Michu,jocelyne.michu@example.org,17/04/1961\n",
    "C2,Éric,Dupont,eric.dupont@example.org,03/11/1975\n",
    "C3,Zoé,Martin,zoe.martin@example.org,31/02/1980\n",  # no such date: quarantined
    "C4,Paul,Girard,paul.girard@example.org,12/12/1990\n",
]
ORDERS_HEADER = "order;customer;date;amount;label\n"
ORDERS = [
    "O1;C1;05/01/2026 14:30;1 234,50;Commande 1\n",
    "O2;C2;06/01/2026 11:00;12,00;Commande 2\n",
]
LOYALTY = "card;name;phone\nL1;LEROY Anne;06 12 34 56 78\nL2;ROUX Marc;06 98 76 54 32\n"

SOURCES = """
[sources.crm]
type = "csv"
{crm_schedule}

[sources.crm.streams.customers]
kind = "customer"
file = "crm.csv"
id = "id"
[sources.crm.streams.customers.fields]
given_name = "first"
family_name = "last"
email = "email"
birth_date = {{ column = "born", date = "%d/%m/%Y" }}

[sources.crm.streams.orders]
kind = "interaction"
file = "orders.csv"
id = "order"
[sources.crm.streams.orders.fields]
customer_ref = "customer"
occurred_at = {{ column = "date", datetime = "%d/%m/%Y %H:%M", timezone = "Europe/Paris" }}
amount = {{ column = "amount", decimal = "," }}
summary = "label"
channel = {{ value = "web" }}
kind = {{ value = "order" }}

[sources.loyalty]
type = "csv"

[sources.loyalty.streams.members]
kind = "customer"
file = "loyalty.csv"
id = "card"
[sources.loyalty.streams.members.fields]
full_name = {{ column = "name", split_name = "family_given" }}
phone = {{ column = "phone", phone_region = "FR" }}
loyalty_card = "card"
{extra}
"""

# The offscreen platform cannot raise windows or pass size hints on: said once per dialog shown.
OFFSCREEN_ONLY = pytest.mark.qt_log_ignore(
    "This plugin does not support raise", "This plugin does not support propagateSizeHints"
)

BROKEN = """
[sources.billing]
type = "csv"

[sources.billing.streams.accounts]
kind = "customer"
file = "billing.csv"
id = "id"
[sources.billing.streams.accounts.fields]
email = "email"
"""


def write_sources(
    directory: Path, *, crm_schedule: str = "", extra: str = "", crm_rows: list[str] | None = None
) -> Path:
    (directory / "crm.csv").write_text(CRM_HEADER + "".join(crm_rows or CRM_ROWS), "utf-8")
    (directory / "orders.csv").write_text(ORDERS_HEADER + "".join(ORDERS), "utf-8")
    (directory / "loyalty.csv").write_text(LOYALTY, "utf-8")
    path = directory / "sources.toml"
    path.write_text(SOURCES.format(crm_schedule=crm_schedule, extra=extra), "utf-8")
    return path


def sync_service(database: Database, path: Path, batch_size: int = 2) -> SyncService:
    ingest = IngestService(database, batch_size=batch_size)
    return SyncService(database, SyncRunner(database, ingest, keyring_secrets()), path)


def make_window(qtbot: QtBot, database: Database, sync: SyncService) -> MainWindow:
    win = MainWindow(SearchService(database), CardService(database), sync=sync)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def sources_path(tmp_path: Path) -> Path:
    return write_sources(tmp_path)


@pytest.fixture
def sync_window(
    qtbot: QtBot, database: Database, sources_path: Path, themed: None
) -> Iterator[MainWindow]:
    win = make_window(qtbot, database, sync_service(database, sources_path))
    controller = win.sync_controller
    assert controller is not None
    qtbot.waitUntil(lambda: controller.overview is not None)
    yield win
    win.close()  # before the cache is closed: the sync and the reads stop first


def _controller(win: MainWindow) -> SyncController:
    assert win.sync_controller is not None
    return win.sync_controller


def _bar_text(win: MainWindow) -> str:
    assert win.sync_bar is not None
    return win.sync_bar.text


def _run_from_window(qtbot: QtBot, win: MainWindow) -> SyncSummary:
    controller = _controller(win)
    assert win.sync_bar is not None
    with qtbot.waitSignal(controller.finished, timeout=30_000) as done:
        win.sync_bar.sync_action.trigger()
        assert controller.running, "the sync runs in the background, not in the click"
    summary = done.args[0]
    assert isinstance(summary, SyncSummary)
    return summary


def test_sync_now_runs_on_a_worker_and_reports_in_the_status_bar(
    qtbot: QtBot, sync_window: MainWindow
) -> None:
    controller = _controller(sync_window)
    assert sync_window.sync_bar is not None
    action = sync_window.sync_bar.sync_action
    assert action.isEnabled()
    assert action.shortcut().toString() == "Ctrl+Shift+S"
    assert action in sync_window.actions(), "the shortcut works anywhere in the window"
    progress: list[SyncProgress] = []
    texts: list[str] = []
    threads: set[int] = set()
    controller.progress.connect(progress.append)
    controller.progress.connect(lambda _p: texts.append(_bar_text(sync_window)))
    controller.progress.connect(lambda _p: threads.add(threading.get_ident()))

    summary = _run_from_window(qtbot, sync_window)

    assert summary.ok, summary.errors
    assert (summary.total("inserted"), summary.total("quarantined")) == (7, 1)
    assert {(p.source, p.stream) for p in progress} >= {
        ("crm", "customers"),
        ("crm", "orders"),
        ("loyalty", "members"),
    }
    assert threads == {threading.get_ident()}, "progress reaches the GUI thread"
    assert any(t.startswith("Syncing crm/customers — ") for t in texts)
    assert _bar_text(sync_window) == "Synced 2 source(s): 7 new, 1 quarantined"
    assert not controller.running
    assert action.isEnabled()

    # Nothing changed since: said so.
    again = _run_from_window(qtbot, sync_window)
    assert again.total("read") == 0
    assert _bar_text(sync_window) == "Synced 2 source(s): nothing changed"


def test_the_open_card_refreshes_when_the_sync_changes_its_customer(
    qtbot: QtBot, sync_window: MainWindow, database: Database, tmp_path: Path
) -> None:
    _run_from_window(qtbot, sync_window)
    hits = SearchService(database).search("Jocelyne Michu")
    assert hits
    customer_id = hits[0].customer_id
    with qtbot.waitSignal(sync_window.card_shown):
        sync_window.cards.open(customer_id)
    card = sync_window.cards.card
    assert card is not None
    assert card.interaction_count == 1
    changed: list[int] = []
    _controller(sync_window).customer_changed.connect(changed.append)

    # A sync that leaves her alone does not reload her card.
    (tmp_path / "loyalty.csv").write_text(LOYALTY + "L3;BLANC Léa;06 11 22 33 44\n", "utf-8")
    summary = _run_from_window(qtbot, sync_window)
    assert summary.total("inserted") == 1
    assert changed == []

    # The advisor looks for an order not there yet: the filter survives the refresh below.
    strip = sync_window.card_view.timeline.strip
    strip.search.setText("commande 3")
    strip.search.returnPressed.emit()
    assert sync_window.timeline_model.rowCount() == 0

    # She married, and ordered again: the card shows it without being asked.
    rows = ["C1,Jocelyne,Michu-Bernard,jocelyne.michu@example.org,17/04/1961\n", *CRM_ROWS[1:]]
    write_sources(tmp_path, crm_rows=rows)
    (tmp_path / "orders.csv").write_text(
        ORDERS_HEADER + "".join(ORDERS) + "O3;C1;07/01/2026 09:00;45,00;Commande 3\n", "utf-8"
    )
    with qtbot.waitSignal(sync_window.card_shown, timeout=30_000) as shown:
        summary = _run_from_window(qtbot, sync_window)
    assert shown.args == [customer_id]
    assert (summary.total("updated"), summary.total("inserted")) == (1, 1)
    assert changed
    assert set(changed) == {customer_id}

    def refreshed() -> bool:
        card = sync_window.cards.card
        assert card is not None
        return card.customer.family_name == "Michu-Bernard" and card.interaction_count == 2

    qtbot.waitUntil(refreshed)
    assert strip.search.text() == "commande 3"
    model = sync_window.timeline_model
    assert model.timeline_filter is not None
    assert model.timeline_filter.text == "commande 3"
    assert [model.interaction(r).summary for r in range(model.rowCount())] == ["Commande 3"]  # type: ignore[union-attr]
    assert "Michu-Bernard" in sync_window.windowTitle()
    strip.search.clear()
    strip.search.returnPressed.emit()
    assert sync_window.timeline_model.rowCount() == 2


@OFFSCREEN_ONLY
def test_a_failing_source_shows_its_error_and_the_others_still_sync(
    qtbot: QtBot, database: Database, tmp_path: Path, themed: None
) -> None:
    path = write_sources(tmp_path, extra=BROKEN)
    win = make_window(qtbot, database, sync_service(database, path))
    summary = _run_from_window(qtbot, win)

    assert set(summary.errors) == {"billing"}
    assert summary.total("inserted") == 7
    text = _bar_text(win)
    assert text.startswith("billing failed: billing/accounts: no file ")
    assert text.endswith("billing.csv · 2 other source(s) synced: 7 new, 1 quarantined")
    assert win.sync_bar is not None
    assert "billing.csv" in win.sync_bar.state.toolTip()

    with qtbot.waitSignal(_controller(win).status_changed):
        dialog = win.sync_bar.show_status()
    qtbot.addWidget(dialog)
    statuses = [dialog.model.status(r) for r in range(dialog.model.rowCount())]
    rows = {s.name: s for s in statuses if s is not None}
    assert list(rows) == ["crm", "loyalty", "billing"]
    assert rows["billing"].last_error is not None
    assert "no file" in rows["billing"].last_error
    assert rows["billing"].last_success_at is None
    assert rows["crm"].last_error is None
    assert rows["crm"].last_success_at is not None
    assert rows["crm"].quarantined == 1
    assert dialog.detail.text().startswith("billing: streams accounts. Last error: billing/")
    assert dialog.detail.text().endswith("billing.csv"), "the whole error, not clipped"
    win.close()


ROWS = 600


class HeldSync(SyncService):
    """The real sync service, whose worker waits after the first committed batch until the
    sync is cancelled: the window is certainly closed while a sync runs."""

    def run(
        self,
        names: Sequence[str] | None = None,
        *,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> SyncSummary:
        assert cancel is not None
        assert progress is not None

        def hold(report: SyncProgress) -> None:
            progress(report)
            if report.read > 0:
                assert cancel._event.wait(timeout=60), "the window did not cancel the sync"

        return super().run(names, progress=hold, cancel=cancel)


def test_closing_the_window_cancels_the_sync_between_batches(
    qtbot: QtBot, database: Database, tmp_path: Path, themed: None
) -> None:
    many = [f"C{i},Prénom,Nom{i},p{i}@example.org,01/01/1980\n" for i in range(1, ROWS + 1)]
    path = write_sources(tmp_path, crm_rows=many)
    ingest = IngestService(database, batch_size=5)
    held = HeldSync(database, SyncRunner(database, ingest, keyring_secrets()), path)
    win = make_window(qtbot, database, held)
    controller = _controller(win)
    assert win.sync_bar is not None
    finished: list[SyncSummary] = []
    controller.finished.connect(finished.append)
    with qtbot.waitSignal(
        controller.progress, timeout=30_000, check_params_cb=lambda p: p.read > 0
    ):  # a first batch is committed
        win.sync_bar.sync_action.trigger()

    win.close()  # cancels, then waits for the worker to stop

    assert not controller.running
    assert len(finished) == 1
    assert finished[0].cancelled
    assert _bar_text(win).startswith("Sync stopped after ")
    assert not controller.sync_now(), "no new sync once the window is closing"
    kept = _records(database)
    assert kept == 5, "one batch committed, then the worker stopped before the next"
    # What was committed stays; the next run goes on from there, without duplicates.
    rest = sync_service(database, path, batch_size=500).run()
    assert rest.ok
    assert rest.total("inserted") == ROWS - kept + 2 + 2  # the other crm rows, orders, loyalty
    assert _records(database) == ROWS + 2


def _records(database: Database) -> int:
    """Source records in the cache (customers may be fewer: matching links some)."""
    return int(cache_info(database)["tables"]["source_record"])


def test_scheduled_sources_run_when_due_and_on_demand_ones_wait(
    qtbot: QtBot, database: Database, tmp_path: Path, qapp: Any
) -> None:
    path = write_sources(tmp_path, crm_schedule='schedule = "15m"')
    # One clock for the runner and the controller, ahead of the cache's own timestamps.
    now = [datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)]
    ingest = IngestService(database, clock=lambda: now[0])
    service = SyncService(
        database, SyncRunner(database, ingest, keyring_secrets(), clock=lambda: now[0]), path
    )
    pool = QThreadPool()
    controller = SyncController(service, pool, clock=lambda: now[0], schedule=False)
    with qtbot.waitSignal(controller.finished, timeout=30_000) as done:
        controller.refresh_status(then_check_schedule=True)
    assert {p.source for p in done.args[0].passes} == {"crm"}, "loyalty has no schedule"

    with qtbot.waitSignal(controller.status_changed):
        controller.refresh_status()
    assert controller.next_runs() == {"crm": now[0] + timedelta(minutes=15), "loyalty": None}
    assert controller.check_schedule() == []

    now[0] += timedelta(minutes=16)
    with qtbot.waitSignal(controller.finished, timeout=30_000):
        assert controller.check_schedule() == ["crm"]
    controller.shutdown()
    pool.waitForDone()


def test_without_a_sources_file_the_action_says_how_to_configure_one(
    qtbot: QtBot, database: Database, tmp_path: Path, themed: None
) -> None:
    missing = tmp_path / "nowhere" / "sources.toml"
    win = make_window(qtbot, database, sync_service(database, missing))
    assert win.sync_bar is not None
    action = win.sync_bar.sync_action
    assert not action.isEnabled()
    assert str(missing) in action.toolTip()
    assert "--sources FILE" in action.toolTip()
    assert _bar_text(win) == "No sources configured"
    assert not _controller(win).sync_now()
    win.close()


def test_a_broken_sources_file_is_said_in_one_line(
    qtbot: QtBot, database: Database, tmp_path: Path, themed: None
) -> None:
    path = tmp_path / "sources.toml"
    path.write_text('[sources.crm]\ntype = "ftp"\n', "utf-8")
    win = make_window(qtbot, database, sync_service(database, path))
    controller = _controller(win)
    assert win.sync_bar is not None
    with qtbot.waitSignal(controller.failed, timeout=30_000) as failed:
        win.sync_bar.sync_action.trigger()
    assert "type is one of csv" in failed.args[0]
    assert _bar_text(win).startswith("Sync failed: ")
    assert "\n" not in _bar_text(win)
    win.close()


@OFFSCREEN_ONLY
def test_quarantine_view_lists_kept_records_through_a_model(
    qtbot: QtBot, qtmodeltester: Any, sync_window: MainWindow, database: Database
) -> None:
    _run_from_window(qtbot, sync_window)
    assert sync_window.sync_bar is not None
    controller = _controller(sync_window)
    with qtbot.waitSignal(controller.quarantine_loaded):
        dialog = sync_window.sync_bar.show_quarantine()
    qtbot.addWidget(dialog)
    model = dialog.model
    qtmodeltester.check(model)
    assert model.rowCount() == 1
    assert [model.index(0, c).data() for c in range(3)] == ["crm", "customer", "C3"]
    assert "31/02/1980" in model.index(0, 3).data()
    assert "31/02/1980" in model.index(0, 0).data(QuarantineModel.RAW_ROLE)
    assert "Zoé" in dialog.raw.toPlainText(), "the selected record's raw content is shown"

    empty = QuarantineModel()
    qtmodeltester.check(empty)
    sources = SourceStatusModel()
    overview = controller.overview
    assert overview is not None
    sources.set_sources(overview.sources, controller.next_runs())
    qtmodeltester.check(sources)
    assert sources.rowCount() == 2


ISO_BORN = "C5,Lucie,Bernard,lucie.bernard@example.org,1988-06-21\n"  # not %d/%m/%Y


@OFFSCREEN_ONLY
def test_map_again_ingests_what_the_fixed_mapping_reads_and_keeps_the_rest(
    qtbot: QtBot, database: Database, tmp_path: Path, themed: None
) -> None:
    path = write_sources(tmp_path, crm_rows=[*CRM_ROWS, ISO_BORN])
    win = make_window(qtbot, database, sync_service(database, path))
    controller = _controller(win)
    assert _run_from_window(qtbot, win).total("quarantined") == 2  # C3 and C5
    assert win.sync_bar is not None
    with qtbot.waitSignal(controller.quarantine_loaded):
        dialog = win.sync_bar.show_quarantine()
    qtbot.addWidget(dialog)
    assert dialog.model.rowCount() == 2
    assert dialog.map_again.isEnabled()
    assert dialog.outcome.isHidden()

    # The supervisor fixes the date format in the sources file (C3's date fits no format).
    path.write_text(path.read_text("utf-8").replace("%d/%m/%Y", "%Y-%m-%d"), "utf-8")
    with (
        qtbot.waitSignal(controller.reingested, timeout=30_000) as done,
        qtbot.waitSignal(controller.quarantine_loaded, timeout=30_000),
    ):
        dialog.map_again.click()
        assert controller.reingesting
        assert not dialog.map_again.isEnabled(), "one re-ingest at a time"
        assert not controller.sync_now(), "no sync beside it"
        assert win.sync_bar is not None
        assert not win.sync_bar.stop_action.isEnabled(), "a re-ingest cannot be stopped"
    report = done.args[0]
    assert (report.read, report.total("inserted"), report.total("quarantined")) == (2, 1, 1)
    assert dialog.outcome.text() == (
        "Mapped 2 record(s) again: 1 now in the cache, "
        "1 still kept aside (the reasons below are the current ones)"
    )
    assert [dialog.model.index(0, c).data() for c in range(3)] == ["crm", "customer", "C3"]
    assert "(expected %Y-%m-%d)" in dialog.model.index(0, 3).data(), "today's reason"
    # (The count is the list's, not a status read before the re-ingest: "1 oldest of 2" was.)
    assert dialog.summary.text() == "1 record(s) kept aside, with the reason."
    assert dialog.map_again.isEnabled()
    hits = SearchService(database).search("lucie bernard")
    assert [h.name for h in hits] == ["Lucie Bernard"]
    win.close()


@OFFSCREEN_ONLY
def test_map_again_with_a_broken_sources_file_says_why_in_one_line(
    qtbot: QtBot, sync_window: MainWindow, sources_path: Path
) -> None:
    _run_from_window(qtbot, sync_window)
    controller = _controller(sync_window)
    assert sync_window.sync_bar is not None
    with qtbot.waitSignal(controller.quarantine_loaded):
        dialog = sync_window.sync_bar.show_quarantine()
    qtbot.addWidget(dialog)
    sources_path.write_text("[sources.crm\ntype = 'csv'\n", "utf-8")
    with qtbot.waitSignal(controller.reingest_failed, timeout=30_000) as failed:
        dialog.map_again.click()
    message = failed.args[0]
    assert "\n" not in message
    assert str(sources_path) in message
    assert dialog.outcome.text() == f"The records were not mapped again: {message}"
    assert dialog.model.rowCount() == 1, "nothing left the quarantine"
    assert dialog.map_again.isEnabled()


def test_summary_lines(qapp: Any) -> None:
    summary = SyncSummary(errors={"crm": "connection refused\n  at host crm-db"})
    assert summary_text(summary) == "crm failed: connection refused at host crm-db"
    assert summary_text(SyncSummary(cancelled=True), 1200) == (
        "Sync stopped after 1\u00a0200 records; the next one goes on from there"
    )
    # A record corrected into someone else is said (it changes two cards).
    moved = SyncSummary(passes=[PassSummary("shop", "customers", read=3, updated=3, moved=1)])
    assert summary_text(moved) == "Synced 1 source(s): 3 updated, 1 moved to another customer"
