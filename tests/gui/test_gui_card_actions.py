"""Acting on the card in the real window: a note (Ctrl+N), a call's outcome, a corrected phone.

Each is saved with the advisor's name, shown at once in the timeline and queued in the outbox.
Dialogs are filled and accepted the way a user does, through ``try_accept`` (no ``exec``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from customer_card.domain.model import ContactKind, ContactPoint, CustomerCard
from customer_card.services.actions import ActionError, CallOutcome
from customer_card.store.actions_store import ActionsStore
from customer_card.ui import dialogs
from customer_card.ui.dialogs import CallDialog, CorrectContactDialog, Correction, NoteDialog
from customer_card.ui.main_window import MainWindow
from tests.gui.conftest import ADVISOR, Writable


def _outbox(writable: Writable, customer_id: int) -> list[tuple[str | None, str, dict[str, Any]]]:
    with writable.database.read() as session:
        return ActionsStore(session).pending_outbox(customer_id)


def _open(qtbot: Any, window: MainWindow, customer_id: int) -> CustomerCard:
    """Open a card and wait for what follows it (related customers, kinds in the history)."""
    with qtbot.waitSignals([window.card_shown, window.cards.related_shown], timeout=5000):
        window.cards.open(customer_id)
    card = window.card_view.card
    assert card is not None
    return card


def _saved_and_reloaded(qtbot: Any, window: MainWindow, trigger: Callable[[], None]) -> str:
    with (
        qtbot.waitSignal(window.card_shown, timeout=5000),
        qtbot.waitSignal(window.action_saved, timeout=5000) as saved,
    ):
        trigger()
    return str(saved.args[1])


def _jocelyne(writable: Writable) -> int:
    return writable.search.search("Jocelyne Michu", limit=1)[0].customer_id


def test_ctrl_n_adds_a_note_shown_first_in_the_timeline(
    qtbot: Any, acting_window: MainWindow, writable: Writable, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = _jocelyne(writable)
    before = _open(qtbot, acting_window, customer_id)

    def ask(parent: QWidget | None, customer_name: str) -> str | None:
        dialog = NoteDialog(customer_name, parent)
        assert not dialog.try_accept(), "an empty note is refused"
        assert not dialog.error.isHidden()
        dialog.text.setPlainText("Wants the parcel delivered to the Lyon store\nCall back Friday")
        assert dialog.try_accept()
        return dialog.value()

    monkeypatch.setattr(NoteDialog, "ask", ask)
    table = acting_window.card_view.timeline.table
    table.setFocus()
    message = _saved_and_reloaded(
        qtbot,
        acting_window,
        lambda: qtbot.keyClick(table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier),
    )
    assert "Note saved" in message
    after = acting_window.card_view.card
    assert after is not None
    assert after.interaction_count == before.interaction_count + 1
    first = acting_window.timeline_model.interaction(0)
    assert first is not None
    assert (first.channel, first.kind, first.author) == ("note", "note", ADVISOR)
    assert first.summary == "Wants the parcel delivered to the Lyon store"
    assert "Call back Friday" in (first.details or "")
    detail = acting_window.card_view.timeline.detail
    assert detail.title_label.text() == first.summary
    assert [(t, a) for t, a, _ in _outbox(writable, customer_id)] == [("crm", "note")]
    assert _outbox(writable, customer_id)[0][2]["author"] == ADVISOR


def test_cancelled_note_saves_nothing(
    qtbot: Any, acting_window: MainWindow, writable: Writable, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = _jocelyne(writable)
    _open(qtbot, acting_window, customer_id)
    monkeypatch.setattr(NoteDialog, "ask", lambda parent, name: None)
    acting_window.card_actions.add_note()
    assert not acting_window.card_actions.busy
    assert _outbox(writable, customer_id) == []


def test_log_call_with_follow_up(
    qtbot: Any, acting_window: MainWindow, writable: Writable, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = _jocelyne(writable)
    before = _open(qtbot, acting_window, customer_id)
    follow_up = date.today() + timedelta(days=3)

    def ask(parent: QWidget | None, customer_name: str, today: date) -> CallOutcome | None:
        dialog = CallDialog(customer_name, today, parent)
        dialog.reason.setCurrentIndex(dialog.reason.findData("delivery"))
        dialog.result_box.setCurrentIndex(dialog.result_box.findData("follow_up"))
        assert dialog.follow_up_check.isChecked(), "a follow-up result asks for a date"
        dialog.follow_up.setDate(follow_up)
        dialog.comment.setPlainText("Parcel stuck at the depot")
        assert dialog.try_accept()
        return dialog.value()

    monkeypatch.setattr(CallDialog, "ask", ask)
    _saved_and_reloaded(qtbot, acting_window, acting_window.card_actions.log_call)
    after = acting_window.card_view.card
    assert after is not None
    assert after.open_interactions == before.open_interactions + 1, "a follow-up stays open"
    call = acting_window.timeline_model.interaction(0)
    assert call is not None
    assert (call.channel, call.kind, call.status, call.author) == ("phone", "call", "open", ADVISOR)
    assert follow_up.isoformat() in call.summary
    assert "Parcel stuck at the depot" in (call.details or "")
    assert call.summary in [i.summary for i in after.open_items]
    (target, action, payload), *_ = _outbox(writable, customer_id)
    assert (target, action) == ("crm", "call_outcome")
    assert payload["follow_up"] == follow_up.isoformat()
    assert payload["reason"] == "delivery"


def _phone(card: CustomerCard) -> ContactPoint:
    return next(p for p in card.contact_points if p.kind == ContactKind.PHONE and p.valid)


def test_correct_a_phone_with_a_valid_number(
    qtbot: Any, acting_window: MainWindow, writable: Writable, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = _jocelyne(writable)
    card = _open(qtbot, acting_window, customer_id)
    old = _phone(card)

    def ask(parent: QWidget | None, customer_name: str, point: ContactPoint) -> Correction | None:
        dialog = CorrectContactDialog(customer_name, point, parent=parent)
        dialog.new.clear()
        qtbot.keyClicks(dialog.new, "06 98 76 54 32")
        assert dialog.hint.text() == "✓ +33 6 98 76 54 32"
        assert dialog.try_accept()
        return dialog.value()

    monkeypatch.setattr(CorrectContactDialog, "ask", ask)
    edit = next(
        b
        for b in acting_window.card_view.contacts.findChildren(QWidget, "CorrectButton")
        if b.property("contact_value") == old.value
    )
    _saved_and_reloaded(
        qtbot, acting_window, lambda: qtbot.mouseClick(edit, Qt.MouseButton.LeftButton)
    )
    after = acting_window.card_view.card
    assert after is not None
    phones = [p for p in after.contact_points if p.kind == ContactKind.PHONE]
    new = phones[0]
    assert (new.normalised, new.primary, new.provenance[0].source) == (
        "+33698765432",
        True,
        "local",
    )
    assert new.provenance[0].source_id == ADVISOR
    replaced = next(p for p in phones if p.normalised == old.normalised)
    assert replaced.corrected_to == "+33 6 98 76 54 32"
    assert not replaced.primary
    first = acting_window.timeline_model.interaction(0)
    assert first is not None
    assert first.kind == "correction"
    assert first.author == ADVISOR
    outbox = _outbox(writable, customer_id)
    assert {a for _, a, _ in outbox} == {"contact_correction"}
    holders = {p.source for p in old.provenance}
    assert {t for t, _, _ in outbox} == holders, "sent to every system holding the old number"


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("06 12", "not a valid phone number"),
        ("call me maybe", "not a phone number"),
        ("", "Type the new value"),
    ],
)
def test_correct_a_phone_with_an_invalid_number_saves_nothing(
    qtbot: Any,
    acting_window: MainWindow,
    writable: Writable,
    monkeypatch: pytest.MonkeyPatch,
    typed: str,
    why: str,
) -> None:
    customer_id = _jocelyne(writable)
    card = _open(qtbot, acting_window, customer_id)
    old = _phone(card)
    refused: list[str] = []

    def ask(parent: QWidget | None, customer_name: str, point: ContactPoint) -> Correction | None:
        dialog = CorrectContactDialog(customer_name, point, parent=parent)
        dialog.new.clear()
        qtbot.keyClicks(dialog.new, typed)
        assert not dialog.try_accept()
        assert not dialog.error.isHidden()
        refused.append(dialog.error.text())
        return None  # the advisor gives up

    monkeypatch.setattr(CorrectContactDialog, "ask", ask)
    acting_window.card_actions.correct_contact(old)
    assert len(refused) == 1
    assert why in refused[0]
    assert _outbox(writable, customer_id) == []
    assert writable.cards.load(customer_id) == card


def test_a_correction_the_service_refuses_is_reported_and_nothing_saved(
    qtbot: Any, acting_window: MainWindow, writable: Writable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: input that skipped the dialog's check is refused by the service."""
    customer_id = _jocelyne(writable)
    card = _open(qtbot, acting_window, customer_id)
    old = _phone(card)
    monkeypatch.setattr(
        dialogs.CorrectContactDialog,
        "ask",
        lambda parent, name, point: Correction(ContactKind.PHONE, point.value, "06 12"),
    )
    with qtbot.waitSignal(acting_window.action_failed, timeout=5000) as failed:
        acting_window.card_actions.correct_contact(old)
    assert "not a valid phone number" in failed.args[0]
    assert "Nothing saved" in acting_window.statusBar().currentMessage()
    assert _outbox(writable, customer_id) == []


def test_correct_an_email_and_reject_a_bad_one(writable: Writable) -> None:
    customer_id = _jocelyne(writable)
    card = writable.cards.load(customer_id)
    assert card is not None
    email = next(p for p in card.contact_points if p.kind == ContactKind.EMAIL)
    with pytest.raises(ActionError, match="not a valid e-mail"):
        writable.actions.correct_contact(
            customer_id, ContactKind.EMAIL, email.value, "jocelyne@", "a"
        )
    with pytest.raises(ActionError, match="same as the old"):
        writable.actions.correct_contact(
            customer_id, ContactKind.EMAIL, email.value, email.value.upper(), "a"
        )
    valid = writable.actions.correct_contact(
        customer_id, ContactKind.EMAIL, email.value, " Jocelyne.Michu@Free.fr ", "a"
    )
    assert valid.normalised == "jocelyne.michu@free.fr"
    after = writable.cards.load(customer_id)
    assert after is not None
    assert after.contact_points[0].normalised == "jocelyne.michu@free.fr"


def test_actions_refuse_bad_input(writable: Writable) -> None:
    customer_id = _jocelyne(writable)
    with pytest.raises(ActionError, match="empty"):
        writable.actions.add_note(customer_id, "   ", "a")
    with pytest.raises(ActionError, match="author"):
        writable.actions.add_note(customer_id, "hello", " ")
    with pytest.raises(ActionError, match="no longer in the cache"):
        writable.actions.add_note(10_000_000, "hello", "a")
    with pytest.raises(ActionError, match="past"):
        writable.actions.log_call(
            customer_id, CallOutcome("order", "resolved", date(2000, 1, 1)), "a"
        )
    with pytest.raises(ActionError, match="reason"):
        writable.actions.log_call(customer_id, CallOutcome("weather", "resolved"), "a")
    assert _outbox(writable, customer_id) == []


def test_read_only_window_offers_no_actions(qtbot: Any, window: MainWindow, rich_card: Any) -> None:
    window.show_customer(rich_card.customer.id)
    assert not window.card_view.timeline.strip.note_button.isVisible()
    assert window.card_view.contacts.findChildren(QWidget, "CorrectButton") == []
