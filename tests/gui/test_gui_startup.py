"""Starting the window: unlocking with a passphrase, and resolving screen-pop requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from customer_card import app
from customer_card.ui import startup
from tests.conftest import DEMO_SEED, TEST_PASSPHRASE, DemoServices


def _open(path: Path, passphrase: str | None) -> app.Services:
    return app.open_services(path, passphrase=passphrase)


def test_a_locked_cache_asks_for_the_passphrase(
    demo_cache_file: Path, monkeypatch: pytest.MonkeyPatch, qapp: object
) -> None:
    answers = iter(["wrong guess", TEST_PASSPHRASE])
    prompts: list[str] = []

    def ask(message: str) -> str | None:
        prompts.append(message)
        return next(answers)

    monkeypatch.setattr(startup, "ask_passphrase", ask)
    services = startup._open(_open, demo_cache_file)
    assert services is not None
    services.close()
    assert len(prompts) == 2, "asked again after a wrong passphrase"
    assert "passphrase" in prompts[0].lower()
    assert prompts[1] != prompts[0], "the second prompt says the first one was wrong"


def test_cancelling_the_prompt_opens_nothing(
    demo_cache_file: Path, monkeypatch: pytest.MonkeyPatch, qapp: object
) -> None:
    monkeypatch.setattr(startup, "ask_passphrase", lambda message: None)
    assert startup._open(_open, demo_cache_file) is None


def test_screen_pop_by_phone_resolves_to_one_customer(demo_services: DemoServices) -> None:
    hit = demo_services.search.search("Jocelyne Michu", limit=1)[0]
    card = demo_services.cards.load(hit.customer_id)
    assert card is not None
    phone = next(c for c in card.contact_points if c.kind.value == "phone" and c.valid)
    request = startup.resolve_request(demo_services, {"action": "open", "phone": phone.value})
    assert request == {"customer_id": hit.customer_id}


def test_unknown_caller_is_said_with_the_number(demo_services: DemoServices) -> None:
    request = startup.resolve_request(demo_services, {"phone": "+33 1 99 00 00 00"})
    assert request == {"unknown": "+33 1 99 00 00 00", "key": "phone"}


def test_several_callers_on_one_number_give_a_short_list(demo_services: DemoServices) -> None:
    shared = _shared_phone(demo_services)
    request = startup.resolve_request(demo_services, {"phone": shared})
    assert request == {"search": shared}
    hits = demo_services.search.search(shared, limit=5)
    assert 2 <= len(hits) <= 5


def _shared_phone(demo_services: DemoServices) -> str:
    """A valid phone number (a family landline) that several customers share in the demo."""
    seen: dict[str, int] = {}
    for customer_id in range(1, 300):
        card = demo_services.cards.load(customer_id)
        if card is None or card.customer.id != customer_id:
            continue
        for point in card.contact_points:
            if point.kind.value == "phone" and point.valid:
                seen[point.normalised] = seen.get(point.normalised, 0) + 1
                if seen[point.normalised] == 2:
                    return point.normalised
    pytest.fail("the demo cache has no shared phone number")


def test_screen_pop_by_id(demo_services: DemoServices) -> None:
    assert startup.resolve_request(demo_services, {"id": "12"}) == {"customer_id": 12}
    assert startup.resolve_request(demo_services, {"id": "c1234abcd"}) == {"public_id": "c1234abcd"}


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        ((1366, 728), None),  # kiosk laptop (taskbar taken off): all of it
        ((1440, 870), None),
        ((1920, 1040), (1536, 884)),  # most of a large screen
        ((2560, 1400), (2048, 1190)),
        ((1600, 780), None),  # wide but short: still a small screen
    ],
)
def test_the_first_window_size_fits_the_screen(
    available: tuple[int, int], expected: tuple[int, int] | None
) -> None:
    assert startup.fitted_size(*available) == expected


def _notices() -> list[str]:
    from PySide6.QtWidgets import QApplication, QProgressDialog

    return [
        w.labelText()
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QProgressDialog) and w.isVisible()
    ]


def test_a_long_open_shows_that_it_is_working_and_a_quick_one_does_not(
    demo_cache_file: Path, qapp: object
) -> None:
    """Opening a cache brought up to date after an update can take long (45 s at a million
    customers): a notice says so meanwhile; an open at once shows nothing."""
    from PySide6.QtCore import QTimer

    seen: list[list[str]] = []

    def slow(path: Path, passphrase: str | None) -> app.Services:
        time.sleep(startup.BUSY_NOTICE_MS / 1000 + 0.8)
        return app.open_services(path, passphrase=TEST_PASSPHRASE)

    QTimer.singleShot(startup.BUSY_NOTICE_MS + 500, lambda: seen.append(_notices()))
    services = startup._open(slow, demo_cache_file)
    assert services is not None
    services.close()
    assert seen == [["Opening the customer cache…"]]
    assert _notices() == [], "gone once open"

    seen.clear()
    QTimer.singleShot(0, lambda: seen.append(_notices()))
    services = startup._open(
        lambda path, _: app.open_services(path, passphrase=TEST_PASSPHRASE), demo_cache_file
    )
    assert services is not None
    services.close()
    assert all(notices == [] for notices in seen)
    assert _notices() == []


def test_an_error_while_opening_in_the_background_comes_back_to_the_caller(
    tmp_path: Path, qapp: object
) -> None:
    from customer_card.store.errors import CacheError

    with pytest.raises(CacheError):
        startup._open(_open, tmp_path / "missing.db")


def test_a_first_start_builds_the_demo_behind_a_notice_then_opens_the_window(
    tmp_path: Path, qtbot: Any, themed: None
) -> None:
    """Nothing configured: the demo cache is built (seconds) behind a notice that counts the
    records, not before anything shows; then the window opens on it."""
    from PySide6.QtCore import QLocale, QTimer

    from customer_card.ui.instance import SingleInstance

    db_path = tmp_path / "demo.db"
    assert app.demo_unfinished(db_path)
    seen: list[list[str]] = []

    def build(progress: Callable[[int], None]) -> None:
        services, _ = app.ensure_demo(db_path, customers=40, seed=DEMO_SEED)
        services.close()
        progress(12345)
        time.sleep(startup.BUSY_NOTICE_MS / 1000 + 0.8)

    def watch() -> None:
        notices = _notices()
        if notices and notices not in seen:
            seen.append(notices)

    poll = QTimer()
    poll.timeout.connect(watch)
    poll.start(50)
    instance = SingleInstance(app.instance_key(db_path), tmp_path)
    assert instance.acquire()
    try:
        started = startup.start_window(
            db_path,
            None,
            lambda path, passphrase: app.open_services(path, passphrase=passphrase),
            instance,
            prepare=build,
        )
    finally:
        poll.stop()
        instance.release()
    assert started is not None
    window, services = started
    qtbot.addWidget(window)
    try:
        assert window.isVisible()
        assert "demo data" in window.windowTitle()
    finally:
        window.close()
        services.close()
    so_far = f"{QLocale().toString(12345)} records so far"
    preparing = "Preparing demo customers to look around (nothing is configured yet)…"
    # (The open that follows may show its own notice if it takes long: not this test's.)
    preparing_seen = [notices for notices in seen if notices[0].startswith(preparing)]
    assert preparing_seen[-1] == [f"{preparing}\n{so_far}"]
    assert not app.demo_unfinished(db_path)


def test_a_demo_build_that_fails_is_said_not_a_silent_exit(
    tmp_path: Path, qapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started from a desktop launcher there is no terminal: a failed build (a full disk) is
    shown, and nothing opens."""
    from customer_card.ui.instance import SingleInstance

    said: list[tuple[str, str]] = []
    monkeypatch.setattr(
        startup.QMessageBox, "critical", lambda _parent, title, text: said.append((title, text))
    )

    def build(progress: Callable[[int], None]) -> None:
        raise OSError(28, "No space left on device")

    instance = SingleInstance(app.instance_key(tmp_path / "demo.db"), tmp_path)
    assert instance.acquire()
    try:
        started = startup.start_window(tmp_path / "demo.db", None, _open, instance, prepare=build)
    finally:
        instance.release()
        qapp.setStyleSheet("")
    assert started is None
    assert said == [
        (
            "Cannot prepare the demo customers",
            "The demo customers could not be written: No space left on device. The next start tries"
            " again.",
        )
    ]
